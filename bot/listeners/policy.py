"""The one policy every entry point passes: who is asking, may they, and what if it fails.

Order for every command, button, modal and shortcut, as declared on its registry entry:
build the context -> role (``permits``) -> rate limit (``limit``: counted before the ack, in
memory) -> the handler, inline or after the ack -> its success audited under ``audit`` when it
recorded nothing itself -> any exception reported to the user, never to Slack as an error
status. A refusal (role, rate limit, or ``NotYours`` raised by a feature for someone else's
ticket or training) is a short private explanation and one audit row of one shape
(:meth:`Ctx.refused`).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pacsbot.bot import metrics
from pacsbot.bot.access import Role
from pacsbot.bot.background import Busy
from pacsbot.bot.context import Ctx
from pacsbot.bot.registry import Interaction, Subcommand, permits

if TYPE_CHECKING:
    from pacsbot.bot.services import Services

log = logging.getLogger(__name__)


def user_id_of(body: dict[str, Any]) -> str:
    user = body.get("user")
    if isinstance(user, dict):
        return str(user.get("id") or "")
    return str(body.get("user_id") or user or "")


def channel_id_of(body: dict[str, Any]) -> str | None:
    channel = body.get("channel")
    if isinstance(channel, dict):
        return channel.get("id")
    if isinstance(channel, str) and channel:
        return channel
    if body.get("channel_id"):
        return body["channel_id"]
    container = body.get("container") or {}
    return container.get("channel_id")


def team_id_of(body: dict[str, Any]) -> str | None:
    team = body.get("team")
    if isinstance(team, dict):
        return team.get("id")
    return body.get("team_id")


def make_ctx(services: "Services", kind: str, name: str, body: dict[str, Any], **extra: Any) -> Ctx:
    user_id = user_id_of(body)
    return Ctx(
        services=services,
        kind=kind,
        name=name,
        user_id=user_id,
        role=services.access.role_of(user_id) if user_id else Role.CLINICIAN,
        body=body,
        channel_id=channel_id_of(body),
        team_id=team_id_of(body),
        trigger_id=body.get("trigger_id"),
        response_url=body.get("response_url") or _first_response_url(body),
        **extra,
    )


def _first_response_url(body: dict[str, Any]) -> str | None:
    urls = body.get("response_urls") or []
    return urls[0].get("response_url") if urls else None


def refusal_text(what: str, required: Role, services: "Services") -> str:
    help_at = services.settings.slack.help_channel
    ask = f"ask in {help_at}" if help_at else "ask the PACS team"
    return f":no_entry: Sorry, {what} is only for {required.label}s. If you need it, {ask}."


@dataclass(frozen=True)
class Refusal:
    reason: str               # role | rate limit
    text: str                 # what the user is told
    required: Role | None = None


def check(ctx: Ctx, entry: Subcommand | Interaction, what: str) -> Refusal | None:
    """The policy's steps before the handler: role, then rate limit. None: go ahead.
    Nothing here touches the database or the network (it runs before the ack)."""
    services = ctx.services
    if not permits(ctx.role, entry):
        return Refusal("role", refusal_text(what, entry.role, services), entry.role)
    if entry.limit is not None:
        limit = services.registry.limits[entry.limit]
        numbers = limit.settings(services.settings)
        wait = limit.window.take(ctx.user_id, time.monotonic(), numbers)
        if wait is not None:
            return Refusal("rate limit", limit.refusal(numbers, int(wait)))
    return None


def record_refusal(ctx: Ctx, refusal: Refusal) -> None:
    """Audit a refused request (after the ack: it writes to the database)."""
    metrics.note_outcome("refused")
    ctx.refused(refusal.reason, required=refusal.required)


def allowed(ctx: Ctx, required: Role, what: str, *, target: str) -> bool:
    """The role step for a verb inside a subcommand (``/pacs train assign``, ``/pacs downtime
    add``): True, or the user told (privately) and the refusal audited as any other."""
    if ctx.role >= required:
        return True
    ctx.reply(refusal_text(what, required, ctx.services))
    ctx.refused("role", required=required, target=target)
    return False


def audit_success(ctx: Ctx, entry: Subcommand | Interaction) -> None:
    """The success row of an entry that declares ``audit`` and whose handler wrote none."""
    if entry.audit is not None and not ctx.audited:
        ctx.audit_soon(entry.audit, target=f"{ctx.kind}:{ctx.name}", details={"via": "slack"})


# Notices sent when the background queue is full go on their own threads, at most this many at
# once: an overloaded bot must not also start a thread per request (that starves the acks).
_NOTICE_SLOTS = threading.BoundedSemaphore(4)
_dropped = {"count": 0, "logged_at": 0.0}
_dropped_lock = threading.Lock()


def notify_soon(ctx: Ctx, text: str) -> None:
    """Tell the user ``text`` after the ack without the (full) background queue; when even the
    notice slots are taken, the notice is dropped and counted in the log (once per 10 s)."""
    if not _NOTICE_SLOTS.acquire(blocking=False):
        with _dropped_lock:
            _dropped["count"] += 1
            now = time.monotonic()
            if now - _dropped["logged_at"] < 10:
                return
            count, _dropped["count"], _dropped["logged_at"] = _dropped["count"], 0, now
        log.warning("overloaded: %d notice(s) to users dropped", count)
        return

    def send() -> None:
        try:
            ctx.reply(text)
        except Exception:  # noqa: BLE001 - the user cannot be reached; the log has it
            log.exception("could not tell %s that pacsbot is busy", ctx.user_id)
        finally:
            _NOTICE_SLOTS.release()

    threading.Thread(target=send, name="pacsbot-notice", daemon=True).start()


def reply_after_ack(ctx: Ctx, text: str) -> None:
    """A short private reply that must not hold up the ack."""
    try:
        ctx.services.background.submit(ctx.reply, text)
    except Busy:
        notify_soon(ctx, text)


def start_after_ack(ctx: Ctx, entry: Subcommand | Interaction, what: str) -> threading.Event | None:
    """Queue the entry's handler to start once the returned event is set (right after ``ack()``),
    so that its first reply never arrives before the ack's. None when the queue is full: the
    caller can then say so in the ack itself."""
    acked = threading.Event()

    def run(c: Ctx) -> Any:
        acked.wait(5)
        result = entry.handler(c)
        audit_success(c, entry)
        return result

    try:
        ctx.services.background.submit(run, ctx, on_error=lambda exc: ctx.report_error(exc, what))
    except Busy:  # logged (counted) by the queue
        metrics.note_outcome("busy")
        return None
    return acked


def run_inline(ctx: Ctx, handler: Any, what: str) -> bool:
    """Run ``handler(ctx)`` in the request thread; False (the user told) when it failed."""
    try:
        handler(ctx)
    except Exception as exc:  # noqa: BLE001 - reported to the user, never a 500 to Slack
        metrics.note_failure(exc)
        ctx.report_error(exc, what)
        return False
    return True


def run_entry_inline(ctx: Ctx, entry: Subcommand | Interaction, what: str) -> None:
    """An inline entry: its handler in the request thread, then its success audit (queued)."""
    if run_inline(ctx, entry.handler, what):
        audit_success(ctx, entry)
