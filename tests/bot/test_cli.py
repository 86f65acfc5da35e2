"""The command line: help for everything, clear errors with the right exit status."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from pacsbot.bot.audit import Audit
from pacsbot.bot.cli import build_parser, main
from pacsbot.bot.storage import Database


def config(tmp_path: Path, db_url: str, extra: str = "") -> str:
    path = tmp_path / "pacsbot.yml"
    path.write_text(f"database:\n  url: {db_url}\n{extra}")
    return str(path)


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert {"serve", "console", "db", "audit"} <= set(commands)
    for name in commands:
        with pytest.raises(SystemExit) as info:
            main([name, "--help"])
        assert info.value.code == 0
        assert "usage: pacsbot " + name in capsys.readouterr().out


def test_the_command_table_matches_what_the_modules_add() -> None:
    import argparse
    import importlib

    from pacsbot.bot.cli import COMMANDS, SUBCOMMANDS, command_word

    added = {}
    for module in SUBCOMMANDS:
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(module).add_parser(sub)
        added.update({name: module for name in sub.choices})
    assert added == COMMANDS
    assert command_word(["--config", "kb.yml", "kb", "search", "x"]) == "kb" and command_word(["--help"]) is None
    # a known command loads its own module only; an unknown one still gets the full usage
    only = build_parser(["kb", "search"])._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert set(only) == {"kb"}
    every = build_parser(["nonsense"])._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert set(every) == set(COMMANDS)


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "serve" in capsys.readouterr().out


def test_db_upgrade_current_check(tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = config(tmp_path, db_url)
    assert main(["--config", cfg, "db", "check"]) == 1
    assert "pending" in capsys.readouterr().out
    assert main(["--config", cfg, "db", "upgrade"]) == 0
    assert "is up to date" in capsys.readouterr().out
    assert main(["db", "check", "--config", cfg]) == 0
    assert main(["--config", cfg, "db", "current"]) == 0
    assert re.search(r"at: .*bot_\d{4}", capsys.readouterr().out)  # the bot branch's current head


def test_audit_csv_and_filters(tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = config(tmp_path, db_url)
    assert main(["--config", cfg, "db", "upgrade"]) == 0
    db = Database(db_url)
    Audit(db).record("U0ADMIN01", "dicom.echo", target="node:pacs")
    Audit(db).record("U0RAD0001", "access.denied", target="command:audit", outcome="denied")
    capsys.readouterr()
    assert main(["--config", cfg, "audit", "--csv", "--user", "U0RAD0001"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "id,at,actor,action,target,outcome,details"
    assert len(out) == 2 and "access.denied" in out[1]
    assert main(["--config", cfg, "audit", "--action", "audit"]) == 0
    assert "audit.export" in capsys.readouterr().out  # reading the log is itself audited
    db.dispose()


def test_audit_bad_date_is_a_clear_error(tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", config(tmp_path, db_url), "audit", "--since", "last tuesday"]) == 2
    assert "is not a date" in capsys.readouterr().err


def test_serve_without_tokens_explains(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
        monkeypatch.delenv(name, raising=False)
    assert main(["--config", config(tmp_path, f"sqlite:///{tmp_path}/x.db"), "serve"]) == 2
    err = capsys.readouterr().err
    assert "SLACK_BOT_TOKEN is not set" in err and "pacsbot console" in err


def test_serve_with_unreachable_database_exits_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "secret")
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    cfg = config(tmp_path, "postgresql://pacsbot@127.0.0.1:1/pacsbot")
    assert main(["--config", cfg, "serve"]) == 1
    err = capsys.readouterr().err
    assert "cannot reach the database at postgresql+psycopg://pacsbot@127.0.0.1:1/pacsbot" in err
    assert "Traceback" not in err


def test_console_script_runs_as_a_process(tmp_path: Path) -> None:
    cfg = config(tmp_path, f"sqlite:///{tmp_path}/console.db")
    result = subprocess.run(
        [sys.executable, "-m", "pacsbot.bot", "--config", cfg, "console", "--as", "dr.rhea", "--say", "/pacs help", "--say", "/pacs whoami"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "signed in as a *clinician*" in result.stdout
    assert "Traceback" not in result.stderr


def test_outbox_list_shows_what_gave_up_and_retry_queues_it_again(tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    import json
    from datetime import datetime, timedelta, timezone

    from pacsbot.bot.models import OutboxMessage
    from pacsbot.bot.storage import upgrade

    db = Database(db_url)
    upgrade(db)
    now = datetime.now(timezone.utc)
    with db.session() as s:
        s.add(OutboxMessage(key="k1", origin="tickets", method="chat.postMessage", payload={"channel": "U0TECH001", "text": "patient ZZTEST"},
                            status="failed", attempts=8, created_at=now, next_attempt_at=now + timedelta(hours=1),
                            last_error="account_inactive"))
        s.add(OutboxMessage(key="k2", origin="training", method="chat.postMessage", payload={"channel": "U0RAD0001", "text": "hi"},
                            status="sent", attempts=1, created_at=now, next_attempt_at=now, sent_at=now))
    db.dispose()
    cfg = config(tmp_path, db_url)
    assert main(["--config", cfg, "outbox", "list", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["id"].split(":")[0], r["status"], r["last_error"]) for r in rows] == [("slack", "failed", "account_inactive")]
    assert "ZZTEST" not in json.dumps(rows)  # never the message text
    assert main(["--config", cfg, "outbox", "retry"]) == 0
    assert "Queued again: 1 Slack message(s), 0 webhook(s)" in capsys.readouterr().out
    assert main(["--config", cfg, "outbox", "list", "--failed"]) == 0
    assert "Nothing is waiting" in capsys.readouterr().out
    assert main(["--config", cfg, "outbox", "retry", "nonsense"]) == 2
    db = Database(db_url)
    assert [r.action for r in Audit(db).query(action="outbox")] == ["outbox.retry"]
    db.dispose()
