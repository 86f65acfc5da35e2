"""What ``pacsbot echo|locate`` imports, and when: a command line call pays for every import
(issue 15), so the heavy ones wait until a path needs them, and nothing changes for the user."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pacsbot.bot.cli import main
from pacsbot.bot.cli.dicom import _demo_wanted
from pacsbot.commands.config import DicomSettings
from pacsbot.commands.demo import demo_wanted

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("pynetdicom", "pydicom", "numpy", "sqlalchemy", "pydantic", "pacsbot.commands.demo", "pacsbot.commands.service")


def loaded_after(code: str) -> list[str]:
    """The HEAVY modules a fresh interpreter has loaded after running ``code``."""
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout.splitlines()[-1]))


def test_the_command_line_and_its_help_load_no_heavy_module() -> None:
    assert loaded_after("import pacsbot.bot.cli, pacsbot.bot.cli.dicom") == []
    help_run = "import contextlib, io\nfrom pacsbot.bot.cli import main\n" \
               "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n" \
               "    main(['locate', '--help'])"
    assert loaded_after(help_run) == []


@pytest.mark.parametrize("demo", ["auto", "true", "false"])
@pytest.mark.parametrize("nodes", [[], [{"name": "ct1", "ae_title": "CT1", "host": "127.0.0.1", "port": 104}]])
def test_the_demo_rule_is_the_demo_modules_own(demo: str, nodes: list[dict[str, object]]) -> None:
    settings = DicomSettings.model_validate({"demo": demo, "nodes": nodes})
    assert _demo_wanted(settings) == demo_wanted(settings, interactive=False)


def test_configuration_and_database_errors_keep_their_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("dicom:\n  nodes: 7\n")
    assert main(["--config", str(bad), "locate", "A1001"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pacsbot: Configuration error") and "Traceback" not in err
    down = tmp_path / "down.yml"
    down.write_text("database:\n  url: postgresql://pacsbot@127.0.0.1:1/pacsbot\n")
    assert main(["--config", str(down), "locate", "A1001"]) == 1
    err = capsys.readouterr().err
    assert "cannot reach the database at postgresql+psycopg://pacsbot@127.0.0.1:1/pacsbot" in err
    assert "Check database.url" in err and "Traceback" not in err
