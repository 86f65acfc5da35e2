"""Daily reconciliation: is every study of a day on the source (PACS) also, complete, on the archive (VNA)?

The routine data-quality audit of a PACS team, read-only like every diagnostic:

1. **List the day on each node** with STUDY-level C-FINDs keyed by ``StudyDate`` and asking
   for ``StudyInstanceUID``, ``AccessionNumber``, ``ModalitiesInStudy``, ``StudyTime`` and
   ``NumberOfStudyRelatedInstances`` — never a patient's name, ID or birth date. Both nodes
   are listed at once, each on its own thread with its own deadline, so a slow or dead node
   delays only its own answer.
2. **Page** where a node caps its answers: when a C-FIND comes back truncated (the node ended
   it with 0xFE00, or it reached ``max_results`` configured for the node, or our own safety
   cap), the day is split into ``StudyTime`` ranges, halving until every range fits; a single
   second that still does not fit is split by modality. Pages are merged by
   ``StudyInstanceUID``.
3. **Compare** by ``StudyInstanceUID``: missing on the archive, incomplete on the archive
   (fewer instances than on the source), only on the archive (informational).
4. **Count** where a node reports no ``NumberOfStudyRelatedInstances``: only for studies on
   both nodes, at SERIES level (``NumberOfSeriesRelatedInstances``), then image by image up
   to ``image_count_limit`` studies per node; past that the count is "unknown" and the report
   says so.

A node that cannot be asked makes the report say the comparison could not be made — never
"0 studies". This module never issues C-MOVE, C-GET or C-STORE (``commands.scu`` cannot).
"""

from __future__ import annotations

import csv
import io
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any, Literal

from pydicom.dataset import Dataset

from pacsbot.commands.concurrency import run_concurrently
from pacsbot.commands.config import ReconcileSettings
from pacsbot.commands.locate import (
    IMAGE_CAP,
    SERIES_CAP,
    _explain,
    _int,
    _values,
    answer_text,
    image_identifier,
    series_identifier,
)
from pacsbot.commands.query import resolve_nodes
from pacsbot.commands.results import Failure, NodeRef, to_public_dict
from pacsbot.commands.scu import FIND_MODEL, NodeError, Session, Target, open_session, stalled
from pacsbot.core.errors import UserError
from pacsbot.core.privacy import vouch

log = logging.getLogger(__name__)

# Our own cap on one C-FIND of a day's listing when the node has no ``max_results``: past it
# we cancel and page (a node with a lower limit of its own ends with 0xFE00 and we page too).
DAY_CAP = 5000
DAY_SECONDS = 86400
# Split a crowded single second by these (ModalitiesInStudy); other modalities are then missed.
PAGE_MODALITIES = ("CR", "CT", "DX", "MG", "MR", "NM", "OT", "PT", "RF", "SC", "SR", "US", "XA", "IO", "PX", "ES", "OP")
MAX_LISTED = 20  # accessions named in a summary; the CSV has the rest
MAX_AGE_DAYS = 366

CountSource = Literal["node", "series", "images", "unknown"]
Status = Literal["missing_on_archive", "incomplete", "count_unknown", "missing_on_source", "more_on_archive", "ok"]
STATUS_ORDER: tuple[str, ...] = ("missing_on_archive", "incomplete", "count_unknown", "missing_on_source", "more_on_archive", "ok")

RECONCILE_USAGE = "/pacs reconcile <YYYY-MM-DD|yesterday|today> [<source> <archive>]"


# ----------------------------------------------------------------------------------------
# results


@dataclass(frozen=True)
class DayStudy:
    """One study of the day on one node: no patient data at all."""

    uid: str
    accession: str = ""
    modalities: tuple[str, ...] = ()
    study_date: str = ""
    study_time: str = ""
    instances: int | None = None
    counts_from: CountSource = "unknown"


@dataclass(frozen=True)
class DayListing:
    """What one node holds for one day, or why it could not be asked."""

    node: NodeRef
    day: str  # YYYYMMDD
    studies: tuple[DayStudy, ...] = ()
    ms: int = 0
    queries: int = 0
    paged_by: tuple[str, ...] = ()  # "time", "modality": how the day had to be split
    complete: bool = True  # False: even the finest page was still truncated
    failure: Failure | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None

    def by_uid(self) -> dict[str, DayStudy]:
        return {s.uid: s for s in self.studies}

    def counts_from(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.studies:
            out[s.counts_from] = out.get(s.counts_from, 0) + 1
        return out


@dataclass(frozen=True)
class Row:
    """One line of the CSV: a study and how the two nodes compare on it."""

    status: Status
    uid: str
    accession: str
    modalities: tuple[str, ...]
    study_date: str
    study_time: str
    source_instances: int | None
    archive_instances: int | None


@dataclass(frozen=True)
class ReconcileReport:
    day: date
    source: DayListing
    archive: DayListing
    rows: tuple[Row, ...] = ()
    ms: int = 0

    @property
    def compared(self) -> bool:
        """Both nodes answered: the rows mean something."""
        return self.source.ok and self.archive.ok

    def of(self, status: str) -> list[Row]:
        return [r for r in self.rows if r.status == status]

    @property
    def missing_on_archive(self) -> list[Row]:
        return self.of("missing_on_archive")

    @property
    def incomplete(self) -> list[Row]:
        return self.of("incomplete")

    @property
    def missing_on_source(self) -> list[Row]:
        return self.of("missing_on_source")

    @property
    def count_unknown(self) -> list[Row]:
        return self.of("count_unknown")

    @property
    def all_archived(self) -> bool:
        """Compared, and every study of the source is on the archive, complete as far as counts show."""
        return self.compared and not self.missing_on_archive and not self.incomplete

    @property
    def outcome(self) -> str:
        if not self.compared:
            return "failed"
        return "ok" if self.all_archived else "differences"

    def counts(self) -> dict[str, Any]:
        """PHI-free and accession-free numbers (for the audit log)."""
        return {
            "day": self.day.isoformat(),
            "source_studies": len(self.source.studies) if self.source.ok else None,
            "archive_studies": len(self.archive.studies) if self.archive.ok else None,
            "missing_on_archive": len(self.missing_on_archive),
            "incomplete": len(self.incomplete),
            "count_unknown": len(self.count_unknown),
            "missing_on_source": len(self.missing_on_source),
            "source_complete": self.source.complete,
            "archive_complete": self.archive.complete,
            "queries": self.source.queries + self.archive.queries,
            "ms": self.ms,
        }


# ----------------------------------------------------------------------------------------
# input: the day and the pair


def parse_day(text: str, *, today: date) -> date:
    """``yesterday``, ``today`` or ``YYYY-MM-DD`` (``YYYYMMDD``): not in the future, not over a year old."""
    word = text.strip().lower()
    if not word:
        raise UserError(f"Which day? Usage: `{RECONCILE_USAGE}` — for example `/pacs reconcile yesterday`.")
    if word == "yesterday":
        return today - timedelta(days=1)
    if word == "today":
        return today
    digits = word.replace("-", "")
    if not (len(digits) == 8 and digits.isdigit() and (len(word) == 8 or (len(word) == 10 and word[4] == word[7] == "-"))):
        raise UserError(f"“{text.strip()[:20]}” is not a day I understand: write it as YYYY-MM-DD "
                        "(for example 2026-01-04), or say yesterday or today.")
    try:
        day = date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        raise UserError(f"{text.strip()} is not a real date.") from None
    if day > today:
        raise UserError(f"{day.isoformat()} is in the future: there is nothing to reconcile yet.")
    if (today - day).days > MAX_AGE_DAYS:
        raise UserError(f"{day.isoformat()} is more than {MAX_AGE_DAYS} days ago; reconcile a day within the last year.")
    return day


@dataclass(frozen=True)
class ReconcileRequest:
    day: date
    source: str | None = None
    archive: str | None = None


def parse_request(text: str, *, today: date) -> ReconcileRequest:
    words = text.split()
    if len(words) not in (1, 3):
        if not words:
            parse_day("", today=today)
        raise UserError(f"Give a day, and optionally the two nodes to compare: `{RECONCILE_USAGE}`.")
    day = parse_day(words[0], today=today)
    if len(words) == 3:
        return ReconcileRequest(day, words[1].lower(), words[2].lower())
    return ReconcileRequest(day)


def choose_pairs(request_source: str | None, request_archive: str | None, *, configured: Sequence[tuple[str, str]],
                 known: list[str], prefix: str = "/pacs") -> list[tuple[str, str]]:
    """The (source, archive) pairs to run: the ones named, else the configured ones, else pacs -> vna."""
    if request_source is not None and request_archive is not None:
        if request_source == request_archive:
            raise UserError("Name two different nodes: the source (e.g. pacs) and then the archive (e.g. vna).")
        resolve_nodes((request_source, request_archive), known, command="reconcile", prefix=prefix)
        return [(request_source, request_archive)]
    if configured:
        return list(configured)
    resolve_nodes((), known, command="reconcile", prefix=prefix)  # no nodes at all: say that first
    if "pacs" in known and "vna" in known:
        return [("pacs", "vna")]
    how = RECONCILE_USAGE if prefix == "/pacs" else "pacsbot reconcile --date YYYY-MM-DD --source NODE --archive NODE"
    raise UserError(
        f"No reconciliation is configured (dicom.reconcile.pairs), so name the two nodes to compare: `{how}`. "
        f"Configured nodes: {', '.join(known)}."
    )


# ----------------------------------------------------------------------------------------
# listing one day on one node


def _hhmmss(seconds: int) -> str:
    return f"{seconds // 3600:02d}{seconds % 3600 // 60:02d}{seconds % 60:02d}"


def time_range(low: int, high: int) -> str:
    """A StudyTime range matching key covering whole seconds ``low``..``high`` (fractions included)."""
    return f"{_hhmmss(low)}-{_hhmmss(high)}.999999"


def day_identifier(day: str, *, times: tuple[int, int] | None = None, modality: str | None = None) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.StudyDate = day
    ds.StudyTime = time_range(*times) if times is not None else ""
    ds.StudyInstanceUID = ""
    ds.AccessionNumber = ""
    ds.ModalitiesInStudy = modality or ""
    ds.NumberOfStudyRelatedInstances = None
    return ds


def _day_study(ds: Dataset) -> DayStudy:
    count = _int(ds, "NumberOfStudyRelatedInstances")
    return DayStudy(
        uid=answer_text(ds, "StudyInstanceUID"),
        accession=answer_text(ds, "AccessionNumber"),
        modalities=_values(ds, "ModalitiesInStudy"),
        study_date=answer_text(ds, "StudyDate"),
        study_time=answer_text(ds, "StudyTime"),
        instances=count,
        counts_from="node" if count is not None else "unknown",
    )


@dataclass
class _Paging:
    queries: int = 0
    by: set[str] = field(default_factory=set)
    complete: bool = True


def _list_pages(session: Session, day: str, cap: int, paging: _Paging) -> dict[str, DayStudy]:
    found: dict[str, DayStudy] = {}
    pages: list[tuple[tuple[int, int] | None, str | None]] = [(None, None)]
    while pages:
        times, modality = pages.pop()
        outcome = session.find(day_identifier(day, times=times, modality=modality), cap=cap)
        paging.queries += 1
        for ds in outcome.matches:
            study = _day_study(ds)
            if not study.uid or (study.study_date and study.study_date != day):
                continue  # no UID: nothing to compare by; another day: not ours (a lenient node)
            found.setdefault(study.uid, study)
        if not outcome.truncated and len(outcome.matches) + outcome.undecodable < cap:
            continue
        low, high = times if times is not None else (0, DAY_SECONDS - 1)
        if high > low:
            middle = (low + high) // 2
            paging.by.add("time")
            pages += [((middle + 1, high), modality), ((low, middle), modality)]
        elif modality is None:
            paging.by.add("modality")
            pages += [((low, high), m) for m in reversed(PAGE_MODALITIES)]
        else:
            paging.complete = False  # one second, one modality, still too many: keep what came
    return found


def _count_one(session: Session, uid: str, *, images: bool) -> tuple[int | None, CountSource]:
    """Instances of one study from its series (their counts, else image by image when allowed)."""
    series = session.find(series_identifier(uid), cap=SERIES_CAP)
    if series.truncated or series.undecodable:
        return None, "unknown"
    total = 0
    how: CountSource = "series"
    for ds in series.matches:
        count = _int(ds, "NumberOfSeriesRelatedInstances")
        if count is None:
            series_uid = answer_text(ds, "SeriesInstanceUID")
            if not images or not series_uid:
                return None, "unknown"
            found = session.find(image_identifier(uid, series_uid), cap=IMAGE_CAP)
            if found.truncated:
                return None, "unknown"
            count, how = len(found.matches) + found.undecodable, "images"
        total += count
    return total, how


def list_day(target: Target, day: date, *, cap: int | None = None, node_cap: int | None = None) -> DayListing:
    """Every study of ``day`` on one node (paged as needed), on one association. Never raises for the node."""
    started = time.monotonic()
    key = day.strftime("%Y%m%d")
    page_cap = min(c for c in (cap or DAY_CAP, node_cap or DAY_CAP))
    queries = 0
    for attempt in (1, 2):
        paging = _Paging()
        try:
            deadline = None if attempt == 1 else started + target.total_timeout  # the node's budget, not a new one
            with open_session(target, contexts=[FIND_MODEL], deadline=deadline) as session:
                found = _list_pages(session, key, page_cap, paging)
            break
        except NodeError as exc:
            queries += paging.queries
            # a C-FIND the archive took but never answered: once more, on a fresh association,
            # if the node's time budget allows (read-only, so asking twice is harmless)
            if attempt == 1 and stalled(exc.failure) and time.monotonic() - started < target.total_timeout * 0.75:
                log.info("reconcile: %s did not answer a C-FIND; asking once more", target.name)
                continue
            return DayListing(target.ref, key, ms=_ms(started), queries=queries, failure=_explain(target, exc.failure))
    paging.queries += queries
    studies = tuple(sorted(found.values(), key=lambda s: (s.study_time, s.accession, s.uid)))
    return DayListing(target.ref, key, studies, _ms(started), paging.queries, tuple(sorted(paging.by)), paging.complete)


def fill_counts(target: Target, listing: DayListing, uids: set[str], *, image_limit: int) -> DayListing:
    """Counts for the studies in ``uids`` that the node did not report (SERIES, then IMAGE level)."""
    needed = [s for s in listing.studies if s.uid in uids and s.instances is None]
    if not needed or not listing.ok:
        return listing
    started = time.monotonic()
    counted: dict[str, DayStudy] = {}
    queries = 0
    try:
        with open_session(target, contexts=[FIND_MODEL]) as session:
            images_left = image_limit
            for study in needed:
                count, how = _count_one(session, study.uid, images=images_left > 0)
                queries += 1
                if how == "images":
                    images_left -= 1
                counted[study.uid] = replace(study, instances=count, counts_from=how)
    except NodeError:
        pass  # the listing stands; counts we could not get stay unknown, and those rows say so
    return replace(listing, ms=listing.ms + _ms(started), queries=listing.queries + queries,
                   studies=tuple(counted.get(s.uid, s) for s in listing.studies))


# ----------------------------------------------------------------------------------------
# comparing


def compare(day: date, source: DayListing, archive: DayListing, *, ms: int = 0) -> ReconcileReport:
    """Rows for every study on either node; none when a node could not be asked."""
    if not (source.ok and archive.ok):
        return ReconcileReport(day, source, archive, (), ms)
    theirs = archive.by_uid()
    rows: list[Row] = []
    for s in source.studies:
        a = theirs.pop(s.uid, None)
        if a is None:
            status: Status = "missing_on_archive"
        elif s.instances is None or a.instances is None:
            status = "count_unknown"
        elif a.instances < s.instances:
            status = "incomplete"
        elif a.instances > s.instances:
            status = "more_on_archive"
        else:
            status = "ok"
        rows.append(Row(status, s.uid, s.accession or (a.accession if a else ""), s.modalities or (a.modalities if a else ()),
                        s.study_date or source.day, s.study_time, s.instances, a.instances if a else None))
    for a in theirs.values():
        rows.append(Row("missing_on_source", a.uid, a.accession, a.modalities, a.study_date or archive.day, a.study_time,
                        None, a.instances))
    rows.sort(key=lambda r: (STATUS_ORDER.index(r.status), r.study_time, r.accession, r.uid))
    return ReconcileReport(day, source, archive, tuple(rows), ms)


def reconcile(source: Target, archive: Target, day: date, settings: ReconcileSettings, *,
              source_cap: int | None = None, archive_cap: int | None = None) -> ReconcileReport:
    """List ``day`` on both nodes at once, compare, count where needed (read-only C-FIND only)."""

    started = time.monotonic()
    targets = [replace(source, total_timeout=max(source.total_timeout, settings.timeout)),
               replace(archive, total_timeout=max(archive.total_timeout, settings.timeout))]
    caps = {targets[0].name: source_cap, targets[1].name: archive_cap}
    index = {t.name: i for i, t in enumerate(targets)}

    def gave_up(target: Target, ms: int) -> DayListing:
        return DayListing(target.ref, day.strftime("%Y%m%d"), ms=max(ms, 0), failure=_gave_up(target, ms))

    listings = run_concurrently(
        targets, lambda t: list_day(t, day, node_cap=caps[t.name]), gave_up,
    )
    first = compare(day, listings[0], listings[1])
    if first.compared:
        # Counts are needed where both hold the study; on the source also for the missing
        # ones (how many images never reached the archive).
        both = {r.uid for r in first.rows if r.status == "count_unknown"}
        wanted = {targets[0].name: both | {r.uid for r in first.missing_on_archive}, targets[1].name: both}
        if any(wanted.values()):
            listings = run_concurrently(
                targets,
                lambda t: fill_counts(t, listings[index[t.name]], wanted[t.name], image_limit=settings.image_count_limit),
                lambda t, ms: listings[index[t.name]],
            )
    return compare(day, listings[0], listings[1], ms=_ms(started))


def _gave_up(target: Target, ms: int) -> Failure:
    if ms < 0:
        return Failure("internal", "something went wrong on our side while asking this node (it has been logged)")
    return Failure("timeout", f"no complete answer within {target.total_timeout:g} s; gave up",
                   "The node is down or very slow. The other node was not held up.")


def _ms(started: float) -> int:
    return int(round((time.monotonic() - started) * 1000))


# ----------------------------------------------------------------------------------------
# telling people: summary, CSV, JSON — accession numbers and counts only, never patient data


def pair_label(report: ReconcileReport) -> str:
    return f"{report.source.node.name} → {report.archive.node.name}"


def _accession(row: Row) -> str:
    return row.accession or f"(no accession, study UID …{row.uid[-8:]})"


def _listed(rows: list[Row], show: Callable[[Row], str], limit: int = MAX_LISTED) -> str:
    shown = ", ".join(show(r) for r in rows[:limit])
    if len(rows) > limit:
        shown += f" and {len(rows) - limit} more — see the CSV"
    return shown


def _images(row: Row) -> str:
    return f"{_accession(row)} ({row.archive_instances} of {row.source_instances} images)"


def _studies(n: int) -> str:
    return f"{n} {'study' if n == 1 else 'studies'}"


def summary(report: ReconcileReport, *, marks: bool = True) -> str:
    """One paragraph for the admin channel or a terminal. ``marks``: lead with a Slack emoji."""
    src, arc = report.source, report.archive
    head = f"{pair_label(report)}, {vouch(report.day.isoformat())}"
    if not report.compared:
        parts = []
        for listing in (src, arc):
            if listing.failure is not None:
                parts.append(f"{listing.node.name}: {listing.failure.message}")
            else:
                parts.append(f"{listing.node.name} answered ({_studies(len(listing.studies))})")
        text = f"{head}: the comparison could not be made — " + "; ".join(parts) + "."
        return (":x: " if marks else "") + text
    counts = f"{_studies(len(src.studies))} on {src.node.name}, {len(arc.studies)} on {arc.node.name}"
    problems = []
    if report.missing_on_archive:
        problems.append(f"{len(report.missing_on_archive)} missing from {arc.node.name}: "
                        f"{_listed(report.missing_on_archive, _accession)}")
    if report.incomplete:
        problems.append(f"{len(report.incomplete)} incomplete: {_listed(report.incomplete, _images)}")
    notes = []
    if report.count_unknown:
        notes.append(f"instance counts unknown for {_studies(len(report.count_unknown))} (neither the node nor its "
                     "series reported them; see the CSV)")
    if report.missing_on_source:
        notes.append(f"{len(report.missing_on_source)} only on {arc.node.name} (informational)")
    for listing in (src, arc):
        if not listing.complete:
            notes.append(f"the listing of {listing.node.name} may be incomplete: even the smallest page hit its result limit")
    if problems:
        text = f"{head}: {counts} — " + "; ".join(problems) + "."
        lead = ":warning: "
    else:
        text = f"{head}: {counts} — all archived and complete." if not report.count_unknown else \
            f"{head}: {counts} — all archived."
        lead = ":white_check_mark: " if not notes else ":large_yellow_circle: "
    if notes:
        text += " " + "; ".join(n[0].upper() + n[1:] for n in notes) + "."
    return (lead if marks else "") + text


CSV_COLUMNS = ("status", "accession", "modality", "study_date", "study_time", "source_instances", "archive_instances", "study_uid")


def csv_text(report: ReconcileReport) -> str:
    """Every study of the day on either node, problems first. No patient names or IDs."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in report.rows:
        writer.writerow([
            r.status, _csv_safe(r.accession), "/".join(r.modalities), _pretty_date(r.study_date), _pretty_time(r.study_time),
            "" if r.source_instances is None else r.source_instances,
            "" if r.archive_instances is None else r.archive_instances, r.uid,
        ])
    return out.getvalue()


def csv_filename(report: ReconcileReport) -> str:
    return f"reconcile-{report.source.node.name}-{report.archive.node.name}-{report.day.isoformat()}.csv"


def _csv_safe(value: str) -> str:
    """A spreadsheet must not run a cell as a formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


def _pretty_date(value: str) -> str:
    return f"{value[:4]}-{value[4:6]}-{value[6:8]}" if len(value) == 8 and value.isdigit() else value


def _pretty_time(value: str) -> str:
    digits = value.split(".")[0]
    if len(digits) >= 4 and digits.isdigit():
        return f"{digits[:2]}:{digits[2:4]}" + (f":{digits[4:6]}" if len(digits) >= 6 else "")
    return value


def to_json(report: ReconcileReport) -> dict[str, Any]:
    def side(listing: DayListing) -> dict[str, Any]:
        return {
            "node": listing.node.name, "ae_title": listing.node.ae_title, "ok": listing.ok,
            "studies": len(listing.studies) if listing.ok else None, "queries": listing.queries, "ms": listing.ms,
            "paged_by": list(listing.paged_by), "complete": listing.complete,
            "counts_from": listing.counts_from() if listing.ok else {},
            "failure": to_public_dict(listing.failure) if listing.failure else None,
        }

    return {
        "day": report.day.isoformat(), "outcome": report.outcome, "compared": report.compared,
        "all_archived": report.all_archived, "summary": summary(report, marks=False),
        "source": side(report.source), "archive": side(report.archive),
        "totals": {s: len(report.of(s)) for s in STATUS_ORDER},
        "rows": [{"status": r.status, "accession": r.accession, "modalities": list(r.modalities),
                  "study_date": _pretty_date(r.study_date), "study_time": _pretty_time(r.study_time),
                  "source_instances": r.source_instances, "archive_instances": r.archive_instances, "study_uid": r.uid}
                 for r in report.rows],
        "ms": report.ms,
    }
