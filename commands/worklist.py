"""The Modality Worklist check: what a scanner should see on its worklist, read-only.

A technologist says "my worklist is empty" or "the order is not on CT2". The orders come
from the RIS (through a broker, or a worklist provider on the scanner) as a Modality
Worklist SCP: a node of ``kind: worklist``. We ask it as the scanner would, with a
Modality Worklist Information Model - FIND (never anything that writes: no MPPS), and say
in plain words what we found:

    A1101: on the CT2 worklist for 14:30
    A1102: scheduled for CT1, not CT2
    A1103: scheduled for tomorrow (4 Dec) on CT2
    A1199: not on any worklist — the order may not have reached the RIS/broker
    A1001: already performed — 242 images in the archive (pacs, vna)

A query is ``<station AE | modality> [today|tomorrow|YYYYMMDD]`` (the list a scanner would
get) or ``<accession> [on <station AE>]`` (where one order is scheduled). Like locate, an
accession is matched exactly (the same validation as ``commands.query``), and nothing a user
types can widen a query into a listing of everything: no wildcards, one day at a time.

"Already performed" needs the archives: the caller (bot or command line) runs a locate for
the accession and passes its outcome in (:class:`Performed`); this module asks only
worklist nodes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from pydicom.dataset import Dataset

from pacsbot.commands.config import check_ae_title
from pacsbot.commands.locate import answer_text
from pacsbot.commands.query import node_names, parse_dates, refuse_patterns, split_words, validate_accession
from pacsbot.commands.results import (
    Failure,
    Finding,
    LocateReport,
    NodeWorklist,
    ScheduledItem,
    Severity,
    Verdict,
)
from pacsbot.commands.scu import WORKLIST_MODEL, Associations, NodeError, Session, Target, echo, with_association
from pacsbot.commands.verdict import plural, total_images
from pacsbot.core.errors import UserError

log = logging.getLogger(__name__)

WORKLIST_USAGE = "/pacs worklist <station AE | modality> [today|tomorrow|YYYYMMDD] | <accession> [on <station AE>]"

# DICOM modality codes (PS3.3 C.7.3.1.1.1) a worklist is commonly asked by. A word that is one
# of these is a modality, not a station AE title.
MODALITIES = frozenset({
    "CR", "CT", "DX", "ES", "IO", "MG", "MR", "NM", "OP", "OT", "PT", "PX", "RF", "RG", "US", "XA", "XC",
    "BMD", "OCT", "IVOCT", "IVUS", "EPS", "HD", "ECG", "LS", "SM", "DOC",
})
# A word with this many digits or more is read as an accession number (A1101, 20260412345);
# station AE titles (CT2, MR_1, US-ER) have a few at most. --accession / --station say which.
ACCESSION_DIGITS = 4
_DAY_WORDS = {"today": 0, "tomorrow": 1, "yesterday": -1}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_FLAGS = ("--node", "--nodes", "--accession", "--acc", "--station", "--ae", "--modality", "--date")
_CLOSED_STATUSES = ("COMPLETED", "DISCONTINUED", "CANCELED", "CANCELLED")


@dataclass(frozen=True)
class WorklistQuery:
    """One validated worklist request: an accession (optionally with the station the user
    expected it on), or a station AE title / modality and one day. No PHI in here."""

    accession: str | None = None
    station: str | None = None
    modality: str | None = None
    day: date | None = None
    nodes: tuple[str, ...] = ()

    @property
    def by_accession(self) -> bool:
        return self.accession is not None

    def describe(self) -> str:
        """Plain words for what was asked (PHI-free)."""
        if self.accession is not None:
            return f"accession {self.accession}" + (f" on {self.station}" if self.station else "")
        what = f"station {self.station}" if self.station else f"modality {self.modality}"
        return what + (f", {self.day.isoformat()}" if self.day else "")


@dataclass(frozen=True)
class Performed:
    """What the archives say about the accession (a locate's outcome, passed in by the caller)."""

    found: bool
    images: int | None = None
    where: tuple[str, ...] = ()

    @classmethod
    def from_locate(cls, report: LocateReport) -> "Performed":
        holders = [n for n in report.nodes if n.found]
        counts = [c for c in (total_images(n.studies) for n in holders) if c is not None]
        return cls(bool(holders), max(counts) if counts else None, tuple(n.node.name for n in holders))

    @classmethod
    def of(cls, value: "Performed | LocateReport | int | None") -> "Performed | None":
        """Whatever the caller has: a locate report, an image count (0: not performed), or this."""
        if value is None or isinstance(value, Performed):
            return value
        if isinstance(value, LocateReport):
            return cls.from_locate(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise TypeError("performed must be a Performed, a LocateReport, an image count or None")
        return cls(value > 0, value)


# ----------------------------------------------------------------------------------------
# parsing what a person typed


def _day(word: str, today: date) -> date:
    offset = _DAY_WORDS.get(word.lower())
    if offset is not None:
        return today + timedelta(days=offset)
    dates = parse_dates(word)
    if dates.start != dates.end:
        raise UserError("One day at a time, please: a worklist is asked for one day (today, tomorrow or YYYYMMDD).")
    return dates.start


def _looks_like_day(word: str) -> bool:
    compact = word.replace("-", "")
    return word.lower() in _DAY_WORDS or (compact.isdigit() and len(compact) in (8, 16))


def _station(raw: str) -> str:
    value = raw.replace("\u00a0", " ").strip()
    if not value:
        raise UserError(f"The station AE title is empty. Usage: `{WORKLIST_USAGE}`")
    refuse_patterns(value, "station AE title")
    if " " in value:
        raise UserError(f"“{value[:20]}” has a space in it; give the station's AE title as one word, like CT2.")
    try:
        return check_ae_title(value).upper()
    except ValueError as exc:
        raise UserError(f"“{value[:20]}” is not a station AE title: {exc}.") from None


def _modality(raw: str) -> str:
    value = raw.strip().upper()
    refuse_patterns(value, "modality")
    if value not in MODALITIES:
        raise UserError(f"“{raw[:10]}” is not a modality I know. Use a DICOM code such as CT, MR, CR, DX, US or MG.")
    return value


def _is_accession(word: str) -> bool:
    return sum(c.isdigit() for c in word) >= ACCESSION_DIGITS


def parse_worklist(text: str, *, today: date) -> WorklistQuery:
    """Parse ``CT2``, ``CT``, ``CT2 tomorrow``, ``CT2 20261204``, ``A1101``, ``A1101 on CT2``,
    with ``--node NAME`` (and ``--accession``/``--station``/``--modality``/``--date`` to say
    which a word is). ``today`` is the site's date (the caller knows its time zone)."""
    words = split_words(text)
    return make_worklist_query(words, today=today)


def make_worklist_query(words: Sequence[str], *, nodes: Sequence[str] = (), today: date,
                        usage: str = WORKLIST_USAGE) -> WorklistQuery:
    """Validate a worklist request from its words (chat) or arguments (the command line)."""
    words = list(words)
    accession = station = modality = day_text = None
    wanted_nodes: list[str] = list(nodes)
    bare: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        option = word.lower()
        if option.startswith("--") and "=" in option:
            option, _, inline = word.partition("=")
            option = option.lower()
            words[i:i + 1] = [option, inline]
        if option in _FLAGS:
            if i + 1 >= len(words) or (words[i + 1].startswith("--") and len(words[i + 1]) > 2):
                raise UserError(f"{option} needs a value. Usage: `{usage}`")
            value = words[i + 1]
            if option in ("--node", "--nodes"):
                wanted_nodes.append(value)
            elif option in ("--accession", "--acc"):
                if accession is not None:
                    raise UserError("One accession number at a time, please.")
                accession = value
            elif option in ("--station", "--ae"):
                if station is not None:
                    raise UserError("Give one station only.")
                station = value
            elif option == "--modality":
                if modality is not None:
                    raise UserError("Give one modality only.")
                modality = value
            else:
                if day_text is not None:
                    raise UserError("Give one date only.")
                day_text = value
            i += 2
            continue
        if word.startswith("-") and len(word) > 1:
            raise UserError(f"I don't know the option {word[:30]}. Usage: `{usage}`")
        bare.append(word)
        i += 1
    _place_bare(bare, usage, slots := {"accession": accession, "station": station, "modality": modality, "day": day_text})
    accession, station, modality, day_text = slots["accession"], slots["station"], slots["modality"], slots["day"]
    if accession is None and station is None and modality is None:
        raise UserError(f"Which worklist? Give a station AE title, a modality or an accession number. Usage: `{usage}`")
    if accession is not None:
        if modality is not None:
            raise UserError("An accession number is already one order: give it alone, or with the station you expected it on.")
        if day_text is not None:
            raise UserError("An accession number is already one order: no date needed (I look on every day the worklist holds).")
        return WorklistQuery(accession=validate_accession(accession), station=_station(station) if station else None,
                             nodes=node_names(wanted_nodes))
    if station is not None and modality is not None:
        raise UserError("Give a station or a modality, not both (a station AE title is one scanner).")
    return WorklistQuery(
        station=_station(station) if station is not None else None,
        modality=_modality(modality) if modality is not None else None,
        day=_day(day_text, today) if day_text is not None else today,
        nodes=node_names(wanted_nodes),
    )


def _place_bare(bare: list[str], usage: str, slots: dict[str, str | None]) -> None:
    """Sort the words typed without an option into accession / station / modality / day."""
    if "on" in [w.lower() for w in bare]:  # "A1101 on CT2"
        at = [w.lower() for w in bare].index("on")
        before, after = bare[:at], bare[at + 1:]
        if len(before) != 1 or len(after) != 1:
            raise UserError(f"Write it as `<accession> on <station AE>`, like `A1101 on CT2`. Usage: `{usage}`")
        if slots["accession"] is not None or slots["station"] is not None:
            raise UserError("Give the accession number and the station once each.")
        slots["accession"], slots["station"] = before[0], after[0]
        return
    for word in bare:
        if _looks_like_day(word) and slots["day"] is None and (slots["station"] or slots["modality"] or word is not bare[0]):
            slots["day"] = word
            continue
        filled = [k for k in ("accession", "station", "modality") if slots[k] is not None]
        if filled:
            if _looks_like_day(word):
                raise UserError("Give one date only.")
            raise UserError(
                f"I read “{slots[filled[0]]}” as the {filled[0]}; what is “{word[:20]}”? "
                f"After a station or modality only a day may follow (today, tomorrow, YYYYMMDD). Usage: `{usage}`"
            )
        if word.upper() in MODALITIES:
            slots["modality"] = word
        elif _is_accession(word):
            slots["accession"] = word
        else:
            slots["station"] = word


# ----------------------------------------------------------------------------------------
# the MWL C-FIND


def worklist_identifier(query: WorklistQuery, *, want_phi: bool) -> Dataset:
    """The Modality Worklist identifier: matching keys from the query, the rest universal
    (return keys). Patient keys only when they will be shown."""
    ds = Dataset()
    ds.AccessionNumber = query.accession or ""
    ds.RequestedProcedureID = ""
    ds.RequestedProcedureDescription = ""
    if want_phi:
        ds.PatientName = ""
        ds.PatientID = ""
    step = Dataset()
    step.ScheduledStationAETitle = query.station if (query.station and query.accession is None) else ""
    step.Modality = query.modality or ""
    step.ScheduledProcedureStepStartDate = query.day.strftime("%Y%m%d") if query.day else ""
    step.ScheduledProcedureStepStartTime = ""
    step.ScheduledStationName = ""
    step.ScheduledProcedureStepDescription = ""
    step.ScheduledProcedureStepID = ""
    step.ScheduledProcedureStepStatus = ""
    ds.ScheduledProcedureStepSequence = [step]
    return ds


def _items(ds: Dataset, want_phi: bool) -> list[ScheduledItem]:
    """One :class:`ScheduledItem` per scheduled procedure step in a response."""
    try:
        steps = list(ds.get("ScheduledProcedureStepSequence") or [])
    except Exception:  # noqa: BLE001 - a broken sequence: the order is still worth reporting
        steps = []
    common = {
        "accession": answer_text(ds, "AccessionNumber"),
        "requested_procedure_id": answer_text(ds, "RequestedProcedureID"),
        "procedure": answer_text(ds, "RequestedProcedureDescription"),
        "patient_id": answer_text(ds, "PatientID") if want_phi else None,
        "patient_name": answer_text(ds, "PatientName") if want_phi else None,
    }
    out = []
    for step in steps or [Dataset()]:
        out.append(ScheduledItem(
            step=answer_text(step, "ScheduledProcedureStepDescription"),
            date=answer_text(step, "ScheduledProcedureStepStartDate"),
            time=answer_text(step, "ScheduledProcedureStepStartTime"),
            modality=answer_text(step, "Modality"),
            station_ae=answer_text(step, "ScheduledStationAETitle"),
            station_name=answer_text(step, "ScheduledStationName"),
            status=answer_text(step, "ScheduledProcedureStepStatus").upper(),
            **common,  # type: ignore[arg-type]
        ))
    return out


def _wanted(item: ScheduledItem, query: WorklistQuery) -> bool:
    """Exact matching on our side too, whatever the node's matching rules (a lenient node
    must not turn one order into several, or CT2's list into every station's)."""
    if query.accession is not None:
        return item.accession == query.accession
    if query.station is not None and item.station_ae != query.station:
        return False
    if query.modality is not None and item.modality and item.modality != query.modality:
        return False
    if query.day is not None and item.date and item.date != query.day.strftime("%Y%m%d"):
        return False
    return True


def _sort_key(item: ScheduledItem) -> tuple[str, str, str, str]:
    return (item.date, item.time, item.station_ae, item.accession)


def worklist_on_node(target: Target, query: WorklistQuery, *, cap: int, want_phi: bool = False,
                     pool: Associations | None = None) -> NodeWorklist:
    """The MWL C-FIND on one worklist node; never raises for the node's failure."""
    started = time.monotonic()
    identifier = worklist_identifier(query, want_phi=want_phi)

    def work(session: Session) -> tuple[list[ScheduledItem], Any]:
        found = session.find(identifier, cap=cap, model=WORKLIST_MODEL)
        items = [item for ds in found.matches for item in _items(ds, want_phi) if _wanted(item, query)]
        return items, found

    try:
        items, found = with_association(target, pool, work, model=WORKLIST_MODEL)
    except NodeError as exc:
        return NodeWorklist(target.ref, _ms(started), failure=_explain(target, exc.failure))
    items.sort(key=_sort_key)
    return NodeWorklist(target.ref, _ms(started), items=tuple(items), truncated=found.truncated,
                        truncated_by=found.truncated_by)


def _explain(target: Target, failure: Failure) -> Failure:
    """A C-FIND that aborts on a node that answers C-ECHO: we may not query its worklist."""
    if failure.code == "no-service":
        return Failure(
            "no-service", "the node accepted the association but does not offer Modality Worklist C-FIND",
            f"Is '{target.name}' really the worklist provider (RIS, broker)? Check its kind in dicom.nodes.",
        )
    if failure.code not in ("find-aborted", "closed"):
        return failure
    if echo(target).ok:
        return Failure(
            "find-not-permitted",
            f"echo works but the worklist query aborted: the calling AE title {target.calling_ae} is probably not "
            "allowed to query this worklist",
            f"Ask the worklist provider's administrator to allow Modality Worklist queries from {target.calling_ae}.",
        )
    return failure


def _ms(started: float) -> int:
    return int(round((time.monotonic() - started) * 1000))


# ----------------------------------------------------------------------------------------
# the verdict, in plain words (PHI-free: accessions, stations, dates, times, node names)


def day_words(value: date, today: date) -> str:
    """``today``, ``tomorrow (4 Dec)``, ``yesterday (2 Dec)``, ``10 Dec``, ``10 Dec 2027``."""
    short = f"{value.day} {_MONTHS[value.month - 1]}" + (f" {value.year}" if value.year != today.year else "")
    delta = (value - today).days
    if delta == 0:
        return "today"
    if delta == 1:
        return f"tomorrow ({short})"
    if delta == -1:
        return f"yesterday ({short})"
    return short


def _item_date(item: ScheduledItem) -> date | None:
    try:
        return date(int(item.date[:4]), int(item.date[4:6]), int(item.date[6:8]))
    except ValueError:
        return None


def _where(item: ScheduledItem) -> str:
    if item.station_ae:
        return item.station_ae
    return f"any {item.modality} station" if item.modality else "no station named"


def _at(item: ScheduledItem) -> str:
    return f" for {item.pretty_time}" if item.pretty_time else ""


def _status(item: ScheduledItem) -> str:
    return f" (marked {item.status.lower()})" if item.status in _CLOSED_STATUSES else ""


def _describe(item: ScheduledItem, today: date) -> str:
    """Where and when one order is scheduled, as a sentence fragment."""
    when = _item_date(item)
    if when == today:
        if item.station_ae:
            return f"on the {item.station_ae} worklist{_at(item)}{_status(item)}"
        return f"on the worklist of {_where(item)}{_at(item)}{_status(item)}"
    day = day_words(when, today) if when else "an unknown day"
    return f"scheduled for {day} on {_where(item)}{_at(item)}{_status(item)}"


def _common(nodes: Sequence[NodeWorklist], cap: int) -> list[Finding]:
    findings: list[Finding] = []
    for node in nodes:
        if node.failure is not None:
            findings.append(Finding("bad", f"Could not check {node.node.name}: {node.failure.message}."))
        elif node.truncated:
            if node.truncated_by == "node":
                text = (f"{node.node.name} stopped its answer at its own result limit after {plural(len(node.items), 'order')}: "
                        "the list from it is incomplete.")
            else:
                text = (f"{node.node.name} has more than {cap} matches; I stopped the query there (C-CANCEL), so the "
                        "list from it is incomplete. Ask for one station instead of a modality.")
            findings.append(Finding("warn", text))
    return findings


_RANK: dict[str, int] = {"ok": 0, "info": 1, "warn": 2, "bad": 3}


def _worst(*severities: Severity) -> Severity:
    return max(severities, key=lambda s: _RANK[s])


def worklist_verdict(query: WorklistQuery, nodes: Sequence[NodeWorklist], *, cap: int, today: date,
                     performed: Performed | None = None) -> Verdict:
    """One sentence an admin or technologist can act on, and the details."""
    if query.accession is not None:
        return _accession_verdict(query.accession, query.station, nodes, cap, today, performed)
    return _list_verdict(query, nodes, cap, today)


def _accession_verdict(accession: str, station: str | None, nodes: Sequence[NodeWorklist], cap: int, today: date,
                       performed: Performed | None) -> Verdict:
    findings = _common(nodes, cap)
    answered = [n for n in nodes if n.ok]
    failed = [n for n in nodes if not n.ok]
    unchecked = f" ({names_of(failed)} could not be checked)" if failed else ""
    severity: Severity = "warn" if failed else "ok"
    items = sorted({i for n in answered for i in n.items}, key=_sort_key)
    if performed is not None and performed.found:
        images = f"{plural(performed.images, 'image')} " if performed.images is not None else ""
        where = f" ({', '.join(performed.where)})" if performed.where else ""
        headline = f"{accession}: already performed — {images}in the archive{where}"
        open_items = [i for i in items if i.status not in _CLOSED_STATUSES]
        if open_items:
            headline += f"; still {_describe(open_items[0], today)}"
            findings.insert(0, Finding("info", "The worklist entry was not closed after the exam (no MPPS COMPLETED "
                                               "reached the RIS?); it may be scanned twice by mistake."))
            severity = _worst(severity, "info")
        return Verdict(severity, headline + unchecked, tuple(findings))
    if not answered:
        return Verdict("bad", f"Could not check the worklist for {accession}: no worklist node answered.", tuple(findings))
    if not items:
        where = "any worklist" if not failed else f"the worklist of {names_of(answered)}"
        findings.append(Finding("info", "Accession numbers must match exactly, capital letters included"
                                + (f". Did you mean {accession.upper()}?" if accession != accession.upper()
                                   else "; a mistyped number is the usual cause.")))
        findings.append(Finding("info", "If the order is in the RIS, the interface to the worklist provider (HL7 ORM "
                                        "to the broker) may be stuck or have rejected it."))
        if performed is None:
            findings.append(Finding("info", "If the exam was already done, its entry leaves the worklist: "
                                            "locate the accession to check the archive."))
        return Verdict("bad", f"{accession}: not on {where} — the order may not have reached the RIS/broker{unchecked}",
                       tuple(findings))

    def rank(item: ScheduledItem) -> tuple[int, int, int]:
        on_station = station is None or item.station_ae == station
        when = _item_date(item)
        return (0 if on_station else 1, 0 if when == today else 1, 1 if item.status in _CLOSED_STATUSES else 0)

    best = min(items, key=rank)
    when = _item_date(best)
    if station is not None and best.station_ae != station:
        day = "" if when == today else f" {day_words(when, today) if when else 'on an unknown day'}"
        if best.station_ae:
            headline = f"{accession}: scheduled for {best.station_ae}{day}, not {station}"
            findings.insert(0, Finding("warn", f"{station} will not see it on its worklist. Ask scheduling to move it to "
                                               f"{station}, or do the exam on {best.station_ae}."))
        else:
            headline = f"{accession}: scheduled for {_where(best)}{day}, not {station} by name"
            findings.insert(0, Finding("info", f"{station} sees it only if it asks its worklist by modality, "
                                               "not by its own AE title."))
        severity = _worst(severity, "warn" if best.station_ae else "info")
    else:
        headline = f"{accession}: {_describe(best, today)}"
        if when != today:
            severity = _worst(severity, "warn")
            if when is not None and when > today:
                findings.insert(0, Finding("warn", f"It is not on today's worklist: it is scheduled for "
                                                   f"{day_words(when, today)}. If the patient is here now, ask scheduling "
                                                   "to move the appointment."))
        if best.status in _CLOSED_STATUSES:
            severity = _worst(severity, "warn")
    others = [i for i in items if i is not best]
    if others:
        findings.append(Finding("info", "Also: " + "; ".join(_describe(i, today) for i in others[:5])
                                + (f"; and {len(others) - 5} more" if len(others) > 5 else "") + "."))
    return Verdict(severity, headline + unchecked, tuple(findings))


def names_of(nodes: Sequence[NodeWorklist]) -> str:
    items = [n.node.name for n in nodes]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1] if items else ""


def _list_verdict(query: WorklistQuery, nodes: Sequence[NodeWorklist], cap: int, today: date) -> Verdict:
    findings = _common(nodes, cap)
    answered = [n for n in nodes if n.ok]
    failed = [n for n in nodes if not n.ok]
    unchecked = f" ({names_of(failed)} could not be checked)" if failed else ""
    what = query.station or query.modality or "?"
    day = query.day or today
    when = day_words(day, today)
    if day == today:
        when = f"today ({day.day} {_MONTHS[day.month - 1]})"
    if not answered:
        return Verdict("bad", f"Could not check the {what} worklist: no worklist node answered.", tuple(findings))
    items = [i for n in answered for i in n.items]
    severity: Severity = "warn" if (failed or any(n.truncated for n in answered)) else "ok"
    if not items:
        hint = (f"Check that the RIS schedules to the station AE title {query.station} (AE titles are case-sensitive) "
                "and that the orders reached the worklist provider."
                if query.station else
                f"Check that the orders for {query.modality} reached the worklist provider (HL7 ORM to the broker).")
        findings.insert(0, Finding("info", hint))
        return Verdict(_worst(severity, "warn"), f"The {what} worklist for {when} is empty on {names_of(answered)}{unchecked}",
                       tuple(findings))
    more = "+" if any(n.truncated for n in answered) else ""
    closed = sum(1 for i in items if i.status in _CLOSED_STATUSES)
    tail = f" ({closed} marked done)" if closed else ""
    headline = f"{what} worklist for {when}: {len(items)}{more} scheduled{tail}"
    if len(answered) > 1:
        headline += f" on {names_of(answered)}"
    return Verdict(severity, headline + unchecked, tuple(findings))
