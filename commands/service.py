"""The diagnostics as one object: the node registry, echo and locate across nodes at once.

``bot`` keeps one :class:`Diagnostics` per process (``services.features.dicom``) and the
command line builds its own. Every selected node is asked concurrently, each on its own
thread with its own deadline (``timeouts.total``), so a dead node answers "timed out" within
its timeout while the others have already answered.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from pacsbot.commands.concurrency import run_concurrently
from pacsbot.commands.config import DicomSettings, NodeConfig
from pacsbot.commands.locate import CountMode, LocateOptions, locate_on_node, siblings_on_node
from pacsbot.commands.query import LocateQuery, resolve_nodes
from pacsbot.commands.reconcile import ReconcileReport, reconcile
from pacsbot.commands.results import EchoResult, Failure, LocateReport, NodeLocate, NodeRef
from pacsbot.commands.scu import FIND_MODEL, Associations, Target, echo, target_for
from pacsbot.commands.verdict import locate_verdict, total_images

if TYPE_CHECKING:
    from datetime import date

log = logging.getLogger(__name__)



def _ms(started: float) -> int:
    return int(round((time.monotonic() - started) * 1000))


@dataclass(frozen=True)
class AuditItem:
    """One audit row to write: ``target`` is ``node:<name>``; ``details`` are PHI-free."""

    target: str
    outcome: str
    details: dict[str, Any]


class Diagnostics:
    """The node registry (configured nodes, plus demo nodes when they run) and its operations."""

    def __init__(self, settings: DicomSettings, *, extra_nodes: Sequence[NodeConfig] = (),
                 on_identifiers: Callable[[list[str], list[str]], None] | None = None):
        self.settings = settings
        # Told the patient IDs and names each locate returned (the privacy gate masks them
        # in channel posts for a while); must not raise.
        self.on_identifiers = on_identifiers
        self.nodes: list[NodeConfig] = [*settings.nodes, *extra_nodes]
        self._targets = {n.name: target_for(settings, n) for n in self.nodes}
        self._lock = threading.Lock()

    # registry ---------------------------------------------------------------------------
    def node_names(self) -> list[str]:
        return [n.name for n in self.nodes]

    def node_refs(self) -> list[NodeRef]:
        return [self._targets[n.name].ref for n in self.nodes]

    def select(self, requested: Sequence[str], *, command: str, prefix: str = "/pacs") -> list[Target]:
        """The targets asked for (all when none); unknown names are a clear UserError."""
        names = resolve_nodes(tuple(requested), self.node_names(), command=command, prefix=prefix)
        return [self._targets[n] for n in names]

    def target(self, name: str) -> Target:
        """The target of one configured node (the name must be one of :meth:`node_names`)."""
        return self._targets[name]

    # operations -------------------------------------------------------------------------
    def reconcile(self, source: str, archive: str, day: "date") -> ReconcileReport:
        """The daily reconciliation of ``source`` against ``archive`` for ``day`` (read-only C-FIND)."""

        caps = {n.name: n.max_results for n in self.nodes}
        return reconcile(self.target(source), self.target(archive), day, self.settings.reconcile,
                         source_cap=caps.get(source), archive_cap=caps.get(archive))

    def echo(
        self,
        targets: Sequence[Target],
        *,
        interim_after: float | None = None,
        on_interim: Callable[[list[EchoResult], list[Target]], None] | None = None,
        on_each: Callable[[EchoResult], None] | None = None,
    ) -> list[EchoResult]:
        def gave_up(target: Target, ms: int) -> EchoResult:
            return EchoResult(target.ref, False, max(ms, 0), _gave_up(target, ms))

        return run_concurrently(targets, echo, gave_up, interim_after=interim_after, on_interim=on_interim, on_each=on_each)

    def locate(
        self,
        query: LocateQuery,
        targets: Sequence[Target],
        *,
        want_phi: bool = False,
        count_mode: CountMode = "auto",
        interim_after: float | None = None,
        on_interim: Callable[[list[NodeLocate], list[Target]], None] | None = None,
    ) -> LocateReport:
        started = time.monotonic()
        options = LocateOptions(cap=self.settings.max_matches, want_phi=want_phi, count_mode=count_mode)

        def gave_up(target: Target, ms: int) -> NodeLocate:
            return NodeLocate(target.ref, max(ms, 0), failure=_gave_up(target, ms))

        # Study level first, with the counts the nodes report; series detail only where the
        # counts disagree (it names the missing series) - most locates need one query per node.
        # Every round with a node uses the same association (released when the locate ends).
        quick = replace(options, series_detail=False)
        with Associations([FIND_MODEL]) as pool:
            results = run_concurrently(
                targets, lambda t: locate_on_node(t, query, quick, pool=pool), gave_up,
                interim_after=interim_after, on_interim=on_interim,
            )
            detail = _needs_series(results)
            if detail:
                again = {r.node.name: r for r in run_concurrently(
                    [t for t in targets if t.name in detail], lambda t: locate_on_node(t, query, options, pool=pool),
                    gave_up) if r.ok}
                results = [again.get(r.node.name, r) for r in results]
            if query.accession is not None:
                results = self._with_siblings(query.accession, list(targets), results, options, pool)
        verdict = locate_verdict(query, results, cap=options.cap)
        self._tell_identifiers(results)
        return LocateReport(query.describe(), query.by_patient, tuple(results), verdict, options.cap, _ms(started))

    def _tell_identifiers(self, results: Sequence[NodeLocate]) -> None:
        if self.on_identifiers is None:
            return
        ids: set[str] = set()
        names: set[str] = set()
        for result in results:
            for study in (*result.studies, *result.siblings):
                if study.patient_id:
                    ids.add(study.patient_id)
                if study.patient_name:
                    names.add(study.patient_name)
        if ids or names:
            try:
                self.on_identifiers(sorted(ids), sorted(names))
            except Exception:  # noqa: BLE001 - a locate never fails for this; logged without values
                log.warning("dicom: could not pass %d identifiers to the privacy gate", len(ids) + len(names))

    def _with_siblings(self, accession: str, targets: list[Target], results: list[NodeLocate], options: LocateOptions,
                       pool: Associations | None = None) -> list[NodeLocate]:
        """Where the accession is missing or short, look for the same patient and date under another one."""
        holders = [r for r in results if r.found]
        if not holders:
            return results

        def size(r: NodeLocate) -> int:
            total = total_images(r.studies)
            return total if total is not None else -1

        best = max(holders, key=size)
        reference = max(best.studies, key=lambda s: s.instance_count or 0)
        if not reference.patient_id or not reference.study_date:
            return results
        best_size = size(best)
        needy = [i for i, r in enumerate(results) if r.ok and (not r.studies or 0 <= size(r) < best_size)]
        if not needy:
            return results

        def gave_up(target: Target, ms: int) -> tuple[tuple[Any, ...], Failure | None]:
            return (), _gave_up(target, ms)

        found = run_concurrently(
            [targets[i] for i in needy],
            lambda t: siblings_on_node(t, reference.patient_id, reference.study_date, accession, options, pool=pool),
            gave_up,
        )
        out = list(results)
        for i, (studies, failure) in zip(needy, found):
            if failure is not None:
                log.info("dicom: sibling check on %s failed: %s", targets[i].name, failure.code)
            out[i] = replace(out[i], siblings=tuple(studies))
        return out


def _gave_up(target: Target, ms: int) -> Failure:
    if ms < 0:
        return Failure("internal", "something went wrong on our side while asking this node (it has been logged)")
    return Failure(
        "timeout", f"no complete answer within {target.total_timeout:g} s; gave up",
        "The node is down or very slow. The other nodes were not held up.",
    )


# ----------------------------------------------------------------------------------------
# audit rows: who asked which node what, with what outcome, how long — never PHI


def new_run_id() -> str:
    return secrets.token_hex(4)


def echo_audit(results: Sequence[EchoResult], *, run: str, via: str) -> list[AuditItem]:
    return [
        AuditItem(
            f"node:{r.node.name}", "ok" if r.ok else "failed",
            {"run": run, "via": via, "ms": r.ms, "node_ae": r.node.ae_title,
             **({"failure": r.failure.code, "reason": r.failure.message} if r.failure else {})},
        )
        for r in results
    ]


def _needs_series(results: Sequence[NodeLocate]) -> set[str]:
    """The nodes to ask for series detail: those holding the study, when their image counts
    differ or are not known everywhere (the detail names what is missing where)."""
    holders = [r for r in results if r.ok and r.studies]
    if len(holders) < 2:
        return set()
    totals = {total_images(r.studies) for r in holders}
    if len(totals) == 1 and None not in totals:
        return set()
    return {r.node.name for r in holders if any(s.series is None for s in r.studies)}


def locate_audit(report: LocateReport, query: LocateQuery, *, run: str, via: str, pid_pseudonym: str | None, phi_shown: bool) -> list[AuditItem]:
    keys: dict[str, Any] = {}
    if query.accession is not None:
        keys["accession"] = query.accession
    else:
        keys["pid_pseudonym"] = pid_pseudonym
        if query.dates is not None:
            keys["study_date"] = query.dates.dicom
    items = []
    for node in report.nodes:
        details: dict[str, Any] = {
            "run": run, "via": via, "query": keys, "ms": node.ms,
            "studies": len(node.studies), "images": total_images(node.studies) if node.studies else 0,
            "truncated": node.truncated, "verdict": report.verdict.severity, "phi_shown": phi_shown,
        }
        if node.siblings:
            details["other_accessions"] = sorted({s.accession for s in node.siblings if s.accession})[:10]
        if node.failure is not None:
            details.update(failure=node.failure.code, reason=node.failure.message)
        items.append(AuditItem(f"node:{node.node.name}", "ok" if node.ok else "failed", details))
    return items
