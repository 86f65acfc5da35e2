"""dev.py: switching between `run` and `test` installs nothing again; Ctrl-C exits with 130."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def dev(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, list[list[str]]]:
    """dev.py with a pretend environment in tmp_path; pip is not run, only recorded."""
    spec = importlib.util.spec_from_file_location("dev_under_test", ROOT / "dev.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    venv = tmp_path / "venv"
    python = module.venv_python(venv)
    python.parent.mkdir(parents=True)
    python.write_text("")  # exists: no venv is created
    monkeypatch.setenv("PACSBOT_VENV", str(venv))
    calls: list[list[str]] = []
    monkeypatch.setattr(module.subprocess, "run", lambda command, **kw: calls.append([str(c) for c in command]))
    return module, calls


def installs(calls: list[list[str]]) -> list[str]:
    return [c[c.index("--editable") + 1] for c in calls if "--editable" in c]


def test_switching_between_run_and_test_installs_once(dev: tuple[ModuleType, list[list[str]]]) -> None:
    module, calls = dev
    module.ensure_env("")
    assert installs(calls) == [str(ROOT)]
    module.ensure_env("test")
    assert installs(calls) == [str(ROOT), f"{ROOT}[test]"]
    calls.clear()
    for extras in ("", "test", "", "test"):  # run, test, run, test: nothing more to install
        module.ensure_env(extras)
    assert calls == []


def test_run_after_test_installs_nothing_and_the_model_comes_with_test(dev: tuple[ModuleType, list[list[str]]]) -> None:
    module, calls = dev
    module.ensure_env("test")
    assert any(module.SEMANTIC_MODEL in c and "--no-deps" in c for c in calls)
    calls.clear()
    module.ensure_env("")
    assert calls == []


def test_a_changed_pyproject_reinstalls_what_was_there(dev: tuple[ModuleType, list[list[str]]], monkeypatch: pytest.MonkeyPatch) -> None:
    module, calls = dev
    module.ensure_env("test")
    calls.clear()
    monkeypatch.setattr(module, "env_digest", lambda: "changed")
    module.ensure_env("")  # `run` after a pull: reinstall, and keep the test tools
    assert installs(calls) == [f"{ROOT}[test]"]


def test_a_stamp_from_before_is_understood(dev: tuple[ModuleType, list[list[str]]], tmp_path: Path) -> None:
    module, calls = dev
    old = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + b"test" + module.SEMANTIC_MODEL.encode()).hexdigest()
    (tmp_path / "venv" / module.STAMP).write_text(old)
    module.ensure_env("")
    module.ensure_env("test")
    assert calls == []
    (tmp_path / "venv" / module.STAMP).write_text("garbage")
    module.ensure_env("")
    assert installs(calls) == [str(ROOT)]
    assert json.loads((tmp_path / "venv" / module.STAMP).read_text()) == {"digest": module.env_digest(), "extras": []}


class FakeChild:
    """A child process that gets the same Ctrl-C: wait() is interrupted ``interrupts`` times."""

    def __init__(self, interrupts: int, status: int) -> None:
        self.interrupts, self.status, self.signals = interrupts, status, []

    def wait(self) -> int:
        if self.interrupts:
            self.interrupts -= 1
            raise KeyboardInterrupt
        return self.status

    def terminate(self) -> None:
        self.signals.append("terminate")

    def kill(self) -> None:
        self.signals.append("kill")


@pytest.mark.parametrize("interrupts, status, signals", [(0, 3, []), (1, 130, []), (1, -2, []), (2, -15, ["terminate"]),
                                                         (3, -9, ["terminate", "kill"])])
def test_ctrl_c_waits_for_the_child_and_exits_130(dev: tuple[ModuleType, list[list[str]]], monkeypatch: pytest.MonkeyPatch,
                                                  interrupts: int, status: int, signals: list[str]) -> None:
    module, _ = dev
    child = FakeChild(interrupts, status)
    monkeypatch.setattr(module.subprocess, "Popen", lambda command, **kw: child)
    assert module.run_child(["anything"]) == (130 if interrupts else status)
    assert child.signals == signals


def test_ctrl_c_while_setting_up_prints_no_traceback(tmp_path: Path) -> None:
    # dev.py run, interrupted while it installs: simulated by a sitecustomize that interrupts at once
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import venv\n"
        "def interrupted(*a: object, **k: object) -> None:\n"
        "    raise KeyboardInterrupt\n"
        "venv.EnvBuilder.create = interrupted\n")
    env: dict[str, Any] = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(hook), "PACSBOT_VENV": str(tmp_path / "new-venv")}
    result = subprocess.run([sys.executable, str(ROOT / "dev.py"), "run"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 130
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("preset", [None, "/srv/elsewhere"])
def test_run_keeps_the_checkouts_data_in_pacsbot_data_unless_told_otherwise(
        dev: tuple[ModuleType, list[list[str]]], monkeypatch: pytest.MonkeyPatch, preset: str | None) -> None:
    module, _ = dev
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    if preset is None:
        monkeypatch.delenv("PACSBOT_DATA_DIR", raising=False)
    else:
        monkeypatch.setenv("PACSBOT_DATA_DIR", preset)
    started: list[dict[str, Any]] = []
    monkeypatch.setattr(module, "run_child", lambda command, env=None: started.append({"command": command, "env": env}) or 0)
    assert module.main(["run"]) == 0
    assert started[0]["command"][-1] == "console"
    assert started[0]["env"]["PACSBOT_DATA_DIR"] == (preset or str(ROOT / "pacsbot-data"))
