"""Demo DICOM nodes: small Query/Retrieve SCPs (C-ECHO and C-FIND only) with synthetic studies.

Two archive nodes run on the loopback interface, on ports chosen when they start (and a demo
Modality Worklist, ``ris``, see :class:`DemoWorklist`):

* ``vna`` holds every study and reports study/series counts itself;
* ``pacs`` holds an incomplete copy and, like many real PACS, reports no counts (so pacsbot
  counts at SERIES and IMAGE level).

The differences are the problems an admin meets (see :data:`SCENARIOS`): a study missing
112 images on PACS, one not on PACS at all, one filed on PACS under another accession, one
split under two study UIDs. Everything is generated from a fixed seed with pydicom, and
every name is obviously fake (``DEMO^ALPHA``): there is no real patient data here.

The same studies can be written out as DICOM instances (:func:`instance_files`) to load a
real archive (Orthanc) in tests and benchmarks.
"""

from __future__ import annotations

import fnmatch
import functools
import io
import logging
import random
import socket
import ssl
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from pydicom import dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid
from pynetdicom import AE, evt
from pynetdicom.sop_class import (  # type: ignore[attr-defined]  # pynetdicom generates the SOP classes at import
    ModalityWorklistInformationFind,
    StudyRootQueryRetrieveInformationModelFind,
    Verification,
)

from pacsbot.commands.config import DicomSettings, NodeConfig
from pacsbot.commands.scu import keep_phi_out_of_pynetdicom_logs

log = logging.getLogger(__name__)

DEMO_SEED = 20260105
DEMO_DAY = date(2026, 1, 5)
UID_PREFIX = "1.2.826.0.1.3680043.8.498."  # pydicom's prefix, for test data

# What to try in the console, and what each shows.
SCENARIOS: dict[str, str] = {
    "A1001": "complete on both nodes",
    "A1002": "112 images missing on PACS",
    "A1003": "on the VNA only",
    "A1004": "filed on PACS under another accession (A1005)",
    "A1006": "split under two study UIDs on PACS",
    "A9999": "not found anywhere",
}
DEMO_PATIENT = "DEMO-0002"  # has several studies: try /pacs locate --patient DEMO-0002

# The daily reconciliation (pacs -> vna): yesterday's work on the demo PACS, with these
# problems on the demo VNA. Accessions D1001... are numbered in the order of daily_studies().
DAILY_COUNT = 12
DAILY_MISSING = ("D1003", "D1008", "D1011")  # on PACS, never archived
DAILY_INCOMPLETE = "D1005"  # archived without its last series
DAILY_ONLY_ON_ARCHIVE = "D1099"  # archived, no longer on PACS (informational)


@dataclass(frozen=True)
class DemoSeries:
    uid: str
    number: int
    modality: str
    description: str
    count: int

    def sop_uids(self) -> list[str]:
        return list(_sop_uids(self.uid, self.count))


@dataclass(frozen=True)
class DemoStudy:
    patient_id: str
    patient_name: str
    birth_date: str
    sex: str
    accession: str
    uid: str
    study_date: str
    study_time: str
    description: str
    series: tuple[DemoSeries, ...] = field(default_factory=tuple)

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(sorted({s.modality for s in self.series}))

    @property
    def instance_count(self) -> int:
        return sum(s.count for s in self.series)


@functools.lru_cache(maxsize=256)
def _sop_uids(series_uid: str, count: int) -> tuple[str, ...]:
    return tuple(generate_uid(prefix=UID_PREFIX, entropy_srcs=[series_uid, str(n)]) for n in range(1, count + 1))


_CALLSIGNS = ("ALPHA", "BRAVO", "CHARLIE", "DELTA", "ECHO", "FOXTROT", "GOLF", "HOTEL")
_EXAMS = {
    "CT": ("CT CHEST WITH CONTRAST", [("SCOUT", 2), ("AXIAL 1MM", 180), ("CORONAL MPR", 60)]),
    "MR": ("MR BRAIN WITHOUT CONTRAST", [("LOCALIZER", 3), ("T1 SAG", 24), ("T2 AX", 28), ("FLAIR AX", 28)]),
    "CR": ("XR CHEST 2 VIEWS", [("PA", 1), ("LATERAL", 1)]),
    "US": ("US ABDOMEN COMPLETE", [("LIVER", 20), ("KIDNEYS", 20)]),
    "DX": ("XR KNEE 3 VIEWS", [("AP", 1), ("LATERAL", 1), ("SUNRISE", 1)]),
}


def _uid(*parts: object) -> str:
    return generate_uid(prefix=UID_PREFIX, entropy_srcs=[str(DEMO_SEED), *(str(p) for p in parts)])


def _patients(rng: random.Random) -> list[tuple[str, str, str, str]]:
    out = []
    for i, sign in enumerate(_CALLSIGNS, start=1):
        born = date(1940, 1, 1) + timedelta(days=rng.randrange(0, 365 * 60))
        out.append((f"DEMO-{i:04d}", f"DEMO^{sign}", born.strftime("%Y%m%d"), rng.choice("FM")))
    return out


def _study(patient: tuple[str, str, str, str], accession: str, day: date, modality: str, rng: random.Random,
           series: list[tuple[str, int]] | None = None, description: str | None = None) -> DemoStudy:
    exam_description, exam_series = _EXAMS[modality]
    series = series or exam_series
    uid = _uid("study", accession)
    return DemoStudy(
        patient_id=patient[0], patient_name=patient[1], birth_date=patient[2], sex=patient[3],
        accession=accession, uid=uid, study_date=day.strftime("%Y%m%d"),
        study_time=f"{rng.randrange(7, 20):02d}{rng.randrange(0, 60):02d}00",
        description=description or exam_description,
        series=tuple(DemoSeries(_uid("series", accession, n), n, modality, d, c) for n, (d, c) in enumerate(series, start=1)),
    )


def demo_studies(seed: int = DEMO_SEED) -> list[DemoStudy]:
    """Every study of the demo archive (what the VNA holds), the same for the same seed."""
    rng = random.Random(seed)
    people = _patients(rng)
    studies = [
        _study(people[0], "A1001", DEMO_DAY, "CT", rng),
        _study(people[1], "A1002", DEMO_DAY, "CT", rng,
               series=[("SCOUT", 2), ("AXIAL 1MM", 298), ("CORONAL MPR", 112)], description="CT ABDOMEN PELVIS WITH CONTRAST"),
        _study(people[2], "A1003", DEMO_DAY, "MR", rng),
        _study(people[3], "A1004", DEMO_DAY, "CR", rng),
        _study(people[4], "A1006", DEMO_DAY, "US", rng),
    ]
    # A history for everyone, the same on both nodes: older studies under A2xxx accessions.
    number = 2001
    for person in people:
        for _ in range(rng.randrange(1, 4)):
            day = DEMO_DAY - timedelta(days=rng.randrange(30, 2000))
            studies.append(_study(person, f"A{number}", day, rng.choice(sorted(_EXAMS)), rng))
            number += 1
    return studies


def daily_studies(day: date, count: int = DAILY_COUNT, *, seed: int = DEMO_SEED, first: int = 1001,
                  prefix: str = "D") -> list[DemoStudy]:
    """One day's studies on the source (PACS): ``count`` studies spread over the day.

    Patients are their own (``DEMO-D…``), so patient searches of the other scenarios are
    unchanged. The incomplete scenario (:data:`DAILY_INCOMPLETE`) is always a CT (3 series).
    """
    rng = random.Random(f"{seed}-{day.isoformat()}-{count}")
    studies = []
    for i in range(count):
        accession = f"{prefix}{first + i}"
        modality = "CT" if accession == DAILY_INCOMPLETE else rng.choice(sorted(_EXAMS))
        description, series = _EXAMS[modality]
        seconds = (7 * 3600 + (i * 13 * 3600) // max(count, 1) + rng.randrange(0, 60)) % 86400
        uid = _uid("daily", day.isoformat(), accession)
        studies.append(DemoStudy(
            patient_id=f"DEMO-{prefix}{i % 97:03d}", patient_name=f"DEMO^DAY{i % 97}", birth_date="19700101",
            sex="FM"[i % 2], accession=accession, uid=uid, study_date=day.strftime("%Y%m%d"),
            study_time=f"{seconds // 3600:02d}{seconds % 3600 // 60:02d}{seconds % 60:02d}", description=description,
            series=tuple(DemoSeries(_uid("daily-series", uid, n), n, modality, d, c) for n, (d, c) in enumerate(series, start=1)),
        ))
    return studies


def archive_copy(studies: Sequence[DemoStudy], *, missing: Sequence[str] = DAILY_MISSING,
                 incomplete: Sequence[str] = (DAILY_INCOMPLETE,), only_on_archive: str | None = DAILY_ONLY_ON_ARCHIVE) -> list[DemoStudy]:
    """What the archive holds of a day's source studies: some never arrived, one lost a series."""
    out: list[DemoStudy] = []
    for study in studies:
        if study.accession in missing:
            continue
        if study.accession in incomplete and len(study.series) > 1:
            out.append(replace(study, series=study.series[:-1]))
        else:
            out.append(study)
    if only_on_archive and studies:
        model = studies[0]
        uid = _uid("daily", model.study_date, only_on_archive)
        out.append(replace(model, accession=only_on_archive, uid=uid, study_time="063000",
                           series=tuple(replace(se, uid=_uid("daily-series", uid, se.number)) for se in model.series)))
    return out


def pacs_copy(studies: Sequence[DemoStudy]) -> list[DemoStudy]:
    """What the demo PACS holds: the archive with the scenario's problems."""
    out: list[DemoStudy] = []
    for study in studies:
        if study.accession == "A1002":  # the coronal series never arrived
            out.append(replace(study, series=study.series[:2]))
        elif study.accession == "A1003":  # never sent to PACS
            continue
        elif study.accession == "A1004":  # keyed in under the wrong accession at the modality
            out.append(replace(study, accession="A1005", uid=_uid("study", "A1005")))
        elif study.accession == "A1006":  # each series arrived as its own study
            first, second = study.series
            out.append(replace(study, series=(first,)))
            out.append(replace(study, uid=_uid("study", "A1006", "split"), series=(second,)))
        else:
            out.append(study)
    return out


# ----------------------------------------------------------------------------------------
# DICOM instances, for loading a real archive


def instance_datasets(study: DemoStudy) -> Iterator[Dataset]:
    """The study as DICOM instances (Secondary Capture, no pixel data), made with pydicom."""
    for series in study.series:
        for number, sop_uid in enumerate(series.sop_uids(), start=1):
            ds = Dataset()
            ds.file_meta = FileMetaDataset()
            ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
            ds.file_meta.MediaStorageSOPInstanceUID = UID(sop_uid)
            ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds.SpecificCharacterSet = "ISO_IR 100"
            ds.SOPClassUID = SecondaryCaptureImageStorage
            ds.SOPInstanceUID = sop_uid
            ds.PatientID = study.patient_id
            ds.PatientName = study.patient_name
            ds.PatientBirthDate = study.birth_date
            ds.PatientSex = study.sex
            ds.AccessionNumber = study.accession
            ds.StudyInstanceUID = study.uid
            ds.StudyDate = study.study_date
            ds.StudyTime = study.study_time
            ds.StudyDescription = study.description
            ds.StudyID = study.accession
            ds.ReferringPhysicianName = ""
            ds.SeriesInstanceUID = series.uid
            ds.SeriesNumber = series.number
            ds.SeriesDescription = series.description
            ds.Modality = series.modality
            ds.InstanceNumber = number
            ds.ConversionType = "WSD"
            yield ds


def instance_files(study: DemoStudy) -> Iterator[bytes]:
    """Each instance as the bytes of a DICOM file (Part 10)."""
    for ds in instance_datasets(study):
        buffer = io.BytesIO()
        dcmwrite(buffer, ds, enforce_file_format=True)
        yield buffer.getvalue()


# ----------------------------------------------------------------------------------------
# matching (a small, strict subset of PS3.4 C.2.2.2)


def _matches(pattern: str, value: str, vr: str) -> bool:
    if pattern == "" or pattern == "*":
        return True
    if vr == "UI":
        return value in pattern.split("\\")
    if vr in ("DA", "TM") and "-" in pattern:
        low, _, high = pattern.partition("-")
        return (not low or value >= low) and (not high or value <= high)
    if "*" in pattern or "?" in pattern:
        return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))
    return value == pattern


_STUDY_KEYS: dict[str, tuple[str, Any]] = {
    "PatientID": ("LO", lambda s: s.patient_id),
    "PatientName": ("PN", lambda s: s.patient_name),
    "PatientBirthDate": ("DA", lambda s: s.birth_date),
    "PatientSex": ("CS", lambda s: s.sex),
    "AccessionNumber": ("SH", lambda s: s.accession),
    "StudyInstanceUID": ("UI", lambda s: s.uid),
    "StudyDate": ("DA", lambda s: s.study_date),
    "StudyTime": ("TM", lambda s: s.study_time),
    "StudyDescription": ("LO", lambda s: s.description),
    "StudyID": ("SH", lambda s: s.accession),
    "ModalitiesInStudy": ("CS", lambda s: "\\".join(s.modalities)),
}
_STUDY_COUNTS = {
    "NumberOfStudyRelatedSeries": lambda s: len(s.series),
    "NumberOfStudyRelatedInstances": lambda s: s.instance_count,
}
_SERIES_KEYS: dict[str, tuple[str, Any]] = {
    "SeriesInstanceUID": ("UI", lambda se: se.uid),
    "Modality": ("CS", lambda se: se.modality),
    "SeriesNumber": ("IS", lambda se: str(se.number)),
    "SeriesDescription": ("LO", lambda se: se.description),
}


def _value(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return str(value)


class DemoNode:
    """One demo SCP. ``start()`` binds a free port on ``host``; ``stop()`` closes it.

    Knobs for tests: ``report_counts`` (NumberOf*Related* answered or not), ``result_limit``
    (end a C-FIND with 0xFE00 after N matches, like Orthanc's LimitFindResults),
    ``allowed_callers`` (reject other calling AE titles at association), ``find_callers``
    (accept the association, then abort a C-FIND from others, like Orthanc) and
    ``ssl_context`` (DICOM TLS), ``stall_first_finds``/``stall_seconds`` (the first C-FINDs
    get no answer for a while, like a busy archive).
    """

    def __init__(
        self,
        name: str,
        ae_title: str,
        studies: Sequence[DemoStudy],
        *,
        kind: str = "other",
        report_counts: bool = True,
        result_limit: int = 0,
        allowed_callers: Sequence[str] | None = None,
        find_callers: Sequence[str] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        response_delay: float = 0.0,
        stall_first_finds: int = 0,
        stall_seconds: float = 0.0,
    ):
        self.name = name
        self.ae_title = ae_title
        self.kind = kind
        self.studies = list(studies)
        self.report_counts = report_counts
        self.result_limit = result_limit
        self.allowed_callers = list(allowed_callers) if allowed_callers is not None else None
        self.find_callers = set(find_callers) if find_callers is not None else None
        self.ssl_context = ssl_context
        self.host = host
        self.port = port
        self.response_delay = response_delay
        self.stall_first_finds = stall_first_finds  # these first C-FINDs wait stall_seconds before any answer
        self.stall_seconds = stall_seconds
        self.queries: list[str] = []  # the levels asked, in order (for tests)
        self.cancelled = 0
        self._server: Any = None
        self._lock = threading.Lock()

    # life -------------------------------------------------------------------------------
    # what the SCP offers: C-ECHO and one FIND model (the worklist demo offers its own)
    find_model: Any = StudyRootQueryRetrieveInformationModelFind

    def start(self) -> "DemoNode":
        keep_phi_out_of_pynetdicom_logs()  # the queries it answers carry patient IDs
        ae = AE(ae_title=self.ae_title)
        ae.add_supported_context(Verification)
        ae.add_supported_context(self.find_model)
        ae.require_called_aet = True  # like most archives: a wrong called AE title is rejected
        if self.allowed_callers is not None:
            ae.require_calling_aet = self.allowed_callers
        ae.maximum_associations = 20
        handlers: list[Any] = [  # pynetdicom's evt constants do not match its own start_server type
            (evt.EVT_C_ECHO, lambda event: 0x0000),
            (evt.EVT_C_FIND, self._on_find),
            (evt.EVT_CONN_OPEN, _nodelay),
        ]
        self._server = ae.start_server((self.host, self.port), block=False, evt_handlers=handlers, ssl_context=self.ssl_context)
        self.port = int(self._server.server_address[1])
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def __enter__(self) -> "DemoNode":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def node_config(self, **extra: Any) -> NodeConfig:
        return NodeConfig(name=self.name, ae_title=self.ae_title, host=self.host, port=self.port, kind=self.kind,  # type: ignore[arg-type]
                          description="demo node (synthetic data)", **extra)

    # C-FIND -----------------------------------------------------------------------------
    def _on_find(self, event: Any) -> Iterator[tuple[int, Dataset | None]]:
        if self.find_callers is not None and event.assoc.requestor.ae_title not in self.find_callers:
            event.assoc.abort()
            return
        query = event.identifier
        level = _value(query, "QueryRetrieveLevel")
        with self._lock:
            self.queries.append(level)
            stall = len(self.queries) <= self.stall_first_finds
        if stall:
            threading.Event().wait(self.stall_seconds)  # a busy archive: the C-FIND taken, nothing said
            if not event.assoc.is_established:
                return
        if level == "STUDY":
            records: list[tuple[DemoStudy, Any]] = [(s, None) for s in self.studies if self._study_matches(s, query)]
        elif level == "SERIES":
            study = self._one_study(query)
            if study is None:
                yield 0xA900, None  # a SERIES query must name its study (hierarchical model)
                return
            records = [(study, se) for se in study.series if self._series_matches(se, query)]
        elif level == "IMAGE":
            study = self._one_study(query)
            series_uid = _value(query, "SeriesInstanceUID")
            series = next((se for se in (study.series if study else ()) if se.uid == series_uid), None)
            if study is None or series is None or "\\" in series_uid:
                yield 0xA900, None
                return
            wanted = _value(query, "SOPInstanceUID")
            records = [(study, (series, sop)) for sop in series.sop_uids() if _matches(wanted, sop, "UI")]
        else:
            yield 0xA900, None
            return
        yield from self._pending(event, (functools.partial(self._answer, level, record, query) for record in records))

    def _pending(self, event: Any, answers: Iterable[Callable[[], Dataset]]) -> Iterator[tuple[int, Dataset | None]]:
        """Each answer as a pending response, as a node would: stopped by the caller's
        C-CANCEL or the node's own ``result_limit`` (0xFE00), ``response_delay`` apart."""
        sent = 0
        for answer in answers:
            if event.is_cancelled:
                with self._lock:
                    self.cancelled += 1
                yield 0xFE00, None
                return
            if self.result_limit and sent >= self.result_limit:
                yield 0xFE00, None
                return
            if self.response_delay:
                threading.Event().wait(self.response_delay)
            yield 0xFF00, answer()
            sent += 1

    def _one_study(self, query: Dataset) -> DemoStudy | None:
        uid = _value(query, "StudyInstanceUID")
        if not uid or "\\" in uid or "*" in uid or "?" in uid:
            return None
        return next((s for s in self.studies if s.uid == uid), None)

    def _study_matches(self, study: DemoStudy, query: Dataset) -> bool:
        for keyword, (vr, get) in _STUDY_KEYS.items():
            if keyword not in query:
                continue
            pattern = _value(query, keyword)
            if keyword == "ModalitiesInStudy":
                if pattern and not any(_matches(p, m, "CS") for p in pattern.split("\\") for m in study.modalities):
                    return False
                continue
            if not _matches(pattern, get(study), vr):
                return False
        return True

    def _series_matches(self, series: DemoSeries, query: Dataset) -> bool:
        for keyword, (vr, get) in _SERIES_KEYS.items():
            if keyword in query and not _matches(_value(query, keyword), get(series), vr):
                return False
        return True

    def _answer(self, level: str, record: Any, query: Dataset) -> Dataset:
        """Only the keys that were asked for, like Orthanc."""
        study, item = record
        ds = Dataset()
        ds.QueryRetrieveLevel = level
        asked = {elem.keyword for elem in query if elem.keyword}
        if "SpecificCharacterSet" in asked or level == "STUDY":
            ds.SpecificCharacterSet = "ISO_IR 100"
        for keyword in asked:
            if keyword in ("QueryRetrieveLevel", "SpecificCharacterSet"):
                continue
            if keyword in _STUDY_KEYS:
                setattr(ds, keyword, _STUDY_KEYS[keyword][1](study))
            elif keyword in _STUDY_COUNTS and level == "STUDY":
                if self.report_counts:
                    setattr(ds, keyword, _STUDY_COUNTS[keyword](study))
            elif level in ("SERIES", "IMAGE") and keyword in _SERIES_KEYS:
                series = item if level == "SERIES" else item[0]
                setattr(ds, keyword, _SERIES_KEYS[keyword][1](series))
            elif keyword == "NumberOfSeriesRelatedInstances" and level == "SERIES":
                if self.report_counts:
                    ds.NumberOfSeriesRelatedInstances = item.count
            elif keyword == "SOPInstanceUID" and level == "IMAGE":
                ds.SOPInstanceUID = item[1]
            elif keyword == "SOPClassUID" and level == "IMAGE":
                ds.SOPClassUID = SecondaryCaptureImageStorage
        return ds


def _nodelay(event: Any) -> None:
    try:
        event.assoc.dul.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except Exception:  # noqa: BLE001 - an optimisation only
        pass


# ----------------------------------------------------------------------------------------
# a demo Modality Worklist (the RIS / broker a scanner asks for its orders)

# What to try (``/pacs worklist ...``), and what each shows. The day is the worklist's today.
WORKLIST_SCENARIOS: dict[str, str] = {
    "A1101": "on the CT2 worklist today at 14:30",
    "A1102": "scheduled on CT1 (ask: A1102 on CT2)",
    "A1103": "on CT2, but tomorrow",
    "A1001": "already performed: in the archive, no longer on the worklist",
    "A1199": "not on the worklist at all (the order never reached the RIS/broker)",
}
WORKLIST_STATIONS = ("CT1", "CT2", "MR1", "US1")


@dataclass(frozen=True)
class DemoOrder:
    """One scheduled procedure step, as a RIS would hand it to a scanner (synthetic)."""

    accession: str
    requested_procedure_id: str
    procedure: str
    step: str
    step_id: str
    station_ae: str
    station_name: str
    modality: str
    date: str
    time: str
    patient_id: str
    patient_name: str
    birth_date: str
    sex: str
    study_uid: str
    status: str = "SCHEDULED"
    physician: str = "DEMO^RADIOLOGIST"


def demo_orders(today: date, seed: int = DEMO_SEED) -> list[DemoOrder]:
    """The demo worklist's orders around ``today``, the same for the same seed and day."""
    rng = random.Random(f"{seed}-worklist")
    tomorrow = today + timedelta(days=1)
    plan = [  # accession, station, modality, day, time, procedure
        ("A1101", "CT2", "CT", today, "143000", "CT HEAD WITHOUT CONTRAST"),
        ("A1102", "CT1", "CT", today, "101500", "CT CHEST WITH CONTRAST"),
        ("A1103", "CT2", "CT", tomorrow, "090000", "CT ABDOMEN PELVIS WITH CONTRAST"),
        ("A1104", "CT2", "CT", today, "160000", "CT SINUS"),
        ("A1105", "MR1", "MR", today, "111500", "MR BRAIN WITHOUT CONTRAST"),
        ("A1106", "US1", "US", today, "083000", "US ABDOMEN COMPLETE"),
    ]
    orders = []
    for n, (accession, station, modality, day, at, procedure) in enumerate(plan, start=1):
        born = date(1940, 1, 1) + timedelta(days=rng.randrange(0, 365 * 60))
        orders.append(DemoOrder(
            accession=accession, requested_procedure_id=f"RP{accession[1:]}", procedure=procedure, step=procedure,
            step_id=f"SPS{accession[1:]}", station_ae=station, station_name=f"{modality} SCANNER {station[-1]}",
            modality=modality, date=day.strftime("%Y%m%d"), time=at, patient_id=f"DEMO-W{n:03d}",
            patient_name=f"DEMO^WORKLIST{n}", birth_date=born.strftime("%Y%m%d"), sex=rng.choice("FM"),
            study_uid=_uid("order", accession),
        ))
    return orders


def order_datasets(order: DemoOrder) -> Dataset:
    """The order as a complete worklist item (what a RIS holds; also written to .wl files)."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.AccessionNumber = order.accession
    ds.ReferringPhysicianName = order.physician
    ds.PatientName = order.patient_name
    ds.PatientID = order.patient_id
    ds.PatientBirthDate = order.birth_date
    ds.PatientSex = order.sex
    ds.StudyInstanceUID = order.study_uid
    ds.RequestingPhysician = order.physician
    ds.RequestedProcedureDescription = order.procedure
    ds.RequestedProcedureID = order.requested_procedure_id
    ds.RequestedProcedurePriority = "ROUTINE"
    step = Dataset()
    step.ScheduledStationAETitle = order.station_ae
    step.ScheduledProcedureStepStartDate = order.date
    step.ScheduledProcedureStepStartTime = order.time
    step.Modality = order.modality
    step.ScheduledPerformingPhysicianName = order.physician
    step.ScheduledProcedureStepDescription = order.step
    step.ScheduledStationName = order.station_name
    step.ScheduledProcedureStepLocation = "RADIOLOGY"
    step.ScheduledProcedureStepID = order.step_id
    step.ScheduledProcedureStepStatus = order.status
    ds.ScheduledProcedureStepSequence = [step]
    return ds


_ORDER_KEYS: dict[str, tuple[str, Any]] = {
    "AccessionNumber": ("SH", lambda o: o.accession),
    "PatientID": ("LO", lambda o: o.patient_id),
    "PatientName": ("PN", lambda o: o.patient_name),
    "PatientBirthDate": ("DA", lambda o: o.birth_date),
    "PatientSex": ("CS", lambda o: o.sex),
    "StudyInstanceUID": ("UI", lambda o: o.study_uid),
    "RequestedProcedureID": ("SH", lambda o: o.requested_procedure_id),
    "RequestedProcedureDescription": ("LO", lambda o: o.procedure),
    "ReferringPhysicianName": ("PN", lambda o: o.physician),
}
_STEP_KEYS: dict[str, tuple[str, Any]] = {
    "ScheduledStationAETitle": ("AE", lambda o: o.station_ae),
    "ScheduledProcedureStepStartDate": ("DA", lambda o: o.date),
    "ScheduledProcedureStepStartTime": ("TM", lambda o: o.time),
    "Modality": ("CS", lambda o: o.modality),
    "ScheduledPerformingPhysicianName": ("PN", lambda o: o.physician),
    "ScheduledProcedureStepDescription": ("LO", lambda o: o.step),
    "ScheduledStationName": ("SH", lambda o: o.station_name),
    "ScheduledProcedureStepLocation": ("SH", lambda o: o.station_name),
    "ScheduledProcedureStepID": ("SH", lambda o: o.step_id),
    "ScheduledProcedureStepStatus": ("CS", lambda o: o.status),
}


class DemoWorklist(DemoNode):
    """A demo Modality Worklist SCP (C-ECHO and MWL C-FIND only) answering from synthetic
    orders (:func:`demo_orders` for ``today``, or ``orders``). The :class:`DemoNode` knobs
    apply: ``result_limit``, ``response_delay``, ``allowed_callers``, ``find_callers``,
    ``stall_first_finds``/``stall_seconds``."""

    find_model = ModalityWorklistInformationFind

    def __init__(self, name: str = "ris", ae_title: str = "DEMO_RIS", orders: Sequence[DemoOrder] | None = None, *,
                 today: date | None = None, seed: int = DEMO_SEED, **knobs: Any):
        super().__init__(name, ae_title, [], kind="worklist", **knobs)
        self.today = today or date.today()
        self.orders = list(orders) if orders is not None else demo_orders(self.today, seed)

    def _on_find(self, event: Any) -> Iterator[tuple[int, Dataset | None]]:
        if self.find_callers is not None and event.assoc.requestor.ae_title not in self.find_callers:
            event.assoc.abort()
            return
        query = event.identifier
        with self._lock:
            self.queries.append("WORKLIST")
            stall = len(self.queries) <= self.stall_first_finds
        if stall:
            threading.Event().wait(self.stall_seconds)
            if not event.assoc.is_established:
                return
        steps = query.get("ScheduledProcedureStepSequence")
        step_query = steps[0] if steps else Dataset()
        yield from self._pending(event, (
            functools.partial(self._order_answer, order, query, step_query, steps is not None)
            for order in self.orders if self._order_matches(order, query, step_query)))

    @staticmethod
    def _order_matches(order: DemoOrder, query: Dataset, step: Dataset) -> bool:
        for keys, ds in ((_ORDER_KEYS, query), (_STEP_KEYS, step)):
            for keyword, (vr, get) in keys.items():
                if keyword in ds and not _matches(_value(ds, keyword), get(order), vr):
                    return False
        return True

    @staticmethod
    def _order_answer(order: DemoOrder, query: Dataset, step_query: Dataset, with_steps: bool) -> Dataset:
        """Only the keys that were asked for."""
        ds = Dataset()
        ds.SpecificCharacterSet = "ISO_IR 100"
        for elem in query:
            if elem.keyword in _ORDER_KEYS:
                setattr(ds, elem.keyword, _ORDER_KEYS[elem.keyword][1](order))
        if with_steps:
            step = Dataset()
            for elem in step_query:
                if elem.keyword in _STEP_KEYS:
                    setattr(step, elem.keyword, _STEP_KEYS[elem.keyword][1](order))
            ds.ScheduledProcedureStepSequence = [step]
        return ds


# ----------------------------------------------------------------------------------------
# the pair of demo nodes the console uses


class DemoNetwork:
    """The demo ``vna`` and ``pacs`` nodes, on loopback ports chosen at start, and a demo
    Modality Worklist (``worklist``, named ``ris``) started and stopped with them.

    ``members`` and ``node_configs()`` are the two archives only (what locate, the watch and
    the tests count); ``node_configs(with_worklist=True)`` adds the worklist node.
    """

    def __init__(self, *, seed: int = DEMO_SEED, host: str = "127.0.0.1", daily_day: date | None = None,
                 worklist_day: date | None = None):
        archive = demo_studies(seed)
        # Yesterday (by this machine's date) has a day of work to reconcile, with problems.
        self.daily_day = daily_day or (date.today() - timedelta(days=1))
        self.daily = daily_studies(self.daily_day, seed=seed)
        self.vna = DemoNode("vna", "DEMO_VNA", archive + archive_copy(self.daily), kind="vna", report_counts=True, host=host)
        self.pacs = DemoNode("pacs", "DEMO_PACS", pacs_copy(archive) + self.daily, kind="pacs", report_counts=False, host=host)
        # Today's orders (by this machine's date unless given), with the worklist problems.
        self.worklist = DemoWorklist(today=worklist_day or date.today(), seed=seed, host=host)

    @property
    def members(self) -> list[DemoNode]:
        return [self.vna, self.pacs]

    def start(self) -> "DemoNetwork":
        started: list[DemoNode] = []
        try:
            for node in [*self.members, self.worklist]:
                started.append(node.start())
        except Exception:
            for node in started:
                node.stop()
            raise
        return self

    def stop(self) -> None:
        for node in [*self.members, self.worklist]:
            node.stop()

    def node_configs(self, *, with_worklist: bool = False) -> list[NodeConfig]:
        return [node.node_config() for node in [*self.members, *([self.worklist] if with_worklist else [])]]

    def __enter__(self) -> "DemoNetwork":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def demo_wanted(settings: DicomSettings, *, interactive: bool) -> bool:
    """``dicom.demo``: ``true`` always; ``auto`` in the console when no node is configured."""
    if settings.demo == "true":
        return True
    return settings.demo == "auto" and interactive and not settings.nodes


def banner_lines(network: DemoNetwork) -> list[str]:
    tries = " · ".join(f"{acc} ({what})" for acc, what in SCENARIOS.items())
    return [
        f"Demo DICOM nodes are running with synthetic data: vna on 127.0.0.1:{network.vna.port}, "
        f"pacs on 127.0.0.1:{network.pacs.port}.",
        "Try /pacs nodes, /pacs echo all, /pacs locate A1002 — demo accessions: " + tries + ".",
        f"By patient: /pacs locate --patient {DEMO_PATIENT}",
    ]


def worklist_banner_lines(network: DemoNetwork) -> list[str]:
    """What to try on the demo worklist (for a console that includes it: ``node_configs(with_worklist=True)``)."""
    tries = " · ".join(f"{acc} ({what})" for acc, what in WORKLIST_SCENARIOS.items())
    return [
        f"A demo Modality Worklist runs too: ris on 127.0.0.1:{network.worklist.port} (stations {', '.join(WORKLIST_STATIONS)}).",
        "Try /pacs worklist CT2, /pacs worklist CT2 tomorrow, /pacs worklist A1102 on CT2 — demo orders: " + tries + ".",
    ]
