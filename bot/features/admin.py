"""Administration: ``/pacs audit`` and hourly housekeeping of the bot's own tables."""

from __future__ import annotations

import re
import shlex
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import CursorResult, delete

from pacsbot.bot import drafts
from pacsbot.bot.access import Role
from pacsbot.bot.audit import AuditRow
from pacsbot.bot.context import Ctx
from pacsbot.bot.listeners.events import redeliver_unhandled
from pacsbot.bot.models import EventReceipt, SchedulerClaim
from pacsbot.bot.registry import Registry
from pacsbot.bot.render.blocks import USER_MENTION_RE, context, escape, section
from pacsbot.bot.scheduler import CLAIM_RETENTION
from pacsbot.core.config import USER_ID_RE
from pacsbot.core.errors import UserError

if TYPE_CHECKING:
    from pacsbot.bot.services import Services

_RELATIVE = re.compile(r"^(\d{1,4})([dhw])$")


def parse_since(text: str, now: datetime) -> datetime:
    """``2026-11-01``, ``2026-11-01T08:00``, or relative ``7d`` / ``24h`` / ``2w`` -> UTC datetime."""
    text = text.strip()
    match = _RELATIVE.match(text)
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        return now - {"d": timedelta(days=amount), "h": timedelta(hours=amount), "w": timedelta(weeks=amount)}[unit]
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(
            f"“{text}” is not a date. Use YYYY-MM-DD (like 2026-11-01) or a span like 24h, 7d, 2w."
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def parse_user(text: str) -> str:
    text = text.strip()
    match = USER_MENTION_RE.match(text)
    if match:
        return match.group(1)
    if USER_ID_RE.match(text):
        return text
    raise UserError(f"“{text}” is not a Slack user. Mention them (@name) or give their id (U0123ABC).")


def render_rows(rows: list[AuditRow]) -> str:
    lines = []
    for r in rows:
        lines.append(f"`{r.at:%Y-%m-%d %H:%M}` <@{r.actor}> *{escape(r.action)}* {escape(r.target)} — {r.outcome}"
                     if r.actor.startswith(("U", "W")) else
                     f"`{r.at:%Y-%m-%d %H:%M}` {escape(r.actor)} *{escape(r.action)}* {escape(r.target)} — {r.outcome}")
    return "\n".join(lines)


def register(services: "Services") -> None:
    services.registry.include(TABLE)


# What the admin feature handles in Slack, declared once (module-level handlers; register() adds them)
TABLE = Registry()


@TABLE.subcommand(
    "audit",
    role=Role.ADMIN,
    summary="Show recent audit entries (who did what).",
    usage="/pacs audit [@user] [since DATE|7d] [action PREFIX]",
    group="Administration",
)
def audit_cmd(ctx: Ctx) -> None:
    """The newest 30 entries matching the filters. The full log: `pacsbot audit --csv`."""
    try:
        words = shlex.split(ctx.args)
    except ValueError:
        raise UserError("I could not read that: check the quotes.") from None
    user = action = None
    since = None
    i = 0
    while i < len(words):
        word = words[i]
        if word.lower() in ("since", "--since") and i + 1 < len(words):
            since = parse_since(words[i + 1], ctx.services.clock.now())
            i += 2
        elif word.lower() in ("action", "--action") and i + 1 < len(words):
            action = words[i + 1]
            i += 2
        elif word.lower() in ("user", "--user") and i + 1 < len(words):
            user = parse_user(words[i + 1])
            i += 2
        else:
            user = parse_user(word)
            i += 1
    rows = ctx.services.audit.query(since=since, actor=user, action=action, limit=30)
    ctx.audit("audit.view", details={"filters": {"user": user, "since": since, "action": action}, "rows": len(rows)})
    if not rows:
        ctx.reply("No audit entries match.")
        return
    ctx.reply(
        f"{len(rows)} audit entries",
        [section(render_rows(rows)), context("Newest last. For everything, run `pacsbot audit --csv` on the server.")],
    )


@TABLE.job("event-inbox", every=timedelta(minutes=1))
def event_inbox(services: "Services") -> int:
    """Handle stored Slack events whose handling never finished (a process died after the ack)."""

    return redeliver_unhandled(services)


@TABLE.job("housekeeping", every=timedelta(hours=1))
def housekeeping(services: "Services") -> int:
    """Forget Slack event ids older than the retry window, and old scheduler claims."""
    now = services.clock.now()
    cutoff = now - timedelta(hours=services.settings.slack.event_dedupe_hours)
    with services.db.session() as session:
        result = cast(CursorResult[Any], session.execute(delete(EventReceipt).where(EventReceipt.received_at < cutoff)))
        session.execute(delete(SchedulerClaim).where(SchedulerClaim.claimed_at < now - CLAIM_RETENTION))
        removed = int(result.rowcount or 0)
    drafts.prune(services)  # unfinished report forms: they may hold patient data
    return removed
