"""``pacsbot outbox list|retry``: what is waiting to go out, what gave up, and trying again.

Two outboxes hold what pacsbot promised to send: Slack messages (``slack_outbox``: DMs,
reminders) and ticket webhooks (``ticket_webhooks``: ServiceNow/Jira). ``list`` shows what is
pending or failed (never the message text: it may hold patient data); ``retry`` puts failed
or waiting items back in line to be sent at the next drain, and is audited.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone
from typing import Any, cast

from sqlalchemy import CursorResult, or_, select, update

from pacsbot.bot.audit import Audit
from pacsbot.bot.cli.common import cli_actor, open_database, settings_from, subparser
from pacsbot.bot.models import OutboxMessage
from pacsbot.bot.outbox import FAILED, PENDING, SENDING
from pacsbot.core.errors import UserError
from pacsbot.tickets.models import WebhookDelivery


def add_parser(sub: Any) -> None:
    parser = subparser(sub, "outbox", "Show and retry messages and webhooks waiting to go out.",
                       "Slack messages (DMs, reminders) and ticket webhooks that are pending or failed.")
    actions = parser.add_subparsers(dest="outbox_action", metavar="ACTION")
    listing = actions.add_parser("list", help="pending and failed items (no message text)")
    listing.add_argument("--failed", action="store_true", help="only what gave up")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    retry = actions.add_parser("retry", help="send failed (or all waiting) items again at the next drain")
    retry.add_argument("ids", nargs="*", metavar="ID", help="items as listed (slack:12, webhook:7); none: every failed one")
    parser.set_defaults(func=run, parser=parser)


def _rows(db: Any, failed_only: bool) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    with db.session() as session:
        slack_states = [FAILED] if failed_only else [FAILED, PENDING, SENDING]
        for m in session.scalars(select(OutboxMessage).where(OutboxMessage.status.in_(slack_states)).order_by(OutboxMessage.id)):
            out.append({"id": f"slack:{m.id}", "kind": m.method, "origin": m.origin, "to": str(m.payload.get("channel", "")),
                        "status": m.status, "attempts": m.attempts, "next_attempt_at": m.next_attempt_at.isoformat(),
                        "last_error": m.last_error or ""})
        hooks = select(WebhookDelivery).where(WebhookDelivery.delivered_at.is_(None)).order_by(WebhookDelivery.id)
        if failed_only:
            hooks = hooks.where(WebhookDelivery.last_error.is_not(None))
        for w in session.scalars(hooks):
            out.append({"id": f"webhook:{w.id}", "kind": "webhook", "origin": "tickets", "to": w.queue,
                        "status": "failed" if w.last_error else "pending", "attempts": w.attempts,
                        "next_attempt_at": w.next_attempt_at.isoformat(), "last_error": w.last_error or ""})
    return out


def run(args: argparse.Namespace) -> int:
    action = getattr(args, "outbox_action", None)
    if action is None:
        args.parser.print_help()
        return 2
    settings = settings_from(args)
    db = open_database(settings)
    try:
        if action == "list":
            rows = _rows(db, args.failed)
            if args.json:
                for row in rows:
                    print(json.dumps(row))
            elif not rows:
                print("Nothing is waiting: every message and webhook has gone out.")
            else:
                print(f"{'ID':<14} {'KIND':<17} {'TO':<14} {'STATUS':<8} {'TRIES':>5}  {'NEXT TRY (UTC)':<20} LAST ERROR")
                for r in rows:
                    print(f"{r['id']:<14} {r['kind']:<17} {r['to'][:14]:<14} {r['status']:<8} {r['attempts']:>5}  "
                          f"{r['next_attempt_at'][:19]:<20} {r['last_error'][:60]}")
            return 0
        now = datetime.now(timezone.utc)
        slack_ids, hook_ids = _parse_ids(args.ids)
        with db.session() as session:
            slack = update(OutboxMessage).values(status=PENDING, next_attempt_at=now, attempts=0, lease_until=None, claimed_by=None)
            slack = slack.where(OutboxMessage.id.in_(slack_ids)) if args.ids else slack.where(OutboxMessage.status == FAILED)
            slack = slack.where(OutboxMessage.status != "sent")
            hooks = update(WebhookDelivery).values(next_attempt_at=now).where(WebhookDelivery.delivered_at.is_(None))
            hooks = hooks.where(WebhookDelivery.id.in_(hook_ids)) if args.ids else hooks.where(
                or_(WebhookDelivery.last_error.is_not(None)))
            counts = (cast(CursorResult[Any], session.execute(slack)).rowcount or 0,
                      cast(CursorResult[Any], session.execute(hooks)).rowcount or 0)
        Audit(db).record(cli_actor(), "outbox.retry", details={"slack": counts[0], "webhooks": counts[1], "ids": args.ids[:50]})
        print(f"Queued again: {counts[0]} Slack message(s), {counts[1]} webhook(s). The running bot sends them within a minute.")
        return 0
    finally:
        db.dispose()


def _parse_ids(ids: list[str]) -> tuple[list[int], list[int]]:
    slack: list[int] = []
    hooks: list[int] = []
    for item in ids:
        kind, _, number = item.partition(":")
        if kind not in ("slack", "webhook") or not number.isdigit():
            raise UserError(f"{item!r} is not an outbox item; use the ids `pacsbot outbox list` shows, like slack:12 or webhook:7.")
        (slack if kind == "slack" else hooks).append(int(number))
    return slack, hooks
