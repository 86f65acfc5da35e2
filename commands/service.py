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
from pacsbot.commands.config import WORKLIST_KIND, DicomSettings, NodeConfig
from pacsbot.commands.locate import CountMode, LocateOptions, locate_on_node, siblings_on_node
from pacsbot.commands.query import LocateQuery, resolve_nodes
from pacsbot.commands.results import (
    EchoResult,
    Failure,
    LocateReport,
    NodeLocate,
    NodeRef,
    NodeWorklist,
    WorklistReport,
)
from pacsbot.commands.scu import FIND_MODEL, WORKLIST_MODEL, Associations, Target, echo, target_for
from pacsbot.commands.verdict import locate_verdict, total_images
from pacsbot.commands.worklist import Performed, WorklistQuery, worklist_on_node, worklist_verdict
from pacsbot.core.errors import UserError

if TYPE_CHECKING:
    from datetime import date

    from pacsbot.commands.reconcile import ReconcileReport

# The commands that send a Study Root C-FIND: never to a worklist node (it holds orders, not
# images). "worklist" asks worklist nodes only; every other command (echo, the watch) all nodes.
STUDY_COMMANDS = frozenset({"locate", "reconcile"})

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

    def worklist_node_names(self) -> list[str]:
        return [n.name for n in self.nodes if n.kind == WORKLIST_KIND]

    def select(self, requested: Sequence[str], *, command: str, prefix: str = "/pacs") -> list[Target]:
        """The targets asked for (all that fit the command when none); unknown names, and a
        worklist node named for a locate (or an archive for a worklist check), are a clear
        UserError. Locate and reconcile never get a worklist node; worklist only gets those."""
        worklists = self.worklist_node_names()
        if command == "worklist":
            if not worklists:
                raise UserError(
                    "No worklist node is configured. A PACS admin adds the RIS or worklist broker under "
                    "`dicom: nodes:` with `kind: worklist`."
                )
            archives = [n for n in requested if n in self.node_names() and n not in worklists]
            if archives:
                raise UserError(
                    f"“{archives[0]}” is not a worklist node (it holds images, not orders). "
                    f"Worklist nodes: {', '.join(worklists)}. Example: `{prefix} worklist CT2 --node {worklists[0]}`."
                )
            known = worklists
        elif command in STUDY_COMMANDS:
            named = [n for n in requested if n in worklists]
            if named:
                raise UserError(
                    f"“{named[0]}” is a worklist node (it holds orders, not images), so {command} does not ask it. "
                    f"To see its orders: `{prefix} worklist <station|accession> --node {named[0]}`."
                )
            known = [n for n in self.node_names() if n not in worklists]
            if not known and worklists:
                raise UserError(
                    f"Only worklist nodes are configured ({', '.join(worklists)}); {command} needs an archive "
                    "(a node of kind pacs, vna, modality, router or other)."
                )
        else:
            known = self.node_names()
        names = resolve_nodes(tuple(requested), known, command=command, prefix=prefix)
        return [self._targets[n] for n in names]

    def target(self, name: str) -> Target:
        """The target of one configured node (the name must be one of :meth:`node_names`)."""
        return self._targets[name]

    # operations -------------------------------------------------------------------------
    def reconcile(self, source: str, archive: str, day: "date") -> ReconcileReport:
        """The daily reconciliation of ``source`` against ``archive`` for ``day`` (read-only C-FIND)."""
        from pacsbot.commands.reconcile import reconcile  # its study matching: not for a locate or an echo at the terminal

        for name in (source, archive):
            if name in self.worklist_node_names():
                raise UserError(f"“{name}” is a worklist node (it holds orders, not studies): reconcile two archives.")
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
        _refuse_worklist_nodes(targets, "locate")
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

    def locate_in_archives(self, accession: str) -> LocateReport | None:
        """The accession on every archive (no patient details): what tells a worklist check
        "already performed". None when only worklist nodes are configured."""
        try:
            archives = self.select([], command="locate")
        except UserError:
            return None
        return self.locate(LocateQuery(accession=accession), archives)

    def worklist(
        self,
        query: WorklistQuery,
        targets: Sequence[Target],
        *,
        today: "date",
        want_phi: bool = False,
        performed: "Performed | LocateReport | int | None" = None,
        interim_after: float | None = None,
        on_interim: Callable[[list[NodeWorklist], list[Target]], None] | None = None,
    ) -> WorklistReport:
        """The Modality Worklist check on every target (worklist nodes: :meth:`select` with
        ``command="worklist"``) at once. ``today`` is the site's date; ``performed`` is what
        the archives say about the accession (a locate report or an image count), when the
        caller has it: the verdict then says "already performed"."""
        started = time.monotonic()
        refused = [t.name for t in targets if t.ref.kind != WORKLIST_KIND]
        if refused:
            raise UserError(f"“{refused[0]}” is not a worklist node; only worklist nodes are asked for orders.")
        cap = self.settings.max_matches

        def gave_up(target: Target, ms: int) -> NodeWorklist:
            return NodeWorklist(target.ref, max(ms, 0), failure=_gave_up(target, ms))

        with Associations([WORKLIST_MODEL]) as pool:
            results = run_concurrently(
                targets, lambda t: worklist_on_node(t, query, cap=cap, want_phi=want_phi, pool=pool), gave_up,
                interim_after=interim_after, on_interim=on_interim,
            )
        verdict = worklist_verdict(query, results, cap=cap, today=today, performed=Performed.of(performed))
        if want_phi:
            self._tell(
                {i.patient_id for r in results for i in r.items if i.patient_id},
                {i.patient_name for r in results for i in r.items if i.patient_name},
            )
        return WorklistReport(query.describe(), tuple(results), verdict, cap, _ms(started))

    def _tell_identifiers(self, results: Sequence[NodeLocate]) -> None:
        ids: set[str] = set()
        names: set[str] = set()
        for result in results:
            for study in (*result.studies, *result.siblings):
                if study.patient_id:
                    ids.add(study.patient_id)
                if study.patient_name:
                    names.add(study.patient_name)
        self._tell(ids, names)

    def _tell(self, ids: set[str], names: set[str]) -> None:
        if self.on_identifiers is None:
            return
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


def _refuse_worklist_nodes(targets: Sequence[Target], command: str) -> None:
    """A Study Root C-FIND never goes to a worklist node, whoever built the targets."""
    named = [t.name for t in targets if t.ref.kind == WORKLIST_KIND]
    if named:
        raise UserError(f"“{named[0]}” is a worklist node (it holds orders, not images), so {command} does not ask it.")


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


def worklist_audit(report: WorklistReport, query: WorklistQuery, *, run: str, via: str, phi_shown: bool) -> list[AuditItem]:
    """One row per worklist node asked: what was asked (accession, station, modality, day),
    how many orders came back, the verdict's severity. Never patient IDs or names."""
    keys: dict[str, Any] = {}
    if query.accession is not None:
        keys["accession"] = query.accession
    if query.station is not None:
        keys["station"] = query.station
    if query.modality is not None:
        keys["modality"] = query.modality
    if query.day is not None:
        keys["date"] = query.day.strftime("%Y%m%d")
    items = []
    for node in report.nodes:
        details: dict[str, Any] = {
            "run": run, "via": via, "query": keys, "ms": node.ms, "orders": len(node.items),
            "truncated": node.truncated, "verdict": report.verdict.severity, "phi_shown": phi_shown,
        }
        if query.accession is None:
            details["accessions"] = sorted({i.accession for i in node.items if i.accession})[:25]
        if node.failure is not None:
            details.update(failure=node.failure.code, reason=node.failure.message)
        items.append(AuditItem(f"node:{node.node.name}", "ok" if node.ok else "failed", details))
    return items


def accession_check_audit(located: LocateReport, accession: str, *, run: str, via: str) -> list[tuple[str, AuditItem]]:
    """``(action, row)`` for a locate of one accession the bot makes on its own (a report's
    intake, an HL7 lookup, a worklist check's "already performed"): no patient details shown."""
    return [("dicom.locate", item) for item in locate_audit(located, LocateQuery(accession=accession), run=run, via=via,
                                                             pid_pseudonym=None, phi_shown=False)]


def worklist_check_audit(report: WorklistReport, query: WorklistQuery, located: LocateReport | None, *, run: str,
                         via: str, phi_shown: bool, locate_via: str | None = None) -> list[tuple[str, AuditItem]]:
    """``(action, row)`` for a worklist check: one ``dicom.worklist`` row per worklist node and,
    when the archives were located to tell "already performed", one ``dicom.locate`` row per
    archive (never with patient details)."""
    rows = [("dicom.worklist", item) for item in worklist_audit(report, query, run=run, via=via, phi_shown=phi_shown)]
    if located is not None and query.accession is not None:
        rows += accession_check_audit(located, query.accession, run=run, via=locate_via or via)
    return rows
