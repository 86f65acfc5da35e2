"""Small result objects the diagnostics return. Plain data: ``bot`` renders them.

Fields that hold PHI (patient ID, name, birth date) are marked ``repr=False`` so that a
stray ``log.info("%r", study)`` cannot leak them, and :func:`to_public_dict` drops them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["ok", "info", "warn", "bad"]

PHI_FIELDS = frozenset({"patient_id", "patient_name", "birth_date"})


def dicom_date(value: str) -> str:
    """A DICOM DA (YYYYMMDD) as 2026-01-05; anything else as it came."""
    return f"{value[:4]}-{value[4:6]}-{value[6:8]}" if len(value) == 8 and value.isdigit() else value


@dataclass(frozen=True)
class Failure:
    """Why a node could not be asked, in plain words (no PHI: safe to log, audit and post)."""

    code: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        return f"{self.message}. {self.hint}" if self.hint else self.message


@dataclass(frozen=True)
class NodeRef:
    """How a node is shown: name, kind and address come from the configuration only."""

    name: str
    kind: str
    ae_title: str
    host: str
    port: int
    tls: bool = False
    description: str = ""

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.ae_title}@{host}:{self.port}"


@dataclass(frozen=True)
class EchoResult:
    node: NodeRef
    ok: bool
    ms: int
    failure: Failure | None = None


@dataclass(frozen=True)
class SeriesInfo:
    uid: str
    number: str = ""
    modality: str = ""
    description: str = ""
    instances: int | None = None
    instances_exact: bool = True


@dataclass(frozen=True)
class StudyInfo:
    uid: str
    accession: str = ""
    study_date: str = ""
    study_time: str = ""
    modalities: tuple[str, ...] = ()
    description: str = ""
    series_count: int | None = None
    instance_count: int | None = None
    counts_from: Literal["node", "counted", "unknown"] = "unknown"
    counts_exact: bool = True
    series: tuple[SeriesInfo, ...] | None = None
    patient_id: str = field(default="", repr=False)
    patient_name: str | None = field(default=None, repr=False)
    birth_date: str | None = field(default=None, repr=False)

    @property
    def pretty_date(self) -> str:
        return dicom_date(self.study_date)


@dataclass(frozen=True)
class NodeLocate:
    """What one node said about a locate query."""

    node: NodeRef
    ms: int
    studies: tuple[StudyInfo, ...] = ()
    truncated: bool = False
    truncated_by: Literal["cap", "node"] | None = None
    failure: Failure | None = None
    # Studies of the same patient on the same date under another accession (accession mode).
    siblings: tuple[StudyInfo, ...] = ()

    @property
    def ok(self) -> bool:
        return self.failure is None

    @property
    def found(self) -> bool:
        return self.failure is None and bool(self.studies)


@dataclass(frozen=True)
class Finding:
    severity: Severity
    text: str
    # what a renderer may word for its reader: "patient-search" is the tip to search by patient
    # (a Slack user sees `/pacs locate ...` if they may, a terminal `pacsbot locate ...`)
    hint: str = ""


@dataclass(frozen=True)
class Verdict:
    severity: Severity
    headline: str
    findings: tuple[Finding, ...] = ()


@dataclass(frozen=True)
class LocateReport:
    query_text: str  # PHI-free description of what was asked
    by_patient: bool
    nodes: tuple[NodeLocate, ...]
    verdict: Verdict
    cap: int
    ms: int

    @property
    def all_answered(self) -> bool:
        return all(n.ok for n in self.nodes)


@dataclass(frozen=True)
class ScheduledItem:
    """One scheduled procedure step on a Modality Worklist, as a node returned it.

    ``patient_id``/``patient_name`` are filled only when patient details were asked for
    (``want_phi``); they are PHI: ``repr=False``, and :func:`to_public_dict` drops them.
    """

    accession: str = ""
    requested_procedure_id: str = ""
    procedure: str = ""  # RequestedProcedureDescription
    step: str = ""  # ScheduledProcedureStepDescription
    date: str = ""  # ScheduledProcedureStepStartDate, YYYYMMDD
    time: str = ""  # ScheduledProcedureStepStartTime, HHMMSS
    modality: str = ""
    station_ae: str = ""  # ScheduledStationAETitle ("" = any station of the modality)
    station_name: str = ""
    status: str = ""  # ScheduledProcedureStepStatus, when the node keeps it
    patient_id: str | None = field(default=None, repr=False)
    patient_name: str | None = field(default=None, repr=False)

    @property
    def pretty_time(self) -> str:
        t = self.time.split(".")[0]
        return f"{t[:2]}:{t[2:4]}" if len(t) >= 4 and t[:4].isdigit() else (f"{t[:2]}:00" if len(t) == 2 and t.isdigit() else "")

    @property
    def pretty_date(self) -> str:
        return dicom_date(self.date)


@dataclass(frozen=True)
class NodeWorklist:
    """What one worklist node said."""

    node: NodeRef
    ms: int
    items: tuple[ScheduledItem, ...] = ()
    truncated: bool = False
    truncated_by: Literal["cap", "node"] | None = None
    failure: Failure | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None


@dataclass(frozen=True)
class WorklistReport:
    query_text: str  # PHI-free description of what was asked
    nodes: tuple[NodeWorklist, ...]
    verdict: Verdict
    cap: int
    ms: int

    @property
    def all_answered(self) -> bool:
        return all(n.ok for n in self.nodes)

    @property
    def items(self) -> tuple[ScheduledItem, ...]:
        return tuple(item for node in self.nodes for item in node.items)


def to_public_dict(value: Any, *, include_phi: bool = False) -> Any:
    """A JSON-ready dict of a result, without PHI unless ``include_phi``."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(value):
            if f.name in PHI_FIELDS and not include_phi:
                continue
            out[f.name] = to_public_dict(getattr(value, f.name), include_phi=include_phi)
        return out
    if isinstance(value, (list, tuple)):
        return [to_public_dict(v, include_phi=include_phi) for v in value]
    if isinstance(value, dict):
        return {k: to_public_dict(v, include_phi=include_phi) for k, v in value.items()}
    return value
