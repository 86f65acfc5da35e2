"""``pacsbot hl7 decode FILE|-`` at a terminal: text and JSON, masking, exit status, audit."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from pacsbot.bot.audit import Audit
from pacsbot.bot.cli import main
from pacsbot.bot.storage import Database

CORPUS = Path(__file__).parent / "hl7_corpus"
PHI = ("ZZTEST", "4455667", "19700101", "ZZDOC", "claustrophobic")


@pytest.fixture
def cfg(tmp_path: Path, db_url: str) -> str:
    path = tmp_path / "pacsbot.yml"
    path.write_text(json.dumps({"database": {"url": db_url}}))
    return str(path)


def audit_of(db_url: str) -> list[Any]:
    db = Database(db_url)
    try:
        return [r for r in Audit(db).query() if r.action == "hl7.decode"]
    finally:
        db.dispose()


def corpus(name: str) -> str:
    return str(CORPUS / name)


def test_decode_a_file_masked_by_default(cfg: str, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", cfg, "hl7", "decode", corpus("orm_o01_valid.hl7")]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "ORM^O01 General order · control ID MSG0001 · HL7 2.3 · RIS@HOSP → PACS@HOSP"
    assert "Accession: A1001  (look up with: pacsbot locate ACCESSION)" in out and "No problems found." in out
    assert "  PID-3   Patient identifier list (MRN)" in out and "[hidden]" in out
    assert "  OBR-18  Placer field 1 (often the accession)            A1001" in out
    assert not [p for p in PHI if p in out]
    [row] = audit_of(db_url)
    assert (row.target, row.outcome) == ("hl7:ORM^O01", "ok") and row.actor.startswith("cli:")
    assert row.details["via"] == "cli" and row.details["phi_shown"] is False and row.details["codes"] == []
    assert not [p for p in PHI if p in json.dumps(row.details)]


def test_findings_exit_1_and_json_for_scripts(cfg: str, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", cfg, "hl7", "decode", corpus("orm_duplicate_placer_filler.hl7"), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert [f["code"] for f in data["findings"]] == ["duplicate-placer", "duplicate-filler"]
    assert data["accessions"] == ["A1001", "A1002"] and data["severity"] == "bad" and data["phi_shown"] is False
    assert not [p for p in PHI if p in json.dumps(data)]
    assert audit_of(db_url)[0].details["codes"] == ["duplicate-filler", "duplicate-placer"]
    # text: the problems first, with their severity
    assert main(["--config", cfg, "hl7", "decode", corpus("orm_missing_accession.hl7")]) == 1
    out = capsys.readouterr().out
    assert "1 problem:\n  error    OBR-18 or IPC-1: No accession number in order #1" in out


def test_notes_alone_exit_0(cfg: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    batch = tmp_path / "batch.hl7"
    batch.write_text("BHS|^~\\&\n" + (CORPUS / "orm_o01_valid.hl7").read_text() + "BTS|1\n")
    assert main(["--config", cfg, "hl7", "decode", str(batch)]) == 0
    assert "0 problems, notes:\n  note     File/batch header" in capsys.readouterr().out


def test_read_from_stdin_with_mllp_framing(cfg: str, db_url: str, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    data = b"\x0b" + (CORPUS / "oru_r01_valid.hl7").read_bytes() + b"\x1c\r"
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert main(["--config", cfg, "hl7", "decode", "-"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ORU^R01 Observation result (report)")
    assert "Segments separated by \\r, MLLP framing removed." in out
    assert "  OBX-5   Observation value (report text)" in out and "ZZTEST" not in out
    assert audit_of(db_url)[0].details["source"] == "stdin"


def test_show_phi_for_the_admin_and_audited(cfg: str, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", cfg, "hl7", "decode", corpus("orm_o01_valid.hl7"), "--show-phi", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    fields = {f["field"]: f for s in data["segments"] for f in s["fields"]}
    assert fields["PID-5"]["value"] == "ZZTEST^FAKE^A" and fields["PID-5"]["phi"] is True and data["phi_shown"] is True
    assert main(["--config", cfg, "hl7", "decode", corpus("orm_o01_valid.hl7"), "--show-phi"]) == 0
    out = capsys.readouterr().out
    assert "4455667^^^HOSP^MR" in out and "[hidden]" not in out
    rows = audit_of(db_url)
    assert [r.details["phi_shown"] for r in rows] == [True, True]
    assert not [p for p in PHI if p in json.dumps([r.details for r in rows])]


def test_show_phi_refused_when_switched_off(tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "never.yml"
    path.write_text(json.dumps({"database": {"url": db_url}, "dicom": {"show_phi": "never"}}))
    assert main(["--config", str(path), "hl7", "decode", corpus("orm_o01_valid.hl7"), "--show-phi"]) == 2
    assert "dicom.show_phi: never" in capsys.readouterr().err
    assert [r.outcome for r in audit_of(db_url)] == ["refused"]


def test_site_options(cfg: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", cfg, "hl7", "decode", corpus("orm_accession_in_filler.hl7")]) == 1
    assert main(["--config", cfg, "hl7", "decode", corpus("orm_accession_in_filler.hl7"), "--accession-field", "OBR-3"]) == 0
    assert main(["--config", cfg, "hl7", "decode", corpus("orm_other_authority.hl7"), "--mrn-authority", "HOSP"]) == 1
    capsys.readouterr()
    assert main(["--config", cfg, "hl7", "decode", corpus("orm_o01_valid.hl7"), "--accession-field", "accession"]) == 2
    assert "--accession-field: “accession” is not a field location" in capsys.readouterr().err


@pytest.mark.parametrize("name, message", [
    ("bad_empty.hl7", "The message is empty"),
    ("bad_not_hl7.txt", "That does not look like an HL7 v2 message"),
    ("bad_two_messages.hl7", "That is 2 HL7 messages"),
    ("no_such_file.hl7", "There is no file"),
])
def test_unreadable_input_exits_2_and_is_audited(cfg: str, db_url: str, name: str, message: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", cfg, "hl7", "decode", corpus(name)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    [row] = audit_of(db_url)
    assert (row.outcome, row.details["reason"]) == ("refused", "bad input")


def test_a_folder_is_not_a_message(cfg: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", cfg, "hl7", "decode", str(CORPUS)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["hl7", "decode", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "usage: pacsbot hl7 decode" in out and "--show-phi" in out and "--accession-field" in out
    assert main(["hl7"]) == 2
    assert "decode" in capsys.readouterr().out
