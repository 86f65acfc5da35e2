"""``pacsbot worklist <station|modality> [day] | <accession> [on STATION]``: the Modality Worklist check.

What a scanner should see on its worklist, asked of the worklist nodes (``kind: worklist``)
with a read-only Modality Worklist C-FIND, for an admin at a terminal on the pacsbot server.
For an accession, the archives are located too (read-only Study Root C-FIND), so that an
order no longer on the worklist because it was already performed says so. Every run is
audited as ``cli:<login>``. Exit status: 0 when every worklist node answered, 1 when one
could not be asked, 2 when the input is refused. Patient name and ID are printed only with
``--show-phi`` (and never when ``dicom.show_phi`` is ``never``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any

from pacsbot.bot.cli.common import cli_actor, open_database, settings_from, subparser
from pacsbot.commands.results import to_public_dict
from pacsbot.core.errors import Refused, UserError

# A command line call pays for every import: pynetdicom and pydicom (the worklist module, the
# SCU), the demo SCPs and SQLAlchemy's ORM are imported where they are used.
if TYPE_CHECKING:
    from pacsbot.bot.settings import Settings
    from pacsbot.bot.storage import Database
    from pacsbot.commands.results import LocateReport, WorklistReport
    from pacsbot.commands.service import Diagnostics

WORKLIST_CLI_USAGE = "pacsbot worklist STATION|MODALITY [today|tomorrow|YYYYMMDD] | ACCESSION [on STATION] [--node NAME]"


def add_parser(sub: Any) -> None:
    worklist = subparser(
        sub, "worklist", "Check a Modality Worklist (read-only MWL C-FIND): what a scanner should see.",
        "Ask the worklist nodes (kind: worklist: the RIS, the broker) what is scheduled for a station or a "
        "modality on a day, or where one accession is scheduled - on which station, which day, or not at all. "
        "With an accession the archives are located too, to tell 'already performed'. "
        "Exit 1 if a worklist node could not be asked, 2 if the input is refused.",
    )
    worklist.add_argument("query", nargs="*", metavar="QUERY",
                          help="a station AE title or a modality, then today, tomorrow or YYYYMMDD (default today); "
                               "or an accession number, optionally 'on STATION'")
    worklist.add_argument("--station", metavar="AE", help="the station AE title (when it looks like an accession)")
    worklist.add_argument("--modality", metavar="CODE", help="a modality such as CT or MR")
    worklist.add_argument("--accession", metavar="ACCESSION", help="exact accession number (case-sensitive)")
    worklist.add_argument("--date", metavar="YYYYMMDD", help="the day (today, tomorrow or YYYYMMDD)")
    worklist.add_argument("--node", action="append", default=[], metavar="NAME", help="only this worklist node (repeatable)")
    worklist.add_argument("--no-archive", action="store_true",
                          help="with an accession: do not locate it on the archives ('already performed')")
    worklist.add_argument("--json", action="store_true", help="JSON on stdout instead of text")
    worklist.add_argument("--show-phi", action="store_true",
                          help="also print patient ID and name (not allowed when dicom.show_phi is never)")
    worklist.set_defaults(func=run_worklist)


def _today(settings: Settings) -> date:
    """The site's date (the top-level timezone): "today" on a worklist is the hospital's day."""
    from zoneinfo import ZoneInfo  # only here: the settings checked the name already

    return datetime.now(ZoneInfo(settings.timezone)).date()


def _now() -> datetime:
    return datetime.now(timezone.utc)


@contextlib.contextmanager
def _diagnostics(settings: Settings, db: Database) -> Iterator[Diagnostics]:
    """The configured nodes, plus the demo nodes and the demo worklist when ``dicom.demo: true``."""
    from pacsbot.bot.privacy_gate import build_gate  # its detector's patterns: only to run a check
    from pacsbot.commands.scu import quiet_pynetdicom  # pynetdicom and pydicom: only to ask the nodes
    from pacsbot.commands.service import Diagnostics

    quiet_pynetdicom()
    network = None
    if settings.dicom.demo == "true":
        from pacsbot.commands.demo import DemoNetwork  # the demo SCPs: only when they are to run

        network = DemoNetwork(worklist_day=_today(settings)).start()
    try:
        yield Diagnostics(settings.dicom, extra_nodes=network.node_configs(with_worklist=True) if network else (),
                          on_identifiers=build_gate(settings, db, _now).remember)
    finally:
        if network is not None:
            network.stop()


def _audit(db: Database) -> Any:
    from pacsbot.bot.audit import Audit  # SQLAlchemy's ORM: only once there is something to record

    return Audit(db)


def _audit_refusal(db: Database, reason: str) -> None:
    _audit(db).record(cli_actor(), "dicom.worklist", outcome="refused", details={"reason": reason, "via": "cli"})


def _words(args: argparse.Namespace) -> list[str]:
    words = list(args.query)
    for option in ("station", "modality", "accession", "date"):
        value = getattr(args, option)
        if value is not None:
            words += [f"--{option}", value]
    return words


def run_worklist(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    db = open_database(settings)  # audit first: no unaudited checks
    try:
        today = _today(settings)
        try:
            from pacsbot.commands.worklist import make_worklist_query  # pydicom: only to run a check

            query = make_worklist_query(_words(args), nodes=args.node, today=today, usage=WORKLIST_CLI_USAGE)
            if args.show_phi and settings.dicom.show_phi == "never":
                raise Refused("Patient details are switched off here (dicom.show_phi: never); run without --show-phi.")
        except UserError:
            _audit_refusal(db, "bad input")
            raise
        located: LocateReport | None = None
        with _diagnostics(settings, db) as diag:
            try:
                targets = diag.select(query.nodes, command="worklist", prefix="pacsbot")
            except UserError:
                _audit_refusal(db, "unknown node")
                raise
            if not args.json:
                print(f"Checking the worklist on {', '.join(t.name for t in targets)} for {query.describe()}…",
                      file=sys.stderr, flush=True)
            if query.accession is not None and not args.no_archive:
                located = diag.locate_in_archives(query.accession)
            report = diag.worklist(query, targets, today=today, want_phi=bool(args.show_phi), performed=located)
        _record(db, report, query, located, phi_shown=bool(args.show_phi))
        if args.json:
            data = to_public_dict(report, include_phi=bool(args.show_phi))
            data["archive"] = None if located is None else {"verdict": located.verdict.headline,
                                                            "severity": located.verdict.severity}
            print(json.dumps(data, indent=2))
        else:
            print("\n".join(worklist_lines(report, phi=bool(args.show_phi))))
        return 0 if report.all_answered else 1
    finally:
        db.dispose()


def _record(db: Database, report: WorklistReport, query: Any, located: LocateReport | None, *, phi_shown: bool) -> None:
    from pacsbot.commands.service import new_run_id, worklist_check_audit

    actor, run = cli_actor(), new_run_id()
    audit = _audit(db)
    with db.session() as session:
        for action, item in worklist_check_audit(report, query, located, run=run, via="cli", phi_shown=phi_shown):
            audit.record(actor, action, target=item.target, outcome=item.outcome, details=item.details, session=session)


def worklist_lines(report: WorklistReport, *, phi: bool = False) -> list[str]:
    """The report as text for a terminal: the verdict, its details, then each node's orders."""
    mark = {"ok": "OK", "info": "NOTE", "warn": "WARN", "bad": "PROBLEM"}
    lines = [f"{mark[report.verdict.severity]}: {report.verdict.headline}"]
    lines += [f"  - {f.text}" for f in report.verdict.findings]
    for node in report.nodes:
        lines.append("")
        if node.failure is not None:
            lines.append(f"{node.node.name} ({node.node.address}): could not be asked — {node.failure}")
            continue
        more = "+" if node.truncated else ""
        lines.append(f"{node.node.name} ({node.node.address}): {len(node.items)}{more} "
                     f"{'order' if len(node.items) == 1 else 'orders'} in {node.ms} ms")
        for item in node.items:
            station = item.station_ae or f"any {item.modality}"
            if item.station_name:
                station += f" ({item.station_name})"
            parts = [f"{item.pretty_date} {item.pretty_time or '--:--'}", item.modality or "?", station,
                     item.accession or "(no accession)", item.requested_procedure_id, item.procedure or item.step]
            if item.status and item.status != "SCHEDULED":
                parts.append(f"[{item.status.lower()}]")
            if phi:
                parts.append(f"patient {item.patient_id or '?'} {item.patient_name or ''}".rstrip())
            lines.append("  " + "  ".join(p for p in parts if p))
    return lines
