"""Locate a study on one node: STUDY-level C-FIND, then SERIES by StudyInstanceUID, then
IMAGE per series when a node does not report counts.

The hierarchical order is the standard's: a SERIES query names its study, an IMAGE query
names its study and series. Some nodes (Orthanc) are lenient and accept SERIES/IMAGE
queries keyed by accession alone; we do not rely on that. And since some nodes (Orthanc)
return only the keys that were asked for, every key we read is asked for explicitly.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Literal

from pydicom.dataset import Dataset

from pacsbot.commands.query import LocateQuery
from pacsbot.commands.results import Failure, NodeLocate, SeriesInfo, StudyInfo
from pacsbot.commands.scu import (
    Associations,
    FindOutcome,
    NodeError,
    Session,
    Target,
    echo,
    with_association,
)

# Caps for the counting queries (the study-level cap is configurable: dicom.max_matches).
SERIES_CAP = 500
IMAGE_CAP = 10000

CountMode = Literal["auto", "count"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LocateOptions:
    cap: int = 25
    want_phi: bool = False  # ask for PatientName / PatientBirthDate at all
    count_mode: CountMode = "auto"  # "count": ignore node-reported counts (tests, cross-checks)
    series_detail: bool = True  # SERIES level even when the study counts are known


def study_identifier(query: LocateQuery, *, want_phi: bool) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    if query.accession is not None:
        ds.AccessionNumber = query.accession
        ds.PatientID = ""
        ds.StudyDate = ""
    else:
        ds.PatientID = query.patient_id
        ds.StudyDate = query.dates.dicom if query.dates else ""
        ds.AccessionNumber = ""
    return _study_return_keys(ds, want_phi)


def sibling_identifier(patient_id: str, study_date: str, *, want_phi: bool) -> Dataset:
    """Same patient, same date: the studies an accession may have been filed under instead."""
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.PatientID = patient_id
    ds.StudyDate = study_date
    ds.AccessionNumber = ""
    return _study_return_keys(ds, want_phi)


def _study_return_keys(ds: Dataset, want_phi: bool) -> Dataset:
    ds.StudyInstanceUID = ""
    ds.StudyTime = ""
    ds.ModalitiesInStudy = ""
    ds.StudyDescription = ""
    ds.NumberOfStudyRelatedSeries = None
    ds.NumberOfStudyRelatedInstances = None
    if want_phi:
        ds.PatientName = ""
        ds.PatientBirthDate = ""
    return ds


def series_identifier(study_uid: str) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "SERIES"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = ""
    ds.Modality = ""
    ds.SeriesNumber = None
    ds.SeriesDescription = ""
    ds.NumberOfSeriesRelatedInstances = None
    return ds


def image_identifier(study_uid: str, series_uid: str) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "IMAGE"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.SOPInstanceUID = ""
    return ds


# ----------------------------------------------------------------------------------------
# reading answers defensively: a node may send nothing, empty values, or junk


def answer_text(ds: Dataset, keyword: str) -> str:
    """A value of a C-FIND answer as text ("" when absent, empty or undecodable; a multi-value
    joined with backslashes)."""
    try:
        value = ds.get(keyword)
    except Exception:  # noqa: BLE001 - an undecodable value is just unknown
        return ""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value).strip()
    return str(value).strip()


def _values(ds: Dataset, keyword: str) -> tuple[str, ...]:
    try:
        value = ds.get(keyword)
    except Exception:  # noqa: BLE001
        return ()
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split("\\") if v.strip())
    try:
        return tuple(str(v).strip() for v in value if str(v).strip())
    except TypeError:
        return (str(value).strip(),)


def _int(ds: Dataset, keyword: str) -> int | None:
    try:
        value = ds.get(keyword)
        if value is None or value == "":
            return None
        number = int(value)
    except Exception:  # noqa: BLE001
        return None
    return number if number >= 0 else None


def _study(ds: Dataset, want_phi: bool) -> StudyInfo:
    return StudyInfo(
        uid=answer_text(ds, "StudyInstanceUID"),
        accession=answer_text(ds, "AccessionNumber"),
        study_date=answer_text(ds, "StudyDate"),
        study_time=answer_text(ds, "StudyTime"),
        modalities=_values(ds, "ModalitiesInStudy"),
        description=answer_text(ds, "StudyDescription"),
        series_count=_int(ds, "NumberOfStudyRelatedSeries"),
        instance_count=_int(ds, "NumberOfStudyRelatedInstances"),
        counts_from="node",
        patient_id=answer_text(ds, "PatientID"),
        patient_name=answer_text(ds, "PatientName") if want_phi else None,
        birth_date=answer_text(ds, "PatientBirthDate") if want_phi else None,
    )


# ----------------------------------------------------------------------------------------
# one node


def _series_query(session: Session, study: StudyInfo, trust: bool) -> tuple[Any, bool]:
    """The SERIES-level C-FIND, asked again once when its answer is incomplete: cut short,
    a response that could not be decoded, or fewer series than the node itself counted."""
    found = None
    for _ in range(2):
        found = session.find(series_identifier(study.uid), cap=SERIES_CAP)
        complete = not found.truncated and found.undecodable == 0 and (
            not trust or study.series_count is None or len(found.matches) == study.series_count)
        if complete:
            return found, True
    return found, False


def _count_study(session: Session, study: StudyInfo, options: LocateOptions) -> StudyInfo:
    """Fill series detail and, where the node gave none, the counts (SERIES, then IMAGE)."""
    trust = options.count_mode == "auto"
    have_counts = trust and study.series_count is not None and study.instance_count is not None
    if have_counts and not options.series_detail:
        return study
    if not study.uid:
        return _replace(study, counts_from="unknown" if not have_counts else "node")
    found, complete = _series_query(session, study, trust)
    if not complete:
        # Half a series list would read as "series 2 missing on PACS": a false alarm that
        # sends someone to resend images. Say nothing about series rather than something wrong.
        log.info("dicom: %s gave an incomplete series list for a study; series not compared", session.target.name)
        if have_counts:
            return _replace(study, series=None)
        return _replace(study, series=None, counts_from="unknown", counts_exact=False)
    exact = True
    series: list[SeriesInfo] = []
    for ds in found.matches:
        uid = answer_text(ds, "SeriesInstanceUID")
        count = _int(ds, "NumberOfSeriesRelatedInstances") if trust else None
        count_exact = True
        if count is None and not have_counts and uid:
            images = session.find(image_identifier(study.uid, uid), cap=IMAGE_CAP)
            count = len(images.matches) + images.undecodable
            count_exact = not images.truncated
        series.append(SeriesInfo(
            uid=uid,
            number=answer_text(ds, "SeriesNumber"),
            modality=answer_text(ds, "Modality"),
            description=answer_text(ds, "SeriesDescription"),
            instances=count,
            instances_exact=count_exact,
        ))
    series.sort(key=lambda s: (_sort_number(s.number), s.uid))
    if have_counts:
        return _replace(study, series=tuple(series))
    known = [s.instances for s in series if s.instances is not None]
    instances = sum(known) if len(known) == len(series) else None
    modalities = study.modalities or tuple(sorted({s.modality for s in series if s.modality}))
    return _replace(
        study,
        series=tuple(series),
        series_count=len(series),
        instance_count=instances,
        counts_from="counted" if instances is not None else "unknown",
        counts_exact=exact and all(s.instances_exact for s in series),
        modalities=modalities,
    )


def _sort_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 1 << 30


def _replace(study: StudyInfo, **changes: Any) -> StudyInfo:
    from dataclasses import replace

    return replace(study, **changes)


def locate_on_node(target: Target, query: LocateQuery, options: LocateOptions, *, pool: Associations | None = None) -> NodeLocate:
    """STUDY query, then counts, on one association (the request's, from ``pool``, when given).
    Never raises for a node's failure."""
    started = time.monotonic()

    def work(session: Session) -> tuple[list[StudyInfo], FindOutcome]:
        found = session.find(study_identifier(query, want_phi=options.want_phi), cap=options.cap)
        studies = [_study(ds, options.want_phi) for ds in found.matches]
        if query.accession is not None:
            # Exact match only, case included, whatever the node's matching rules.
            studies = [s for s in studies if s.accession == query.accession]
        return [_count_study(session, s, options) for s in studies], found

    try:
        studies, found = with_association(target, pool, work)
    except NodeError as exc:
        return NodeLocate(target.ref, _ms(started), failure=_explain(target, exc.failure))
    studies.sort(key=lambda s: (s.study_date, s.study_time, s.accession, s.uid))
    return NodeLocate(
        target.ref, _ms(started), studies=tuple(studies),
        truncated=found.truncated, truncated_by=found.truncated_by,  # type: ignore[arg-type]
    )


def siblings_on_node(target: Target, patient_id: str, study_date: str, exclude_accession: str, options: LocateOptions,
                     *, pool: Associations | None = None) -> tuple[tuple[StudyInfo, ...], Failure | None]:
    """Studies of ``patient_id`` on ``study_date`` under another accession (counts included)."""

    def work(session: Session) -> list[StudyInfo]:
        found = session.find(sibling_identifier(patient_id, study_date, want_phi=options.want_phi), cap=options.cap)
        studies = [_study(ds, options.want_phi) for ds in found.matches]
        studies = [s for s in studies if s.accession != exclude_accession and s.patient_id == patient_id]
        quick = LocateOptions(cap=options.cap, want_phi=options.want_phi, count_mode=options.count_mode, series_detail=False)
        return [_count_study(session, s, quick) for s in studies]

    try:
        studies = with_association(target, pool, work)
    except NodeError as exc:
        return (), _explain(target, exc.failure)
    return tuple(sorted(studies, key=lambda s: (s.accession, s.uid))), None


def _explain(target: Target, failure: Failure) -> Failure:
    """A C-FIND that aborts on a node that answers C-ECHO: the calling AE is not allowed to query."""
    if failure.code not in ("find-aborted", "closed"):
        return failure
    check = echo(target)
    if check.ok:
        return Failure(
            "find-not-permitted",
            f"echo works but C-FIND aborted: the calling AE title {target.calling_ae} is probably not registered on that node",
            f"Ask the node's administrator to allow queries (C-FIND) from {target.calling_ae} at this server's address.",
        )
    return failure


def _ms(started: float) -> int:
    return int(round((time.monotonic() - started) * 1000))
