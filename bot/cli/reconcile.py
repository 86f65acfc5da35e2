"""``pacsbot reconcile``: the daily reconciliation (PACS against VNA) at a terminal.

The same read-only comparison as the scheduled job and ``/pacs reconcile``: list a day's
studies on both nodes (STUDY-level C-FIND), compare by study UID and image counts. Prints
the summary (or ``--json``), optionally writes the CSV (``--csv PATH``). Audited as
``cli:<login>``, counts only.

Exit status: 0 every study of the source is on the archive, complete; 1 differences were
found, or a node could not be asked (the comparison was not made); 2 the input is refused.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pacsbot.bot.audit import Audit
from pacsbot.bot.cli.common import cli_actor, open_database, settings_from, subparser
from pacsbot.bot.cli.dicom import _diagnostics
from pacsbot.bot.features.reconcile import audit_details
from pacsbot.commands.reconcile import choose_pairs, csv_text, parse_day, summary, to_json
from pacsbot.commands.service import new_run_id
from pacsbot.core.errors import UserError
from pacsbot.core.privacy import strip_vouch

CLI_USAGE = "pacsbot reconcile [--date YYYY-MM-DD|yesterday|today] [--source NODE --archive NODE] [--json] [--csv PATH]"


def add_parser(sub: Any) -> None:
    parser = subparser(
        sub, "reconcile", "Compare a day's studies on two DICOM nodes (read-only C-FIND): missing, incomplete.",
        "List a day's studies on the source (e.g. pacs) and the archive (e.g. vna), compare them by study UID and "
        "image counts, and print what is missing from the archive or incomplete (accession numbers only). "
        "Exit 0 when all is archived and complete, 1 when there are differences or a node could not be asked, "
        "2 when the input is refused.",
    )
    parser.add_argument("--date", default="yesterday", metavar="DAY",
                        help="YYYY-MM-DD, yesterday (the default) or today, in the configured timezone")
    parser.add_argument("--source", metavar="NODE", help="node whose studies must be archived (with --archive)")
    parser.add_argument("--archive", metavar="NODE", help="node that should hold them (with --source)")
    parser.add_argument("--json", action="store_true", help="JSON on stdout instead of text")
    parser.add_argument("--csv", metavar="PATH", help="also write the per-study CSV to PATH ('-' for stdout)")
    parser.set_defaults(func=run_reconcile)


def run_reconcile(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    db = open_database(settings)  # audit first: no unaudited checks
    audit = Audit(db)
    try:
        try:
            if (args.source is None) != (args.archive is None):
                raise UserError("Give both --source and --archive, or neither (to use dicom.reconcile.pairs).")
            today = datetime.now(ZoneInfo(settings.timezone)).date()
            day = parse_day(args.date, today=today)
        except UserError:
            audit.record(cli_actor(), "dicom.reconcile", outcome="refused", details={"reason": "bad input", "via": "cli"})
            raise
        with _diagnostics(settings) as diag:
            try:
                pairs = choose_pairs(
                    args.source and args.source.lower(), args.archive and args.archive.lower(),
                    configured=[(p.source, p.archive) for p in settings.dicom.reconcile.pairs],
                    known=diag.node_names(), prefix="pacsbot",
                )
            except UserError:
                audit.record(cli_actor(), "dicom.reconcile", outcome="refused", details={"reason": "bad input", "via": "cli"})
                raise
            run = new_run_id()
            reports = []
            for source, archive in pairs:
                if not args.json:
                    print(f"Reconciling {source} → {archive} for {day.isoformat()}…", file=sys.stderr, flush=True)
                report = diag.reconcile(source, archive, day)
                audit.record(cli_actor(), "dicom.reconcile", target=f"node:{source}>{archive}", outcome="ok" if report.compared else "failed",
                             details=audit_details(report, run=run, via="cli"))
                reports.append(report)
        if args.csv == "-":
            for report in reports:
                sys.stdout.write(csv_text(report))
        elif args.csv:
            path = Path(args.csv)
            for report in reports:
                # Several pairs: one file each, named after the pair (reconcile.csv -> reconcile-pacs-vna.csv).
                target = path if len(reports) == 1 else path.with_name(
                    f"{path.stem}-{report.source.node.name}-{report.archive.node.name}{path.suffix or '.csv'}")
                target.write_text(csv_text(report), encoding="utf-8")
        if args.json:
            payload = [to_json(r) for r in reports]
            print(json.dumps(payload[0] if len(payload) == 1 else payload, indent=2))
        elif args.csv != "-":
            for report in reports:
                print(strip_vouch(summary(report, marks=False)))
        return 0 if all(r.all_archived for r in reports) else 1
    finally:
        db.dispose()
