"""``pacsbot echo NODE|all`` and ``pacsbot locate ACCESSION | --patient ID [...]``.

The same read-only checks as ``/pacs echo`` and ``/pacs locate``, for an admin at a
terminal on the pacsbot server. Every run is audited as ``cli:<login>``. Exit status: 0 when
every node answered, 1 when a node could not be asked, 2 when the input is refused.
Patient name and birth date are printed only with ``--show-phi`` (and never when
``dicom.show_phi`` is ``never``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from pacsbot.bot.cli.common import cli_actor, open_database, settings_from, subparser
from pacsbot.commands.query import make_query, parse_echo
from pacsbot.commands.results import to_public_dict
from pacsbot.core.errors import Refused, UserError

# A command line call pays for every import: what only some paths need (SQLAlchemy's ORM,
# pynetdicom and pydicom, the demo SCP, the text renderer) is imported where it is used.
if TYPE_CHECKING:
    from pacsbot.bot.settings import Settings
    from pacsbot.bot.storage import Database
    from pacsbot.commands.config import DicomSettings
    from pacsbot.commands.service import Diagnostics

LOCATE_CLI_USAGE = "pacsbot locate ACCESSION | --patient ID [--date YYYYMMDD[-YYYYMMDD]] [--node NAME]"


def add_parser(sub: Any) -> None:
    echo = subparser(
        sub, "echo", "C-ECHO DICOM nodes (read-only): ok in N ms, or why not.",
        "Send a DICOM C-ECHO to configured nodes, all at once. Exit 1 if a node does not answer.",
    )
    echo.add_argument("nodes", nargs="*", metavar="NODE", help="node names from dicom.nodes, or all (the default)")
    echo.add_argument("--json", action="store_true", help="JSON on stdout instead of a table")
    echo.set_defaults(func=run_echo)

    locate = subparser(
        sub, "locate", "Find a study on the DICOM nodes and compare them (read-only C-FIND).",
        "Search every configured node at once by accession number, or by patient ID (and date), and say what to "
        "act on: images missing on a node, not found anywhere, another accession, a split study. "
        "Exit 1 if a node could not be asked, 2 if the input is refused.",
    )
    locate.add_argument("accession", nargs="?", metavar="ACCESSION", help="exact accession number (case-sensitive)")
    locate.add_argument("--patient", metavar="ID", help="exact patient ID instead of an accession number")
    locate.add_argument("--date", metavar="YYYYMMDD[-YYYYMMDD]", help="with --patient: the study date or a range")
    locate.add_argument("--node", action="append", default=[], metavar="NAME", help="only this node (repeatable)")
    locate.add_argument("--json", action="store_true", help="JSON on stdout instead of text")
    locate.add_argument("--show-phi", action="store_true",
                        help="also print patient name and birth date (not allowed when dicom.show_phi is never)")
    locate.add_argument("--pseudonym", action="store_true",
                        help="with --patient: print the pseudonym the audit log uses for that ID, and query nothing")
    locate.set_defaults(func=run_locate)


@contextlib.contextmanager
def _diagnostics(settings: Settings, db: Database | None = None) -> Iterator[Diagnostics]:
    """The configured nodes, plus the demo nodes for this command when ``dicom.demo: true``.
    With ``db``, the patient IDs and names a locate returns are remembered for the privacy
    gate of the running bot (keyed hashes in the database), as a locate in Slack does."""
    from pacsbot.commands.scu import quiet_pynetdicom  # pynetdicom and pydicom: only to ask the nodes
    from pacsbot.commands.service import Diagnostics

    quiet_pynetdicom()  # its own log lines repeat ours; we print the failure in plain words
    network = _start_demo() if _demo_wanted(settings.dicom) else None
    remember = _remember(settings, db) if db is not None else None
    try:
        # all the demo nodes, the worklist too, as in Slack: `echo all` checks the same three there and here
        yield Diagnostics(settings.dicom, extra_nodes=network.node_configs(with_worklist=True) if network else (),
                          on_identifiers=remember)
    finally:
        if network is not None:
            network.stop()


def _demo_wanted(dicom: DicomSettings) -> bool:
    """``commands.demo.demo_wanted(dicom, interactive=False)``, decided without importing that
    module (tests/commands/test_cli_dicom_imports.py keeps the two in step)."""
    return dicom.demo == "true"


def _start_demo() -> Any:
    from pacsbot.commands.demo import DemoNetwork  # the demo SCPs: only when they are to run

    return DemoNetwork().start()


def _remember(settings: Settings, db: Database) -> Any:
    from pacsbot.bot.privacy_gate import build_gate  # its detector's patterns: only with a database

    return build_gate(settings, db, _now).remember


def _audit(db: Database) -> Any:
    from pacsbot.bot.audit import Audit  # SQLAlchemy's ORM: only once there is something to record

    return Audit(db)


def _pseudonym(session: Any, patient_id: str) -> str:
    from pacsbot.commands.store import pseudonym, pseudonym_key  # SQLAlchemy's dialects: only by patient

    return pseudonym(patient_id, pseudonym_key(session, now=_now()))


def _now() -> datetime:
    return datetime.now(timezone.utc)


def run_echo(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    request = parse_echo(" ".join(args.nodes))
    db = open_database(settings)  # audit first: no unaudited checks
    try:
        with _diagnostics(settings) as diag:
            targets = diag.select(request.nodes, command="echo", prefix="pacsbot")
            if not args.json:
                print(f"Checking {', '.join(t.name for t in targets)}…", file=sys.stderr, flush=True)
            results = diag.echo(targets)
        from pacsbot.commands.service import echo_audit, new_run_id
        from pacsbot.commands.store import record_echoes  # SQLAlchemy's dialects: only to record

        actor, run = cli_actor(), new_run_id()
        audit = _audit(db)
        with db.session() as session:
            record_echoes(session, results, actor=actor, at=_now())
            for item in echo_audit(results, run=run, via="cli"):
                audit.record(actor, "dicom.echo", target=item.target, outcome=item.outcome, details=item.details, session=session)
        if args.json:
            print(json.dumps({"calling_ae": settings.dicom.ae_title, "results": to_public_dict(results)}, indent=2))
        else:
            from pacsbot.bot.render.diagnostics_text import echo_lines  # text output only

            print("\n".join(echo_lines(results, calling_ae=settings.dicom.ae_title)))
        return 0 if all(r.ok for r in results) else 1
    finally:
        db.dispose()


def _audit_refusal(db: Database, command: str, reason: str) -> None:
    _audit(db).record(cli_actor(), f"dicom.{command}", outcome="refused", details={"reason": reason, "via": "cli"})


def _with_took_ms(data: dict[str, Any], started: float) -> dict[str, Any]:
    """``took_ms`` for the whole locate (all nodes, in parallel) and for each node, so anyone
    can compare with ``findscu``; ``ms`` stays as before."""
    for node in data.get("nodes", ()):
        node["took_ms"] = node.get("ms")
    return {**data, "took_ms": round((time.perf_counter() - started) * 1000, 1)}


def run_locate(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    db = open_database(settings)
    try:
        try:
            query = make_query(accession=args.accession, patient=args.patient, dates=args.date, nodes=args.node,
                               today=_now().date() + timedelta(days=1), usage=LOCATE_CLI_USAGE)
            if args.show_phi and settings.dicom.show_phi == "never":
                raise Refused("Patient details are switched off here (dicom.show_phi: never); run without --show-phi.")
            if args.pseudonym and query.patient_id is None:
                raise UserError("--pseudonym goes with --patient ID.")
        except UserError:
            _audit_refusal(db, "locate", "bad input")
            raise
        if args.pseudonym:
            assert query.patient_id is not None
            with db.session() as session:
                value = _pseudonym(session, query.patient_id)
            _audit(db).record(cli_actor(), "dicom.pseudonym", details={"via": "cli"})
            print(value)
            return 0
        with _diagnostics(settings, db) as diag:
            try:
                targets = diag.select(query.nodes, command="locate", prefix="pacsbot")
            except UserError:
                _audit_refusal(db, "locate", "unknown node")
                raise
            if not args.json:
                print(f"Checking {', '.join(t.name for t in targets)} for {query.describe()}…", file=sys.stderr, flush=True)
            started = time.perf_counter()
            report = diag.locate(query, targets, want_phi=bool(args.show_phi))
        from pacsbot.commands.service import locate_audit, new_run_id

        actor, run = cli_actor(), new_run_id()
        audit = _audit(db)
        with db.session() as session:
            pid = _pseudonym(session, query.patient_id) if query.patient_id is not None else None
            for item in locate_audit(report, query, run=run, via="cli", pid_pseudonym=pid, phi_shown=bool(args.show_phi)):
                audit.record(actor, "dicom.locate", target=item.target, outcome=item.outcome, details=item.details, session=session)
        if args.json:
            print(json.dumps(_with_took_ms(to_public_dict(report, include_phi=bool(args.show_phi)), started), indent=2))
        else:
            from pacsbot.bot.render.diagnostics_text import locate_lines  # text output only

            print("\n".join(locate_lines(report, calling_ae=settings.dicom.ae_title, phi=bool(args.show_phi),
                                         patient_id=query.patient_id if args.show_phi else None)))
        return 0 if report.all_answered else 1
    finally:
        db.dispose()
