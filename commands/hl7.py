"""Decode an HL7 v2 message for a PACS admin: segments and fields in plain words, and what in it
would break the imaging workflow (:mod:`pacsbot.commands.hl7_checks`).

Input may be pasted from a terminal or a Slack modal: segments separated by ``\\r``, ``\\n`` or
``\\r\\n``, with or without MLLP framing (0x0b ... 0x1c 0x0d). Parsing is python-hl7's.

Patient data stays in the result, marked: every field that identifies a patient (PID-3, PID-5,
PID-7, PID-19, NK1, MRG...), free text that may (OBX-5 report text, NTE comments) and people's
names (doctors, operators) has ``phi=True``. :func:`masked_view` replaces those values with
``[hidden]`` (for anything but an admin's private view); :func:`full_view` keeps them. The
value is never in a ``repr``. Findings and accessions never carry patient data.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import hl7  # type: ignore[import-untyped]  # python-hl7 ships no type information

from pacsbot.commands.hl7_checks import SUPPORTED_TYPES, Hl7Finding, Hl7Options, Seg, run_checks
from pacsbot.commands.results import Severity
from pacsbot.core.errors import UserError
from pacsbot.core.privacy import MASK

__all__ = ["Hl7Field", "Hl7Finding", "Hl7Options", "Hl7Report", "Hl7Segment", "decode", "full_view", "masked_view"]

MAX_CHARS = 1_000_000  # a message with a few embedded PDFs; anything bigger is not a paste
EXAMPLE = "MSH|^~\\&|"

SEGMENTS = {
    "MSH": "Message header", "EVN": "Event type", "PID": "Patient identification",
    "PD1": "Patient additional demographics", "NK1": "Next of kin / associated parties", "PV1": "Patient visit",
    "PV2": "Patient visit, additional information", "MRG": "Merge patient information (the record merged away)",
    "ORC": "Common order", "OBR": "Observation request (the exam ordered)",
    "OBX": "Observation / result (report text or values)", "NTE": "Notes and comments", "TQ1": "Timing/quantity",
    "IPC": "Imaging procedure control (accession, study UID, procedure step)",
    "ZDS": "Study instance UID (IHE Z-segment)", "SCH": "Scheduling activity (the appointment)",
    "RGS": "Resource group", "AIS": "Appointment information: service (the exam)",
    "AIG": "Appointment information: general resource", "AIL": "Appointment information: location (room, modality)",
    "AIP": "Appointment information: personnel", "AL1": "Allergy", "DG1": "Diagnosis", "IN1": "Insurance",
    "IN2": "Insurance, additional information", "GT1": "Guarantor", "SFT": "Software", "ROL": "Role (people on the case)",
    "CTD": "Contact data", "MSA": "Message acknowledgement", "ERR": "Error",
}

FIELDS: dict[str, dict[int, str]] = {
    "MSH": {1: "Field separator", 2: "Encoding characters", 3: "Sending application", 4: "Sending facility",
            5: "Receiving application", 6: "Receiving facility", 7: "Date/time of message", 9: "Message type",
            10: "Message control ID", 11: "Processing ID", 12: "Version ID", 15: "Accept acknowledgement type",
            16: "Application acknowledgement type", 18: "Character set"},
    "EVN": {1: "Event type code", 2: "Recorded date/time", 3: "Planned event date/time", 4: "Event reason code",
            5: "Operator", 6: "Event occurred"},
    "PID": {1: "Set ID", 2: "Patient ID (external, older versions)", 3: "Patient identifier list (MRN)",
            4: "Alternate patient ID", 5: "Patient name", 6: "Mother's maiden name", 7: "Date/time of birth",
            8: "Administrative sex", 9: "Patient alias", 10: "Race", 11: "Patient address", 13: "Phone (home)",
            14: "Phone (business)", 18: "Patient account number", 19: "Social security number",
            20: "Driver's license number", 29: "Date/time of death", 30: "Death indicator"},
    "PV1": {1: "Set ID", 2: "Patient class", 3: "Assigned patient location", 7: "Attending doctor",
            8: "Referring doctor", 9: "Consulting doctor", 10: "Hospital service", 17: "Admitting doctor",
            18: "Patient type", 19: "Visit number", 44: "Admit date/time", 45: "Discharge date/time",
            50: "Alternate visit ID"},
    "MRG": {1: "Prior patient identifier list", 2: "Prior alternate patient ID", 3: "Prior patient account number",
            4: "Prior patient ID", 5: "Prior visit number", 7: "Prior patient name"},
    "NK1": {1: "Set ID", 2: "Name", 3: "Relationship", 4: "Address", 5: "Phone number"},
    "ORC": {1: "Order control", 2: "Placer order number", 3: "Filler order number", 4: "Placer group number",
            5: "Order status", 7: "Quantity/timing", 9: "Date/time of transaction", 10: "Entered by",
            11: "Verified by", 12: "Ordering provider", 13: "Enterer's location", 16: "Order control reason",
            17: "Entering organization", 19: "Action by"},
    "OBR": {1: "Set ID", 2: "Placer order number", 3: "Filler order number (some sites: the accession)",
            4: "Universal service ID (procedure code)", 5: "Priority", 6: "Requested date/time",
            7: "Observation date/time (exam start)", 10: "Collector", 13: "Relevant clinical information",
            16: "Ordering provider", 17: "Order callback phone number", 18: "Placer field 1 (often the accession)",
            19: "Placer field 2 (often the requested procedure ID)",
            20: "Filler field 1 (often the scheduled procedure step ID)", 21: "Filler field 2",
            22: "Results/status change date/time", 24: "Diagnostic service section (modality)", 25: "Result status",
            27: "Quantity/timing", 28: "Result copies to", 31: "Reason for study", 32: "Principal result interpreter",
            33: "Assistant result interpreter", 34: "Technician", 35: "Transcriptionist", 36: "Scheduled date/time",
            44: "Procedure code"},
    "OBX": {1: "Set ID", 2: "Value type", 3: "Observation identifier", 4: "Observation sub-ID",
            5: "Observation value (report text)", 11: "Observation result status", 14: "Date/time of observation",
            16: "Responsible observer"},
    "NTE": {1: "Set ID", 2: "Source of comment", 3: "Comment"},
    "TQ1": {1: "Set ID", 7: "Start date/time", 8: "End date/time", 9: "Priority"},
    "IPC": {1: "Accession identifier", 2: "Requested procedure ID", 3: "Study instance UID",
            4: "Scheduled procedure step ID", 5: "Modality", 6: "Protocol code", 7: "Scheduled station name",
            8: "Scheduled procedure step location", 9: "Scheduled station AE title"},
    "ZDS": {1: "Study instance UID (some sites: the accession in a later field)"},
    "SCH": {1: "Placer appointment ID", 2: "Filler appointment ID", 6: "Event reason", 7: "Appointment reason",
            8: "Appointment type", 9: "Appointment duration", 10: "Appointment duration units",
            11: "Appointment timing/quantity", 12: "Placer contact person", 16: "Filler contact person",
            20: "Entered by person", 25: "Filler status code", 26: "Placer order number", 27: "Filler order number"},
    "RGS": {1: "Set ID", 2: "Segment action code", 3: "Resource group ID"},
    "AIS": {1: "Set ID", 2: "Segment action code", 3: "Universal service ID (procedure)", 4: "Start date/time",
            7: "Duration", 8: "Duration units", 10: "Filler status code"},
    "AIG": {1: "Set ID", 2: "Segment action code", 3: "Resource ID", 4: "Resource type", 8: "Start date/time"},
    "AIL": {1: "Set ID", 2: "Segment action code", 3: "Location resource ID (room or modality)", 4: "Location type",
            6: "Start date/time"},
    "AIP": {1: "Set ID", 2: "Segment action code", 3: "Personnel resource ID", 4: "Resource role",
            6: "Start date/time"},
    "MSA": {1: "Acknowledgement code", 2: "Message control ID", 3: "Text message"},
    "SFT": {1: "Software vendor organization", 2: "Software version", 3: "Software product name"},
}

# Segments about the patient or the people around them: every field but these is patient data.
_PHI_SEGMENTS: dict[str, frozenset[int]] = {
    "PID": frozenset({1, 8}), "PD1": frozenset(), "NK1": frozenset({1}), "MRG": frozenset(),
    "GT1": frozenset({1}), "IN1": frozenset({1}), "IN2": frozenset(), "IN3": frozenset({1}),
    "AL1": frozenset({1}), "DG1": frozenset({1}), "ROL": frozenset({1, 2, 3}), "CTD": frozenset(),
}
# Elsewhere: people's names, visit numbers, admission dates and free text.
_PHI_FIELDS: dict[str, frozenset[int]] = {
    "EVN": frozenset({5}),
    "PV1": frozenset({7, 8, 9, 17, 19, 44, 45, 50, 52}),
    "PV2": frozenset({3, 12}),
    "ORC": frozenset({10, 11, 12, 16, 19}),
    "OBR": frozenset({10, 13, 16, 17, 28, 31, 32, 33, 34, 35}),
    "OBX": frozenset({5, 16}),
    "NTE": frozenset({3}),
    "SCH": frozenset({6, 7, 12, 16, 20}),
    "AIP": frozenset({3}),
}

_MEANINGS: dict[str, dict[str, str]] = {
    "MSH-11": {"P": "production", "T": "training", "D": "debugging"},
    "ORC-1": {"NW": "new order", "CA": "cancel order request", "CR": "canceled as requested", "DC": "discontinue",
              "XO": "change order", "XX": "changed as requested", "SC": "status changed", "SN": "send order number",
              "OC": "order canceled", "OD": "order discontinued", "HD": "hold", "RL": "release hold",
              "RE": "observations follow", "NA": "number assigned", "OK": "order accepted"},
    "ORC-5": {"SC": "scheduled", "IP": "in process", "CM": "completed", "CA": "canceled", "DC": "discontinued",
              "HD": "on hold", "A": "some results available"},
    "OBR-25": {"O": "order received", "I": "in progress", "S": "scheduled", "P": "preliminary", "F": "final",
               "C": "correction", "X": "canceled", "A": "some results available", "R": "not verified"},
    "OBX-11": {"P": "preliminary", "F": "final", "C": "correction", "D": "delete", "X": "canceled",
               "R": "not verified", "I": "pending"},
    "PV1-2": {"I": "inpatient", "O": "outpatient", "E": "emergency", "P": "preadmit", "R": "recurring", "B": "obstetrics"},
    "MSA-1": {"AA": "accepted", "AE": "error", "AR": "rejected", "CA": "accepted", "CE": "error", "CR": "rejected"},
}

EVENTS = {
    "ORM^O01": "General order", "OMI^O23": "Imaging order", "ORU^R01": "Observation result (report)",
    "ADT^A01": "Admit/visit", "ADT^A02": "Transfer", "ADT^A03": "Discharge", "ADT^A04": "Register a patient",
    "ADT^A05": "Pre-admit", "ADT^A06": "Outpatient to inpatient", "ADT^A07": "Inpatient to outpatient",
    "ADT^A08": "Update patient information", "ADT^A11": "Cancel admit", "ADT^A12": "Cancel transfer",
    "ADT^A13": "Cancel discharge", "ADT^A18": "Merge patient information", "ADT^A23": "Delete a patient record",
    "ADT^A28": "Add person information", "ADT^A31": "Update person information",
    "ADT^A34": "Merge patient information: patient ID only", "ADT^A40": "Merge patient: patient identifier list",
    "ADT^A47": "Change patient identifier list", "SIU^S12": "New appointment", "SIU^S13": "Appointment rescheduled",
    "SIU^S14": "Appointment modified", "SIU^S15": "Appointment cancelled", "SIU^S17": "Appointment deleted",
    "SIU^S26": "Patient did not show up",
}

_MLLP = re.compile("[\x0b\x1c]")
_LINE_ENDINGS = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class Hl7Field:
    position: str  # "PID-3"
    name: str  # "Patient identifier list (MRN)"; empty for a field pacsbot has no name for
    value: str = field(repr=False)  # as sent, separators and escapes included
    phi: bool = False  # patient data or a person's name: hidden outside a private view
    meaning: str = ""  # a coded value in words ("new order"); never for PHI


@dataclass(frozen=True)
class Hl7Segment:
    name: str
    description: str
    line: int  # its place in the message, 1 = MSH (blank lines, framing and wrapped lines not counted)
    fields: tuple[Hl7Field, ...]


@dataclass(frozen=True)
class Hl7Report:
    message_type: str  # "ORM"
    trigger: str  # "O01"
    structure: str  # MSH-9.3, often empty before v2.4
    event: str  # "General order"
    control_id: str
    version: str
    sending: str  # "RIS@HOSP" (MSH-3@MSH-4)
    receiving: str
    segments: tuple[Hl7Segment, ...]
    findings: tuple[Hl7Finding, ...]
    accessions: tuple[str, ...]  # to look up on the worklist, PACS and VNA
    line_endings: str  # "\\r", "\\n", "\\r\\n" or "mixed"
    mllp: bool  # MLLP framing bytes were removed

    @property
    def kind(self) -> str:
        return f"{self.message_type}^{self.trigger}" if self.trigger else self.message_type

    @property
    def supported(self) -> bool:
        return self.message_type in SUPPORTED_TYPES

    @property
    def problems(self) -> tuple[Hl7Finding, ...]:
        """Findings of warning or error severity (``info`` left out)."""
        return tuple(f for f in self.findings if f.severity in ("warn", "bad"))

    @property
    def severity(self) -> Severity:
        severities = {f.severity for f in self.findings}
        return next((s for s in ("bad", "warn", "info") if s in severities), "ok")


def is_phi(segment: str, n: int) -> bool:
    """Whether field ``n`` of ``segment`` is hidden outside a private view. Segments pacsbot
    does not know (Z-segments but ZDS) are hidden whole: they may hold anything."""
    if segment in _PHI_SEGMENTS:
        return n not in _PHI_SEGMENTS[segment]
    if segment in _PHI_FIELDS:
        return n in _PHI_FIELDS[segment]
    return segment not in SEGMENTS


def _text_of(data: str | bytes) -> str:
    if isinstance(data, bytes):
        if len(data) > MAX_CHARS * 4:
            raise UserError(f"That is too big for one HL7 message (over {MAX_CHARS:,} characters).")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode("latin-1")  # HL7's historic default; every byte is a character
    return data


def _lines(text: str) -> tuple[list[str], str, bool]:
    """The message's segment lines, what separated them and whether MLLP framing was removed."""
    if len(text) > MAX_CHARS:
        raise UserError(f"That is too big for one HL7 message (over {MAX_CHARS:,} characters).")
    framed = bool(_MLLP.search(text))
    text = _MLLP.sub("", text)
    if "\x00" in text:
        raise UserError("That is not an HL7 message: it contains binary data (NUL bytes). "
                        f"Give the message as text; it starts with {EXAMPLE}.")
    endings = {m.group() for m in _LINE_ENDINGS.finditer(text.strip())}
    label = "mixed" if len(endings) > 1 else (endings.pop().encode("unicode_escape").decode() if endings else "")
    lines = [line.strip() for line in _LINE_ENDINGS.split(text)]
    return [line for line in lines if line], label, framed


def _split_run_together(lines: list[str], separator: str) -> tuple[list[str], list[str]]:
    """Split lines where a known segment (PID, ORC, OBR...) starts after a space, as when a
    paste lost its line breaks: otherwise MSH would swallow the patient's fields as its own,
    and show them unmasked. Only segment names pacsbot knows (and Z-segments) count."""
    names = "|".join(sorted(name for name in SEGMENTS if name != "MSH"))
    start = re.compile(rf"\s+(?=(?:{names}|Z[A-Z0-9]{{2}}){re.escape(separator)})")
    out: list[str] = []
    split_before: list[str] = []
    for line in lines:
        parts = start.split(line)
        out.extend(parts)
        split_before.extend(part[:3] for part in parts[1:])
    return out, split_before


def decode(data: str | bytes, options: Hl7Options | None = None) -> Hl7Report:
    """Parse one HL7 v2 message and check it. Raises :class:`UserError` when the input is not
    one HL7 v2 message (empty, not text, no MSH, several messages)."""
    options = options or Hl7Options()
    lines, endings, framed = _lines(_text_of(data))
    if not lines:
        raise UserError(f"The message is empty. Paste an HL7 v2 message: it starts with {EXAMPLE}.")
    batch = [line for line in lines if line[:3] in ("FHS", "BHS", "BTS", "FTS")]
    lines = [line for line in lines if line[:3] not in ("FHS", "BHS", "BTS", "FTS")]
    if not lines or not lines[0].startswith("MSH") or len(lines[0]) < 8:
        what = "the first segment is cut short" if lines and lines[0].startswith("MSH") else "it does not start with MSH"
        raise UserError(f"That does not look like an HL7 v2 message: {what}. An HL7 message starts with {EXAMPLE} "
                        "and has one segment (MSH, PID, ORC, OBR...) per line.")
    count = sum(1 for line in lines if line.startswith("MSH"))
    if count > 1:
        raise UserError(f"That is {count} HL7 messages (one MSH segment each); decode one message at a time.")
    separator = lines[0][3]
    if separator.isalnum() or separator.isspace():
        raise UserError(f"That does not look like an HL7 v2 message: MSH is followed by “{separator}”, not by a field "
                        f"separator. An HL7 message starts with {EXAMPLE}.")
    findings: list[Hl7Finding] = []
    lines, run_together = _split_run_together(lines, separator)
    if run_together:
        findings.append(Hl7Finding(
            "run-together", "warn",
            f"Segments were run together on one line (the line breaks were lost when it was copied); "
            f"it was split before {', '.join(run_together)}. Check the segments."))
    if batch:
        findings.append(Hl7Finding("batch-envelope", "info",
                                   "File/batch header or trailer segments (FHS, BHS, BTS, FTS) were set aside."))
    segment_start = re.compile(rf"^[A-Z][A-Z0-9]{{2}}(?:{re.escape(separator)}|$)")
    joined: list[str] = []
    for number, line in enumerate(lines, start=1):
        if joined and not segment_start.match(line):
            findings.append(Hl7Finding(
                "wrapped-line", "warn",
                f"Line {number} does not start with a segment name; it was joined to the {joined[-1][:3]} "
                "segment above it, as a line wrapped when it was copied. Check that segment.", f"line {number}"))
            joined[-1] += line
        else:
            joined.append(line)
    try:
        parsed = hl7.parse("\r".join(joined))
    except Exception as exc:  # noqa: BLE001 - python-hl7 raises assorted errors on malformed input
        raise UserError("That HL7 message could not be parsed: its MSH segment is malformed. "
                        f"An HL7 message starts with {EXAMPLE}.") from exc
    segs = [Seg(str(raw[0]).upper(), i, raw) for i, raw in enumerate(parsed, start=1)]
    checked = run_checks(segs, options)
    msh = segs[0]
    kind, trigger = msh.get(9, 1).upper(), msh.get(9, 2).upper()
    return Hl7Report(
        message_type=kind,
        trigger=trigger,
        structure=msh.get(9, 3).upper(),
        event=EVENTS.get(f"{kind}^{trigger}", ""),
        control_id=msh.get(10),
        version=msh.get(12, 1),
        sending="@".join(v for v in (msh.get(3), msh.get(4)) if v),
        receiving="@".join(v for v in (msh.get(5), msh.get(6)) if v),
        segments=tuple(_segment(s) for s in segs),
        findings=tuple(findings) + checked.findings,
        accessions=checked.accessions,
        line_endings=endings,
        mllp=framed,
    )


def _segment(seg: Seg) -> Hl7Segment:
    names = FIELDS.get(seg.name, {})
    fields = []
    for n in range(1, len(seg.raw)):
        value = seg.text(n)
        if not value:
            continue
        phi = is_phi(seg.name, n)
        position = f"{seg.name}-{n}"
        meaning = "" if phi else _MEANINGS.get(position, {}).get(seg.get(n, 1).upper(), "")
        fields.append(Hl7Field(position, names.get(n, ""), value, phi, meaning))
    description = SEGMENTS.get(seg.name) or ("Site-specific segment" if seg.name.startswith("Z") else "Segment")
    return Hl7Segment(seg.name, description, seg.line, tuple(fields))


def _view(report: Hl7Report, *, show_phi: bool) -> dict[str, Any]:
    return {
        "message_type": report.message_type,
        "trigger": report.trigger,
        "structure": report.structure,
        "event": report.event,
        "control_id": report.control_id,
        "version": report.version,
        "sending": report.sending,
        "receiving": report.receiving,
        "line_endings": report.line_endings,
        "mllp": report.mllp,
        "severity": report.severity,
        "accessions": list(report.accessions),
        "findings": [asdict(f) for f in report.findings],
        "segments": [
            {"segment": s.name, "description": s.description, "line": s.line, "fields": [
                {"field": f.position, "name": f.name, "value": f.value if show_phi or not f.phi else MASK,
                 "phi": f.phi, "meaning": f.meaning}
                for f in s.fields]}
            for s in report.segments
        ],
        "phi_shown": show_phi,
    }


def masked_view(report: Hl7Report) -> dict[str, Any]:
    """The report as JSON-ready data, every patient-data field ``[hidden]``: what may be
    shown anywhere but an admin's private view."""
    return _view(report, show_phi=False)


def full_view(report: Hl7Report) -> dict[str, Any]:
    """The report with every value as sent: for an admin's private view only."""
    return _view(report, show_phi=True)


def audit_details(report: Hl7Report, *, via: str, source: str, phi_shown: bool) -> dict[str, Any]:
    """What the audit log keeps of a decode: the message's type and control ID, counts and
    finding codes, never a field's value."""
    return {
        "via": via,
        "source": source,
        "message_type": report.kind,
        "control_id": report.control_id,
        "segments": len(report.segments),
        "findings": dict(Counter(f.severity for f in report.findings)),
        "codes": sorted({f.code for f in report.findings}),
        "accessions": len(report.accessions),
        "phi_shown": phi_shown,
    }
