"""``pacsbot tickets export --csv [--since]`` and ``pacsbot tickets list|show``."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from typing import Any

from pacsbot.bot.audit import Audit
from pacsbot.bot.cli.common import cli_actor, open_database, settings_from, subparser
from pacsbot.bot.features.admin import parse_since
from pacsbot.bot.privacy_gate import build_gate
from pacsbot.bot.render.tickets import priority_label
from pacsbot.commands.verdict import plural
from pacsbot.core.errors import UserError
from pacsbot.tickets.export import export_csv
from pacsbot.tickets.service import TicketService


def add_parser(sub: Any) -> None:
    parser = subparser(sub, "tickets", "Export and list tickets.", "Tickets at the terminal. Exports show summaries with patient details masked.")
    actions = parser.add_subparsers(dest="tickets_action", metavar="ACTION")
    export = actions.add_parser("export", help="all tickets as CSV (for reports and audits)", description="All tickets as CSV on stdout.")
    export.add_argument("--csv", action="store_true", help="CSV (the only format; kept for clarity in scripts)")
    export.add_argument("--since", metavar="DATE", help="only tickets filed since this date (YYYY-MM-DD) or span (7d)")
    listing = actions.add_parser("list", help="open, unassigned or stale tickets", description="List tickets.")
    listing.add_argument("which", nargs="?", default="open", choices=["open", "unassigned", "stale"])
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    show = actions.add_parser("show", help="one ticket and its history", description="One ticket and its history.")
    show.add_argument("number", help="e.g. 123, PACS-123, or PACS-123.1 for a report linked to PACS-123")
    for p in (export, listing, show):
        p.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="configuration file")
    parser.set_defaults(func=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    action = getattr(args, "tickets_action", None)
    if action is None:
        args.parser.print_help()
        return 2
    settings = settings_from(args)
    db = open_database(settings)
    now = datetime.now(timezone.utc)
    gate = build_gate(settings, db, lambda: now).prepare()  # the same masking as channel posts
    svc = TicketService(settings.tickets, timezone=settings.timezone, detector=gate.detector)
    audit = Audit(db)
    try:
        with db.session() as session:
            if action == "export":
                since = parse_since(args.since, now) if args.since else None
                sys.stdout.write(export_csv(session, settings.tickets.prefix, since,
                                            mask=lambda text: gate.text(text, mrkdwn=False)))
                audit.record(cli_actor(), "ticket.export", details={"since": args.since}, session=session)
                return 0
            if action == "list":
                rows = svc.listing(session, args.which, "", now, limit=500)
                for t in rows:
                    if args.json:
                        print(json.dumps({"ticket": t.ref, "status": t.status, "priority": t.priority, "category": t.category,
                                          "queue": t.queue, "assignee": t.assignee, "reports": t.reports,
                                          "created_at": t.created_at.isoformat(), "summary": t.masked_summary}))
                    else:
                        print(f"{t.ref:<10} {t.priority} {t.status:<12} {t.category:<15} {t.assignee or '-':<12} {t.masked_summary[:60]}")
                if not rows and not args.json:
                    print(f"No {args.which} tickets.")
                return 0
            ticket = svc.view(session, svc.find(session, args.number))
            number = ticket.id
            print(f"{ticket.ref}  {priority_label(ticket)}  {ticket.category}  {ticket.status}  queue {ticket.queue}")
            print(f"reporter {ticket.reporter}  assignee {ticket.assignee or '-'}  accession {ticket.accession or '-'}  "
                  f"{plural(ticket.reports, 'report')}")
            print(ticket.description)
            for e in svc.history(session, number):
                print(f"  {e.at:%Y-%m-%d %H:%M}Z {e.actor:<12} {e.kind:<13} {e.text[:100]}")
            audit.record(cli_actor(), "ticket.view", target=ticket.ref, session=session)
            return 0
    except UserError:
        raise
    finally:
        db.dispose()
