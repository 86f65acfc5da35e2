"""The HL7 v2 decoder: the corpus and its expected findings, separators and MLLP framing,
masking of patient data, and clear errors for what is not one HL7 message."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from pacsbot.commands.hl7 import Hl7Options, Hl7Report, decode, full_view, masked_view
from pacsbot.core.errors import UserError
from pacsbot.core.privacy import MASK, Detector

CORPUS = Path(__file__).parent / "hl7_corpus"

# file -> (message, finding codes (sorted), accessions). Synthetic patients only.
EXPECTED: dict[str, tuple[str, list[str], tuple[str, ...]]] = {
    "orm_o01_valid.hl7": ("ORM^O01", [], ("A1001",)),
    "orm_o01_mllp_crlf.hl7": ("ORM^O01", [], ("A1001",)),
    # the line breaks lost in a paste: split before the segments pacsbot knows, patient fields still masked
    "orm_run_together.hl7": ("ORM^O01", ["run-together"], ("A1001",)),
    "orm_o01_two_orders_valid.hl7": ("ORM^O01", [], ("A1001", "A1002")),
    "omi_o23_ipc_valid.hl7": ("OMI^O23", [], ("A1003",)),
    "oru_r01_valid.hl7": ("ORU^R01", [], ("A1001",)),
    "adt_a08_valid.hl7": ("ADT^A08", [], ()),
    "adt_a40_merge_valid.hl7": ("ADT^A40", [], ()),
    "siu_s12_valid.hl7": ("SIU^S12", [], ()),
    "orm_missing_accession.hl7": ("ORM^O01", ["missing-accession"], ()),
    "orm_accession_in_filler.hl7": ("ORM^O01", ["missing-accession"], ()),  # unless the site says OBR-3
    "orm_duplicate_accession.hl7": ("ORM^O01", ["duplicate-accession"], ("A1001",)),
    "orm_duplicate_placer_filler.hl7": ("ORM^O01", ["duplicate-filler", "duplicate-placer"], ("A1001", "A1002")),
    "orm_placer_mismatch.hl7": ("ORM^O01", ["placer-mismatch"], ("A1001",)),
    "orm_filler_mismatch.hl7": ("ORM^O01", ["filler-mismatch"], ("A1001",)),
    "orm_missing_procedure_code.hl7": ("ORM^O01", ["missing-procedure-code"], ("A1001",)),
    "orm_procedure_text_only.hl7": ("ORM^O01", ["missing-procedure-code"], ("A1001",)),
    "orm_mrn_without_type.hl7": ("ORM^O01", ["missing-mrn"], ("A1001",)),
    "orm_empty_pid3.hl7": ("ORM^O01", ["missing-mrn"], ("A1001",)),
    "orm_other_authority.hl7": ("ORM^O01", [], ("A1001",)),  # type MR: fine unless the site names its authority
    "orm_html_escaped_encoding.hl7": ("ORM^O01", ["encoding-characters"], ("A1001",)),
    "orm_nonstandard_separators.hl7": ("ORM^O01", ["encoding-characters"], ("A1001",)),
    "orm_obr_before_orc.hl7": ("ORM^O01", ["segment-order"], ("A1001",)),
    "orm_pid_after_orc.hl7": ("ORM^O01", ["segment-order"], ("A1001",)),
    "orm_missing_pid.hl7": ("ORM^O01", ["missing-pid"], ("A1001",)),
    "orm_training_no_control_id.hl7": ("ORM^O01", ["missing-control-id", "not-production"], ("A1001",)),
    "orm_wrapped_line.hl7": ("ORM^O01", ["wrapped-line"], ("A1001",)),
    "oru_obx_before_obr.hl7": ("ORU^R01", ["segment-order"], ("A1001",)),
    "adt_a40_missing_mrg.hl7": ("ADT^A40", ["missing-segment"], ()),
    "adt_a04_missing_evn.hl7": ("ADT^A04", ["missing-segment"], ()),
    "siu_missing_sch.hl7": ("SIU^S12", ["missing-segment", "segment-order"], ()),
    "ack_unsupported.hl7": ("ACK^O01", ["unsupported-type"], ()),
}
# files that are not one HL7 message -> what the user is told
REFUSED = {
    "bad_empty.hl7": "The message is empty",
    "bad_not_hl7.txt": "does not look like an HL7 v2 message: it does not start with MSH",
    "bad_no_msh.hl7": "does not start with MSH",
    "bad_two_messages.hl7": "That is 2 HL7 messages",
}
# The synthetic patient's data as the corpus writes it: none of it may be in a masked view.
PHI = ("ZZTEST", "FAKE", "4455667", "4455668", "19700101", "TEST STREET", "555-010", "ACC7788990", "ZZDOC", "ZZTECH",
       "claustrophobic", "01/01/1970")


def load(name: str, options: Hl7Options | None = None) -> Hl7Report:
    return decode((CORPUS / name).read_bytes(), options)


def test_every_corpus_file_has_an_expectation() -> None:
    assert {p.name for p in CORPUS.iterdir() if p.suffix in (".hl7", ".txt")} == set(EXPECTED) | set(REFUSED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_findings(name: str) -> None:
    kind, codes, accessions = EXPECTED[name]
    report = load(name)
    assert report.kind == kind
    assert sorted(f.code for f in report.findings) == codes, [f.text for f in report.findings]
    assert report.accessions == accessions
    assert report.severity == ("ok" if not codes else report.severity)
    for finding in report.findings:  # written for a person, and free of patient data
        assert finding.text.endswith((".", ")")) and finding.severity in ("info", "warn", "bad")
        assert not any(p in finding.text + finding.hint for p in PHI)


@pytest.mark.parametrize("name, options, codes, accessions", [
    ("orm_accession_in_filler.hl7", Hl7Options(accession_fields=("OBR-3",)), [], ("A1001",)),
    ("orm_missing_accession.hl7", Hl7Options(accession_fields=("OBR-3",)), [], ("FIL2001",)),
    ("orm_o01_valid.hl7", Hl7Options(accession_fields=("ZDS-1",)), ["missing-accession"], ()),
    ("orm_other_authority.hl7", Hl7Options(mrn_authority="HOSP"), ["missing-mrn"], ("A1001",)),
    ("orm_other_authority.hl7", Hl7Options(mrn_authority="otherhosp"), [], ("A1001",)),
    ("orm_mrn_without_type.hl7", Hl7Options(mrn_authority="HOSP"), [], ("A1001",)),  # the authority is enough
    # one accession on two filler numbers: reported once, as a duplicate accession
    ("orm_duplicate_placer_filler.hl7", Hl7Options(accession_fields=("OBR-3",)), ["duplicate-accession", "duplicate-placer"],
     ("FIL2001",)),
])
def test_site_options(name: str, options: Hl7Options, codes: list[str], accessions: tuple[str, ...]) -> None:
    report = load(name, options)
    assert sorted(f.code for f in report.findings) == codes
    assert report.accessions == accessions


def test_findings_in_plain_words() -> None:
    missing = load("orm_missing_accession.hl7").findings[0]
    assert (missing.severity, missing.where) == ("bad", "OBR-18 or IPC-1")
    assert "No accession number in order #1" in missing.text and "modality worklist" in missing.text
    mismatch = load("orm_placer_mismatch.hl7").findings[0]
    assert "ORC-2 (ORD1001)" in mismatch.text and "OBR-2 (ORD1009)" in mismatch.text
    escaped = load("orm_html_escaped_encoding.hl7").findings[0]
    assert "not the standard “|” and “^~\\&”" in escaped.text and "HTML escaping" in escaped.hint
    order = load("orm_obr_before_orc.hl7").findings[0]
    assert order.text.startswith("OBR (line 4) comes before its ORC")
    unsupported = load("ack_unsupported.hl7")
    assert unsupported.findings[0].text.startswith("ACK messages are not checked: pacsbot checks ORM, OMI, ORU, ADT, SIU")
    assert [s.name for s in unsupported.segments] == ["MSH", "MSA"] and not unsupported.supported
    assert load("orm_procedure_text_only.hl7").findings[0].severity == "warn"
    assert load("orm_missing_procedure_code.hl7").findings[0].severity == "bad"
    assert load("orm_empty_pid3.hl7").findings[0].severity == "bad"
    assert load("orm_mrn_without_type.hl7").findings[0].severity == "warn"


def test_segments_and_fields_are_named() -> None:
    report = load("orm_o01_valid.hl7")
    assert (report.event, report.control_id, report.version, report.sending, report.receiving) == (
        "General order", "MSG0001", "2.3", "RIS@HOSP", "PACS@HOSP")
    fields = {f.position: f for s in report.segments for f in s.fields}
    assert fields["ORC-2"].name == "Placer order number" and fields["ORC-2"].value == "ORD1001"
    assert fields["OBR-18"].name == "Placer field 1 (often the accession)" and fields["OBR-18"].value == "A1001"
    assert fields["PID-3"].name == "Patient identifier list (MRN)" and fields["PID-3"].phi
    assert fields["OBR-4"].name == "Universal service ID (procedure code)"
    assert fields["ORC-1"].meaning == "new order" and fields["MSH-11"].meaning == "production"
    assert [(s.name, s.description) for s in report.segments][:3] == [
        ("MSH", "Message header"), ("PID", "Patient identification"), ("PV1", "Patient visit")]
    ipc = {f.position: f.name for s in load("omi_o23_ipc_valid.hl7").segments for f in s.fields}
    assert ipc["IPC-1"] == "Accession identifier" and ipc["IPC-3"] == "Study instance UID"
    siu = {s.name: s.description for s in load("siu_s12_valid.hl7").segments}
    assert siu["AIS"] == "Appointment information: service (the exam)" and "SCH" in siu


def comparable(report: Hl7Report) -> dict[str, Any]:
    view = full_view(report)
    return {k: v for k, v in view.items() if k not in ("line_endings", "mllp")}


@pytest.mark.parametrize("label, transform, endings, mllp", [
    ("CR", lambda t: t.replace("\n", "\r"), "\\r", False),
    ("LF", lambda t: t, "\\n", False),
    ("CRLF", lambda t: t.replace("\n", "\r\n"), "\\r\\n", False),
    ("mixed", lambda t: t.replace("\n", "\r", 2), "mixed", False),
    ("MLLP", lambda t: "\x0b" + t.replace("\n", "\r") + "\x1c\r", "\\r", True),
    ("MLLP without the CR", lambda t: "\x0b" + t.replace("\n", "\r") + "\x1c", "\\r", True),
    ("pasted in Slack", lambda t: "\n  " + t.replace("\n", "\n  ") + "\n\n", "\\n", False),
    ("blank lines between", lambda t: t.replace("\n", "\n\n"), "\\n", False),
])
def test_segment_separators_and_framing(label: str, transform: Any, endings: str, mllp: bool) -> None:
    text = (CORPUS / "orm_o01_valid.hl7").read_text()
    baseline = decode(text)
    for data in (transform(text), transform(text).encode()):
        report = decode(data)
        assert (report.line_endings, report.mllp) == (endings, mllp), label
        assert comparable(report) == comparable(baseline), label


def test_stored_crlf_and_mllp_file_matches_the_plain_one() -> None:
    assert (CORPUS / "orm_o01_mllp_crlf.hl7").read_bytes().startswith(b"\x0bMSH|")
    assert comparable(load("orm_o01_mllp_crlf.hl7")) == comparable(load("orm_o01_valid.hl7"))
    assert b"\n" not in (CORPUS / "oru_r01_valid.hl7").read_bytes()  # the standard's bare CR


def test_latin1_bytes_are_read() -> None:
    text = (CORPUS / "adt_a08_valid.hl7").read_text().replace("TESTTOWN", "TÖSTTOWN")
    report = decode(text.encode("latin-1"))
    address = next(f for s in report.segments for f in s.fields if f.position == "PID-11")
    assert "TÖSTTOWN" in address.value


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_masked_view_has_no_patient_data(name: str) -> None:
    report = load(name)
    masked = json.dumps(masked_view(report), ensure_ascii=False)
    assert not [p for p in PHI if p in masked]
    assert not [p for p in PHI if p in repr(report)]  # the values are never in a repr
    full = json.dumps(full_view(report), ensure_ascii=False)
    if any(s.name == "PID" for s in report.segments):
        assert "ZZTEST^FAKE" in full and MASK in masked and masked_view(report)["phi_shown"] is False
    # what the masked view still shows does not look like patient data to the project's detector
    detector = Detector()
    for segment in masked_view(report)["segments"]:
        for fld in segment["fields"]:
            shown = fld["value"].replace("^", " ").replace("~", " ")
            if fld["phi"] or not shown.strip():
                continue
            assert not detector.mask(shown).found, (fld["field"], detector.mask(shown).kinds)


def test_the_detector_agrees_the_hidden_fields_are_patient_data() -> None:
    report = load("orm_o01_valid.hl7")
    detector = Detector()
    hidden = {f.position: f.value for s in report.segments for f in s.fields if f.phi}
    assert {"PID-3", "PID-5", "PID-7", "PID-11", "PID-13", "PID-18", "PV1-7", "PV1-8", "ORC-12", "OBR-16", "NTE-3"} <= set(hidden)
    for position in ("PID-5", "PID-7", "NTE-3"):
        assert detector.mask(hidden[position]).found, position
    kin = {f.position for s in load("adt_a08_valid.hl7").segments for f in s.fields if f.phi}
    assert {"NK1-2", "NK1-4", "NK1-5"} <= kin
    merged = {f.position for s in load("adt_a40_merge_valid.hl7").segments for f in s.fields if f.phi}
    assert {"MRG-1", "MRG-7"} <= merged


def test_unknown_z_segments_are_hidden_whole() -> None:
    text = (CORPUS / "orm_o01_valid.hl7").read_text() + "ZPI|1|ZZTEST^FAKE|4455667\n"
    report = decode(text)
    zpi = report.segments[-1]
    assert zpi.description == "Site-specific segment" and all(f.phi for f in zpi.fields)
    assert "ZZTEST" not in json.dumps(masked_view(report))


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_corpus_files_that_are_not_a_message(name: str) -> None:
    with pytest.raises(UserError, match=REFUSED[name]):
        load(name)


@pytest.mark.parametrize("data, message", [
    ("", "The message is empty. Paste an HL7 v2 message: it starts with MSH|^~\\&|."),
    (b"  \r\n\x0b\x1c\r\n", "The message is empty"),
    (b"\x00\x01\x02MSH|", "binary data"),
    ("MSH|^~", "the first segment is cut short"),
    ("MSHA^~\\&|RIS", "MSH is followed by “A”, not by a field separator"),
    ("PID|1||4455667", "it does not start with MSH"),
    ("x" * 1_000_001, "too big for one HL7 message"),
])
def test_bad_input_is_a_clear_user_error(data: str | bytes, message: str) -> None:
    with pytest.raises(UserError) as info:
        decode(data)
    assert message in str(info.value)
    assert "4455667" not in str(info.value)


def test_batch_envelope_is_set_aside() -> None:
    text = "FHS|^~\\&\nBHS|^~\\&\n" + (CORPUS / "orm_o01_valid.hl7").read_text() + "BTS|1\nFTS|1\n"
    report = decode(text)
    assert [f.code for f in report.findings] == ["batch-envelope"] and report.severity == "info" and not report.problems


def test_bad_accession_location_is_refused() -> None:
    with pytest.raises(ValueError, match="OBR-18"):
        Hl7Options(accession_fields=("accession",))
    with pytest.raises(ValueError):
        Hl7Options(accession_fields=())
    assert Hl7Options(accession_fields=("zds-1.2",)).accession_fields == ("zds-1.2",)


def test_mangled_messages_never_raise_anything_but_a_user_error() -> None:
    """Truncated, mis-pasted and half-edited messages: a report or a clear message, never a traceback."""
    rng = random.Random(17)
    texts = [p.read_text(errors="replace") for p in sorted(CORPUS.iterdir())]
    alphabet = "|^~\\&\r\n\x0b\x1cMSHPIDORCOBR0123 #"
    for _ in range(1500):
        chars = list(rng.choice(texts))
        for _ in range(rng.randint(1, 8)):
            pos = rng.randrange(len(chars) + 1)
            op = rng.random()
            if op < 0.4 and chars:
                del chars[min(pos, len(chars) - 1)]
            elif op < 0.8:
                chars.insert(pos, rng.choice(alphabet))
            else:
                chars = chars[:pos]
        try:
            masked_view(decode("".join(chars)))
        except UserError:
            pass


def test_an_order_cancelled_without_its_obr_is_a_note_a_new_one_an_error() -> None:
    lines = [line for line in (CORPUS / "orm_o01_valid.hl7").read_text().splitlines() if line[:3] not in ("OBR", "NTE")]
    new = decode("\n".join(lines))
    cancel = decode("\n".join(lines).replace("ORC|NW", "ORC|CA"))
    assert [(f.code, f.severity) for f in new.findings] == [("missing-segment", "bad")]
    assert [(f.code, f.severity) for f in cancel.findings] == [("missing-segment", "info")] and not cancel.problems
