"""``pacsbot echo`` and ``pacsbot locate`` at a terminal: output, --json, exit status, audit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pacsbot.bot.audit import Audit
from pacsbot.bot.cli import main
from pacsbot.bot.storage import Database
from pacsbot.commands.demo import DemoNetwork
from tests.dicom_support import closed_port, demo_network, node_dicts  # noqa: F401 - fixture


def config(tmp_path: Path, db_url: str, dicom: dict[str, Any]) -> str:
    path = tmp_path / "pacsbot.yml"
    path.write_text(json.dumps({"database": {"url": db_url}, "dicom": dicom}))
    return str(path)


@pytest.fixture
def cfg(tmp_path: Path, db_url: str, demo_network: DemoNetwork) -> str:  # noqa: F811
    return config(tmp_path, db_url, {"nodes": node_dicts(demo_network)})


def audit_of(db_url: str) -> list[Any]:
    db = Database(db_url)
    try:
        return [r for r in Audit(db).query() if r.action.startswith("dicom.")]
    finally:
        db.dispose()


def test_echo(cfg: str, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", cfg, "echo", "all"]) == 0
    out = capsys.readouterr()
    assert "Checking vna, pacs…" in out.err
    lines = out.out.splitlines()
    assert lines[0].startswith("vna   DEMO_VNA@127.0.0.1:") and "ok in" in lines[0]
    assert lines[-1] == "2 of 2 nodes answered (C-ECHO from PACSBOT)."
    rows = audit_of(db_url)
    assert [(r.action, r.target, r.outcome) for r in rows] == [("dicom.echo", "node:vna", "ok"), ("dicom.echo", "node:pacs", "ok")]
    assert rows[0].actor.startswith("cli:") and rows[0].details["via"] == "cli"


def test_echo_all_with_the_demo_checks_the_demo_worklist_too_as_in_slack(tmp_path: Path, db_url: str,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    cfg = config(tmp_path, db_url, {"demo": True})
    assert main(["--config", cfg, "echo", "all", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(r["node"]["name"], r["ok"]) for r in data["results"]] == [("vna", True), ("pacs", True), ("ris", True)]
    assert main(["--config", cfg, "locate", "A1001", "--json"]) == 0  # a locate still asks the archives only
    assert [n["node"]["name"] for n in json.loads(capsys.readouterr().out)["nodes"]] == ["vna", "pacs"]


def test_echo_exit_1_when_a_node_does_not_answer(tmp_path: Path, db_url: str, demo_network: DemoNetwork,  # noqa: F811
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    port = closed_port()
    dead = {"name": "dead", "ae_title": "DEAD", "host": "127.0.0.1", "port": port}
    cfg = config(tmp_path, db_url, {"nodes": [*node_dicts(demo_network), dead]})
    assert main(["--config", cfg, "echo", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert [r["ok"] for r in data["results"]] == [True, True, False]
    assert data["results"][2]["failure"]["message"] == f"connection refused by 127.0.0.1:{port}"
    assert main(["--config", cfg, "echo", "vna"]) == 0


def test_not_found_tip_names_the_command_line_command(cfg: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", cfg, "locate", "A9999"]) == 0
    out = capsys.readouterr().out
    assert "To search by patient instead: pacsbot locate --patient <id> --date YYYYMMDD." in out


def test_locate_text_and_json(cfg: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", cfg, "locate", "A1002"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "A1002: on vna with 412 images, on pacs with 300 — 112 missing on pacs"
    assert "!! Missing on pacs: series 3 (CT CORONAL MPR, 112 images)." in out
    assert "BRAVO" not in out and "DEMO-0002" not in out  # no PHI unless asked for
    assert main(["--config", cfg, "locate", "A1004", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["verdict"]["severity"] == "bad" and "possibly mis-identified" in data["verdict"]["headline"]
    assert "patient_id" not in json.dumps(data) and "DEMO^" not in json.dumps(data)
    # how long it took, for the whole locate and per node (the nodes are asked in parallel)
    per_node = [n["took_ms"] for n in data["nodes"]]
    assert len(per_node) >= 2 and all(isinstance(ms, int) and ms >= 0 for ms in per_node)
    assert data["took_ms"] >= max(per_node) - 1


def test_locate_by_patient_with_phi_on_request(cfg: str, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", cfg, "locate", "--patient", "DEMO-0002", "--date", "20260105", "--show-phi"]) == 0
    out = capsys.readouterr().out
    assert "Patient: DEMO^BRAVO" in out and "ID DEMO-0002" in out
    details = json.dumps([r.details for r in audit_of(db_url)])
    assert "DEMO-0002" not in details and "pid:" in details and '"phi_shown": true' in details


def test_pseudonym_lets_an_auditor_find_lookups(cfg: str, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", cfg, "locate", "--patient", "DEMO-0002", "--node", "vna"]) == 0
    capsys.readouterr()
    assert main(["--config", cfg, "locate", "--patient", "DEMO-0002", "--pseudonym"]) == 0
    value = capsys.readouterr().out.strip()
    lookups = [r for r in audit_of(db_url) if r.action == "dicom.locate"]
    assert value.startswith("pid:") and lookups[0].details["query"]["pid_pseudonym"] == value
    assert [r.action for r in audit_of(db_url)][-1] == "dicom.pseudonym"


@pytest.mark.parametrize("args, message", [
    (["locate", "A1*"], "Wildcards (* and ?) are not allowed"),
    (["locate"], "What should I look for? Usage: `pacsbot locate ACCESSION | --patient ID"),
    (["locate", "A1", "--patient", "P1"], "not both"),
    (["locate", "A1", "--node", "ct9"], "There is no node called “ct9”. Configured nodes: vna, pacs. Example: `pacsbot locate vna`."),
    (["locate", "A1", "--pseudonym"], "--pseudonym goes with --patient ID"),
])
def test_refused_input_exits_2_and_is_audited(cfg: str, db_url: str, args: list[str], message: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", cfg, *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert [r.outcome for r in audit_of(db_url)] == ["refused"]


def test_show_phi_refused_when_switched_off(tmp_path: Path, db_url: str, demo_network: DemoNetwork,  # noqa: F811
                                            capsys: pytest.CaptureFixture[str]) -> None:
    cfg = config(tmp_path, db_url, {"nodes": node_dicts(demo_network), "show_phi": "never"})
    assert main(["--config", cfg, "locate", "A1002", "--show-phi"]) == 2
    assert "dicom.show_phi: never" in capsys.readouterr().err


def test_no_nodes_configured(tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = config(tmp_path, db_url, {})
    assert main(["--config", cfg, "echo", "all"]) == 2
    assert "No DICOM nodes are configured yet" in capsys.readouterr().err


def test_demo_true_brings_the_demo_nodes(tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = config(tmp_path, db_url, {"demo": True})
    assert main(["--config", cfg, "locate", "A1003"]) == 0
    assert capsys.readouterr().out.startswith("A1003: on vna with 83 images — not on pacs")
