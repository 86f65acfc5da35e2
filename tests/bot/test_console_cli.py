"""`pacsbot console` at the command line: --fresh, and Ctrl-C without a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pacsbot.bot.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The built-in defaults, as `python3 dev.py run` uses them, with the data folder in tmp_path."""
    for name in ("PACSBOT_CONFIG", "SLACK_BOT_TOKEN", "PACSBOT_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PACSBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "data"


def filed(capsys: pytest.CaptureFixture[str], problem: str, *args: str) -> str:
    assert main(["console", *args, "--as", "tom.tech", "--say", f"/pacs report {problem}"]) == 0
    out = capsys.readouterr().out
    assert "Filed *PACS-" in out, out
    return out[out.index("Filed *PACS-"):].split("*")[1]


def test_the_database_is_kept_between_runs_and_fresh_starts_empty(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # different problems, so that none joins another
    assert filed(capsys, "CT images not in PACS, acc A1002, CT2 urgent") == "PACS-1"
    assert filed(capsys, "the MR1 worklist is empty") == "PACS-2"  # the README's "Filed PACS-1" is the first run's
    assert filed(capsys, "I cannot log in at the front desk", "--fresh") == "PACS-1"
    assert filed(capsys, "the viewer freezes in reading room 3") == "PACS-3"  # the kept database was left as it was


@pytest.mark.skipif(os.name != "posix", reason="sends SIGINT to a process group")
@pytest.mark.slow
def test_ctrl_c_leaves_the_console_quietly_with_130(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PACSBOT_CONFIG", "SLACK_BOT_TOKEN")}
    env["PACSBOT_DATA_DIR"] = str(tmp_path / "data")
    # as from a terminal: Ctrl-C not ignored (a test run started in the background, as CI's is,
    # hands its children SIGINT ignored, and Python then never raises KeyboardInterrupt)
    child = subprocess.Popen([sys.executable, "-m", "pacsbot.bot", "console"], cwd=ROOT, env=env, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert child.stdout is not None
    os.set_blocking(child.stdout.fileno(), False)
    seen, deadline = b"", time.monotonic() + 120
    while b"]> " not in seen and time.monotonic() < deadline and child.poll() is None:
        seen += child.stdout.read() or b""
        time.sleep(0.1)
    assert b"]> " in seen, seen
    os.killpg(child.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130
    assert b"Traceback" not in err and err.strip() == b"", err


def test_two_consoles_never_send_the_same_trigger_id() -> None:
    """The bot files a command once per trigger id (Slack's retries repeat it), so two console
    runs started within the same second must not repeat one (they did: a counter and the second)."""
    from pacsbot.bot.simulate import Simulator

    first, second = Simulator("secret"), Simulator("secret")
    assert first.trigger_id() != second.trigger_id()
