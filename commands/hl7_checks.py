"""What breaks an imaging workflow in an HL7 v2 message, in words a PACS admin can act on.

:func:`run_checks` looks at the segments :mod:`pacsbot.commands.hl7` parsed and returns
findings (never containing patient data: they name fields, order numbers and accessions,
never a patient's ID, name or birth date) and the accession numbers it found, which the bot
can look up on the worklist, the PACS and the VNA. Nothing here touches the network.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pacsbot.commands.results import Severity

STANDARD_FIELD_SEPARATOR = "|"
STANDARD_ENCODING = "^~\\&"
# v2.7 added a fifth encoding character, the truncation character "#".
ACCEPTED_ENCODINGS = frozenset({STANDARD_ENCODING, STANDARD_ENCODING + "#"})

# Message types checked, and what their segments must look like (see _check_order).
ORDER_TYPES = frozenset({"ORM", "OMI"})
SUPPORTED_TYPES = ("ORM", "OMI", "ORU", "ADT", "SIU")
# ADT events that move or merge identifiers, which must say what was merged (MRG).
MERGE_EVENTS = frozenset({"A18", "A30", "A34", "A35", "A36", "A39", "A40", "A41", "A42", "A44", "A45",
                          "A47", "A48", "A49", "A50", "A51"})
# Segments allowed between MSH and PID.
_BEFORE_PID = frozenset({"MSH", "EVN", "SFT", "UAC", "NTE"})
# ORC-1 order control codes that cancel or end an order (an ORM without OBR is legal then).
_ENDING_CONTROLS = frozenset({"CA", "CR", "DC", "DR", "OC", "OD", "HD", "OH"})
_LOCATION_RE = re.compile(r"^([A-Z][A-Z0-9]{2})-(\d{1,3})(?:\.(\d{1,2}))?$")


def parse_location(text: str) -> tuple[str, int, int]:
    """``"OBR-18"`` -> ``("OBR", 18, 1)``; ``"ZDS-1.2"`` -> ``("ZDS", 1, 2)``."""
    m = _LOCATION_RE.match(text.strip().upper())
    if m is None or int(m.group(2)) < 1:
        raise ValueError(f"“{text}” is not a field location: write it as SEGMENT-FIELD, for example OBR-18, "
                         "IPC-1 or ZDS-1.2 (field 1, component 2)")
    return m.group(1), int(m.group(2)), int(m.group(3) or 1)


@dataclass(frozen=True)
class Hl7Options:
    """What a site's messages look like.

    ``accession_fields``: where the accession number is, tried in order (the first one that
    is filled in wins): OBR-18 (placer field 1, IHE Scheduled Workflow before v2.5) and IPC-1
    (the imaging procedure control segment of OMI^O23) by default; a site that uses the filler
    order number says ``("OBR-3",)``, one with a Z-segment ``("ZDS-2",)``. A location names a
    segment of the order: ORC, OBR, or one that follows the OBR (IPC, ZDS, TQ1...).
    ``mrn_authority``: the assigning authority (PID-3 component 4) of the site's MRNs; empty
    means any identifier of type MR will do.
    """

    accession_fields: tuple[str, ...] = ("OBR-18", "IPC-1")
    mrn_authority: str = ""

    def __post_init__(self) -> None:
        if not self.accession_fields:
            raise ValueError("at least one accession field location is needed, for example OBR-18")
        for location in self.accession_fields:
            parse_location(location)


@dataclass(frozen=True)
class Hl7Finding:
    """One problem (or remark), PHI-free: safe to log, audit and post."""

    code: str  # stable, for scripts and tests: "missing-accession", "segment-order"...
    severity: Severity  # "bad" breaks the workflow, "warn" probably will, "info" is worth knowing
    text: str
    where: str = ""  # "OBR-18", "line 4"
    hint: str = ""


class Seg:
    """One segment as the checks see it: its name, its line and 1-based field access."""

    def __init__(self, name: str, line: int, raw: Any) -> None:
        self.name = name
        self.line = line
        self.raw = raw  # an hl7.Segment

    def text(self, n: int) -> str:
        """Field ``n`` as sent (separators included)."""
        return str(self.raw[n]) if 0 < n < len(self.raw) else ""

    def get(self, n: int, component: int = 1, repetition: int = 1, subcomponent: int = 1) -> str:
        """One value as sent (escape sequences kept); empty when absent. Deeper than asked
        (``get(3, 4)`` of ``HOSP&1.2.3&ISO``), the first part is taken."""
        if not 0 < n < len(self.raw):
            return ""
        if self.name == "MSH" and n <= 2:
            return str(self.raw[n])
        node: Any = self.raw[n]  # python-hl7: Field > Repetition > Component > str, shallower without separators
        path = (repetition, component, subcomponent)
        for depth, index in enumerate(path):
            if isinstance(node, str):
                return node.strip() if all(i == 1 for i in path[depth:]) else ""
            if index > len(node):
                return ""
            node = node[index - 1]
        while not isinstance(node, str):
            node = node[0] if len(node) else ""
        return node.strip()

    def repetitions(self, n: int) -> int:
        if not 0 < n < len(self.raw):
            return 0
        value = self.raw[n]
        return len(value) if value and not isinstance(value, str) else (1 if str(value) else 0)


@dataclass
class OrderGroup:
    """An ORC and/or OBR and what follows them (IPC, ZDS, OBX, NTE...) up to the next order."""

    number: int
    orc: Seg | None = None
    obr: Seg | None = None
    others: list[Seg] = field(default_factory=list)

    def segment(self, name: str) -> Seg | None:
        if name == "ORC":
            return self.orc
        if name == "OBR":
            return self.obr
        return next((s for s in self.others if s.name == name), None)

    @property
    def label(self) -> str:
        return f"order #{self.number}"


def order_groups(segments: Sequence[Seg]) -> list[OrderGroup]:
    groups: list[OrderGroup] = []
    current: OrderGroup | None = None
    for seg in segments:
        if seg.name == "ORC":
            if current is not None and current.orc is None and current.obr is not None and _same_order(seg, current.obr):
                current.orc = seg  # an ORC sent after its OBR: reported as out of order, not as a second order
                continue
            current = OrderGroup(len(groups) + 1, orc=seg)
            groups.append(current)
        elif seg.name == "OBR":
            if current is None or current.obr is not None:
                current = OrderGroup(len(groups) + 1)
                groups.append(current)
            current.obr = seg
        elif current is not None and seg.name not in ("PID", "PV1", "PV2", "PD1", "NK1", "MSH", "EVN"):
            current.others.append(seg)
    return groups


def _same_order(orc: Seg, obr: Seg) -> bool:
    return any(orc.get(n, 1) and orc.get(n, 1) == obr.get(n, 1) for n in (2, 3))


@dataclass(frozen=True)
class CheckResult:
    findings: tuple[Hl7Finding, ...]
    accessions: tuple[str, ...]


def run_checks(segments: Sequence[Seg], options: Hl7Options) -> CheckResult:
    """Every check that applies to this message; ``segments[0]`` is its MSH."""
    findings: list[Hl7Finding] = []
    add = findings.append
    msh = segments[0]
    _check_msh(msh, add)
    kind, trigger = msh.get(9, 1).upper(), msh.get(9, 2).upper()
    groups = order_groups(segments)
    accessions = _accessions(groups, options)
    if kind not in SUPPORTED_TYPES:
        if kind:
            add(Hl7Finding("unsupported-type", "warn",
                           f"{kind} messages are not checked: pacsbot checks {', '.join(SUPPORTED_TYPES)}. "
                           "The segments are named below, as sent.", "MSH-9"))
        return CheckResult(tuple(findings), accessions)
    _check_structure(kind, trigger, segments, add)
    pids = [s for s in segments if s.name == "PID"]
    for pid in pids:
        _check_mrn(pid, options, add)
    if kind in ORDER_TYPES or kind == "ORU":
        _check_orders(kind, groups, options, add)
    if kind == "SIU":
        for ais in (s for s in segments if s.name == "AIS"):
            if not ais.get(3, 1):
                add(Hl7Finding("missing-procedure-code", "warn",
                               f"AIS on line {ais.line} has no procedure code (AIS-3 universal service ID): the "
                               "scheduled exam cannot be matched to a modality worklist entry.", "AIS-3"))
    return CheckResult(tuple(findings), accessions)


def _check_msh(msh: Seg, add: Callable[[Hl7Finding], None]) -> None:
    sep, enc = msh.get(1), msh.get(2)
    if sep != STANDARD_FIELD_SEPARATOR or enc not in ACCEPTED_ENCODINGS:
        hint = ""
        if "&amp;" in enc or "&amp;" in sep:
            hint = "“&amp;” is HTML escaping: the message was copied from a web page or chat. Paste the raw message."
        add(Hl7Finding(
            "encoding-characters", "bad",
            f"MSH-1/MSH-2 are “{sep}” and “{enc}”, not the standard “|” and “^~\\&”: most RIS and PACS "
            "interfaces will read every field of this message wrongly.", "MSH-2", hint))
    if not msh.get(9, 1):
        add(Hl7Finding("missing-message-type", "bad",
                       "MSH-9 (message type) is empty: no receiver knows what to do with this message.", "MSH-9"))
    if not msh.get(10):
        add(Hl7Finding("missing-control-id", "warn",
                       "MSH-10 (message control ID) is empty: the sender cannot match the acknowledgement, "
                       "and most interface engines reject the message.", "MSH-10"))
    if not msh.get(12):
        add(Hl7Finding("missing-version", "info", "MSH-12 (version ID) is empty; receivers will assume a version.",
                       "MSH-12"))
    if msh.get(11, 1).upper() in ("T", "D"):
        add(Hl7Finding("not-production", "info",
                       f"MSH-11 (processing ID) is “{msh.get(11, 1)}” (training/debugging): a production "
                       "interface may ignore this message.", "MSH-11"))


def _first(segments: Sequence[Seg], name: str) -> int | None:
    return next((i for i, s in enumerate(segments) if s.name == name), None)


def _check_structure(kind: str, trigger: str, segments: Sequence[Seg], add: Callable[[Hl7Finding], None]) -> None:
    names = [s.name for s in segments]
    if kind == "ADT":
        evn = _first(segments, "EVN")
        if evn is None:
            add(Hl7Finding("missing-segment", "warn", f"ADT^{trigger} has no EVN segment (event type) after MSH.", "EVN"))
        elif any(n not in ("MSH", "SFT", "UAC") for n in names[1:evn]):
            add(Hl7Finding("segment-order", "warn", f"EVN (line {segments[evn].line}) should come right after MSH.",
                           f"line {segments[evn].line}"))
        if trigger in MERGE_EVENTS and "MRG" not in names:
            add(Hl7Finding("missing-segment", "bad",
                           f"ADT^{trigger} merges or moves patient identifiers but has no MRG segment: the PACS "
                           "cannot tell which patient record to merge.", "MRG"))
    if kind == "SIU":
        sch = _first(segments, "SCH")
        if sch is None:
            add(Hl7Finding("missing-segment", "bad", f"SIU^{trigger} has no SCH segment (the appointment).", "SCH"))
        elif sch != 1:
            add(Hl7Finding("segment-order", "warn", f"SCH (line {segments[sch].line}) should come right after MSH.",
                           f"line {segments[sch].line}"))
        for i, seg in enumerate(segments):
            if seg.name in ("AIS", "AIG", "AIL", "AIP") and (sch is None or i < sch):
                add(Hl7Finding("segment-order", "bad", f"{seg.name} (line {seg.line}) comes before the SCH it belongs to.",
                               f"line {seg.line}"))
    pid = _first(segments, "PID")
    if pid is None:
        severity: Severity = "warn" if kind == "SIU" else "bad"
        add(Hl7Finding("missing-pid", severity,
                       f"{kind}^{trigger} has no PID segment: the receiver cannot tell which patient this is about.", "PID"))
    elif kind != "SIU":
        stray = [s for s in segments[1:pid] if s.name not in _BEFORE_PID]
        if stray:
            add(Hl7Finding("segment-order", "bad",
                           f"PID (line {segments[pid].line}) should come right after MSH/EVN, but "
                           f"{', '.join(s.name for s in stray)} come before it: many receivers then drop the "
                           "patient.", f"line {segments[pid].line}"))
    if pid is not None:
        pv1 = _first(segments, "PV1")
        if pv1 is not None and pv1 < pid:
            add(Hl7Finding("segment-order", "warn", f"PV1 (line {segments[pv1].line}) comes before PID; it belongs after it.",
                           f"line {segments[pv1].line}"))
    first_obr, first_orc = _first(segments, "OBR"), _first(segments, "ORC")
    if kind in ORDER_TYPES:
        if first_obr is None:
            controls = {s.get(1).upper() for s in segments if s.name == "ORC"}
            if controls and controls <= _ENDING_CONTROLS:
                add(Hl7Finding("missing-segment", "info",
                               f"{kind}^{trigger} cancels or ends an order without its OBR: receivers that match on "
                               "OBR fields (accession, procedure) may not find the order to cancel.", "OBR"))
            else:
                add(Hl7Finding("missing-segment", "bad",
                               f"{kind}^{trigger} has no OBR segment: there is no exam to schedule.", "OBR"))
        if first_orc is None:
            add(Hl7Finding("missing-segment", "bad", f"{kind}^{trigger} has no ORC segment (common order).", "ORC"))
        orc_open = False  # an ORC that no OBR has followed yet
        for seg in segments:
            if seg.name == "OBR" and not orc_open and first_orc is not None:
                add(Hl7Finding("segment-order", "bad",
                               f"OBR (line {seg.line}) comes before its ORC: in {kind}^{trigger} every order starts "
                               "with ORC, then OBR. Receivers will drop or mis-file this order.", f"line {seg.line}"))
            if seg.name in ("ORC", "OBR"):
                orc_open = seg.name == "ORC"
    if kind == "ORU":
        if first_obr is None:
            add(Hl7Finding("missing-segment", "bad", "ORU has no OBR segment: the result cannot be tied to an exam.", "OBR"))
        first_obx = _first(segments, "OBX")
        if first_obx is not None and (first_obr is None or first_obx < first_obr):
            add(Hl7Finding("segment-order", "bad",
                           f"OBX (line {segments[first_obx].line}) comes before any OBR: the report text has no exam.",
                           f"line {segments[first_obx].line}"))


def _check_mrn(pid: Seg, options: Hl7Options, add: Callable[[Hl7Finding], None]) -> None:
    count = pid.repetitions(3)
    if count == 0 or not any(pid.get(3, 1, r) for r in range(1, count + 1)):
        add(Hl7Finding("missing-mrn", "bad",
                       "PID-3 (patient identifier list) is empty: the PACS cannot match this patient to their "
                       "studies.", "PID-3"))
        return
    authority = options.mrn_authority.strip().upper()
    for r in range(1, count + 1):
        value, kind = pid.get(3, 1, r), pid.get(3, 5, r).upper()
        if not value:
            continue
        if authority:
            if pid.get(3, 4, r).upper() == authority and kind in ("MR", ""):
                return
        elif kind == "MR":
            return
    if authority:
        text = (f"PID-3 has no MRN from {options.mrn_authority} (component 4, assigning authority): the PACS may file "
                "the images under an unknown or wrong patient.")
    else:
        text = ("PID-3 has no identifier of type MR (component 5): the PACS may not know which ID is the MRN, "
                "and file the images under an unknown or wrong patient.")
    add(Hl7Finding("missing-mrn", "warn", text, "PID-3"))


def _accession_of(group: OrderGroup, options: Hl7Options) -> tuple[str, str]:
    """The accession of one order and where it was found; ``("", "")`` when none."""
    for location in options.accession_fields:
        name, n, component = parse_location(location)
        seg = group.segment(name)
        if seg is not None:
            value = seg.get(n, component)
            if value:
                return value, location
    return "", ""


def _accessions(groups: Iterable[OrderGroup], options: Hl7Options) -> tuple[str, ...]:
    return tuple(dict.fromkeys(a for a, _ in (_accession_of(g, options) for g in groups) if a))


def _check_orders(kind: str, groups: Sequence[OrderGroup], options: Hl7Options,
                  add: Callable[[Hl7Finding], None]) -> None:
    where = " or ".join(options.accession_fields)
    seen: dict[str, dict[str, list[int]]] = {"accession": {}, "placer": {}, "filler": {}}
    for g in groups:
        orc, obr = g.orc, g.obr
        accession, _ = _accession_of(g, options)
        if obr is not None and not accession:
            add(Hl7Finding("missing-accession", "bad",
                           f"No accession number in {g.label} ({where} empty): the modality worklist entry has no "
                           "accession, and images and report cannot be matched to the order.", where,
                           "If this site carries the accession in another field, tell pacsbot where to look."))
        if obr is not None:
            code, text = obr.get(4, 1), obr.get(4, 2)
            if not code:
                add(Hl7Finding("missing-procedure-code", "bad" if not text else "warn",
                               f"OBR-4 (universal service ID: the procedure code) is "
                               f"{'empty' if not text else 'only a description, without a code'} in {g.label}: the "
                               "worklist, hanging protocols and routing rules cannot tell which exam this is.", "OBR-4"))
        for what, n in (("placer", 2), ("filler", 3)):
            in_orc = orc.get(n, 1) if orc is not None else ""
            in_obr = obr.get(n, 1) if obr is not None else ""
            if in_orc and in_obr and in_orc != in_obr:
                add(Hl7Finding(f"{what}-mismatch", "bad",
                               f"{what.capitalize()} order number differs between ORC-{n} ({in_orc}) and OBR-{n} "
                               f"({in_obr}) in {g.label}: the RIS may attach images or the report to the wrong order.",
                               f"ORC-{n}/OBR-{n}"))
            value = in_orc or in_obr
            if value:
                seen[what].setdefault(value, []).append(g.number)
        if accession:
            seen["accession"].setdefault(accession, []).append(g.number)
    accession_is = {parse_location(loc)[:2] for loc in options.accession_fields}
    for what, values in seen.items():
        if what == "placer" and accession_is & {("ORC", 2), ("OBR", 2)}:
            continue  # already reported as a duplicate accession
        if what == "filler" and accession_is & {("ORC", 3), ("OBR", 3)}:
            continue
        for value, numbers in values.items():
            if len(numbers) < 2:
                continue
            orders = ", ".join(f"#{n}" for n in numbers)
            if what == "accession":
                add(Hl7Finding("duplicate-accession", "warn",
                               f"Accession {value} is on {len(numbers)} orders ({orders}): the worklist shows one "
                               "entry and the images of all of them go into one study — fine only if the site groups "
                               "these procedures on purpose.", where))
            else:
                add(Hl7Finding(f"duplicate-{what}", "bad" if kind in ORDER_TYPES else "warn",
                               f"{what.capitalize()} order number {value} is on {len(numbers)} orders ({orders}): "
                               "each order needs its own, or updates land on the wrong exam.",
                               "ORC-2/OBR-2" if what == "placer" else "ORC-3/OBR-3"))
