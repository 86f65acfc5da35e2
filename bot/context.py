"""The context a handler gets: who asked, where, and how to answer them.

Handlers never talk to Bolt directly. They call ``ctx.reply`` (private to the asker),
``ctx.post`` (a channel or thread), ``ctx.dm``, ``ctx.open_modal``, ``ctx.defer`` (slow work
after the ack) and ``ctx.audit``. In an *inline* handler the first ``reply`` becomes the ack
itself (Slack ignores the body of other acks); elsewhere it goes through the interaction's ``response_url`` or, where there is none,
as an ephemeral message or a DM.
"""

from __future__ import annotations

import logging
import secrets as _secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from pacsbot.bot.access import Role
from pacsbot.bot.background import BUSY_TEXT, Busy
from pacsbot.bot.slack_client import make_webhook_client
from pacsbot.bot.storage import StorageError
from pacsbot.core.errors import NotYours, UserError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from pacsbot.bot.services import Services

log = logging.getLogger(__name__)

Blocks = list[dict[str, Any]]


@dataclass
class Ctx:
    services: "Services"
    kind: str  # command | action | view | view_closed | shortcut | message_shortcut | event
    name: str  # subcommand, action id, callback id or event type
    user_id: str
    role: Role
    body: dict[str, Any]
    channel_id: str | None = None
    team_id: str | None = None
    args: str = ""
    trigger_id: str | None = None
    response_url: str | None = None
    action: dict[str, Any] | None = None
    inline: bool = False
    _ack: dict[str, Any] | None = field(default=None, repr=False)
    _acked: bool = field(default=False, repr=False)  # the ack has gone: later replies use the response_url
    audited: bool = field(default=False, repr=False)  # the handler wrote its own audit row(s)

    # convenience -------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        return self.services.client

    @property
    def settings(self) -> Any:
        return self.services.settings

    @property
    def view(self) -> dict[str, Any] | None:
        return self.body.get("view")

    @property
    def action_value(self) -> str | None:
        if not self.action:
            return None
        return self.action.get("value") or (self.action.get("selected_option") or {}).get("value")

    @property
    def action_suffix(self) -> str | None:
        """For ``action_id`` like ``ticket_ack:123``, the part after the colon."""
        action_id = (self.action or {}).get("action_id", "")
        return action_id.split(":", 1)[1] if ":" in action_id else None

    @property
    def message(self) -> dict[str, Any] | None:
        return self.body.get("message")

    def view_values(self) -> dict[str, Any]:
        """A modal's submitted inputs as ``{action_id: value}`` (text, selection(s), date...)."""
        out: dict[str, Any] = {}
        state = ((self.view or {}).get("state") or {}).get("values") or {}
        for block in state.values():
            for action_id, element in block.items():
                out[action_id] = _element_value(element)
        return out

    # answering ---------------------------------------------------------------------------
    def reply(
        self,
        text: str,
        blocks: Blocks | None = None,
        *,
        replace_original: bool = False,
        in_channel: bool = False,
    ) -> None:
        """Answer the person who asked, privately (unless ``in_channel``)."""
        payload: dict[str, Any] = {"text": text}
        if blocks is not None:
            payload["blocks"] = blocks
        if in_channel:
            payload["response_type"] = "in_channel"
        if self.inline and self._ack is None and self.kind == "command" and not self._acked:
            self._ack = payload  # the slash command's ack carries the answer
            return
        if self.response_url:
            webhook = make_webhook_client(self.response_url, gate=self.services.privacy)
            response = webhook.send(
                text=text,
                blocks=blocks,
                response_type="in_channel" if in_channel else "ephemeral",
                replace_original=replace_original,
            )
            if response.status_code == 200:
                return
            log.warning("reply: response_url answered %s; falling back to a message", response.status_code)
        if self.channel_id and not self.channel_id.startswith("D") and not in_channel:
            try:
                self.client.chat_postEphemeral(channel=self.channel_id, user=self.user_id, text=text, blocks=blocks)
                return
            except SlackApiError as exc:
                log.info("reply: ephemeral failed (%s); sending a DM", exc.response.get("error"))
        if in_channel and self.channel_id:
            self.post(self.channel_id, text, blocks)
            return
        self.dm(self.user_id, text, blocks)

    def post(self, channel: str, text: str, blocks: Blocks | None = None, *, thread_ts: str | None = None, **extra: Any) -> dict[str, Any]:
        response = self.client.chat_postMessage(channel=channel, text=text, blocks=blocks, thread_ts=thread_ts, **extra)
        return dict(response.data)

    def update(self, channel: str, ts: str, text: str, blocks: Blocks | None = None) -> dict[str, Any]:
        response = self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
        return dict(response.data)

    def dm(self, user_id: str, text: str, blocks: Blocks | None = None) -> dict[str, Any]:
        """A direct message from the bot (chat.postMessage to a user id opens the DM)."""
        return self.post(user_id, text, blocks)

    def open_modal(self, view: dict[str, Any]) -> dict[str, Any]:
        if not self.trigger_id:
            raise UserError("This can only be opened from a command, button or shortcut.")
        return dict(self.client.views_open(trigger_id=self.trigger_id, view=view).data)

    def push_modal(self, view: dict[str, Any]) -> dict[str, Any]:
        if not self.trigger_id:
            raise UserError("This can only be opened from a command, button or shortcut.")
        return dict(self.client.views_push(trigger_id=self.trigger_id, view=view).data)

    # view submission acks (inline view handlers only) ------------------------------------------
    def ack_errors(self, errors: dict[str, str]) -> None:
        """Keep the modal open and show ``{block_id: message}`` under the fields."""
        self._ack = {"response_action": "errors", "errors": errors}

    def ack_update(self, view: dict[str, Any]) -> None:
        self._ack = {"response_action": "update", "view": view}

    def ack_push(self, view: dict[str, Any]) -> None:
        self._ack = {"response_action": "push", "view": view}

    def ack_clear(self) -> None:
        self._ack = {"response_action": "clear"}

    # slow work and records ---------------------------------------------------------------
    def defer(self, fn: Callable[..., Any], *args: Any, what: str = "that", **kwargs: Any) -> None:
        """Run ``fn(*args, **kwargs)`` after the ack; its failure is reported to this user.
        When the background queue is full, the user is told so (a :class:`UserError`)."""
        try:
            self.services.background.submit(fn, *args, on_error=lambda exc: self.report_error(exc, what), **kwargs)
        except Busy:  # logged (counted) by the queue
            raise UserError(BUSY_TEXT.removeprefix(":hourglass: ")) from None

    def audit(
        self,
        action: str,
        *,
        target: str = "",
        outcome: str = "ok",
        details: dict[str, Any] | None = None,
        session: "Session | None" = None,
    ) -> None:
        self.audited = True
        self.services.audit.record(self.user_id, action, target=target, outcome=outcome, details=details, session=session)

    def audit_soon(self, action: str, *, target: str = "", outcome: str = "ok", details: dict[str, Any] | None = None) -> None:
        """An audit row written off the request thread (never delays an ack); written at once
        when the background queue is full, so that no row is ever lost."""
        kwargs: dict[str, Any] = {"target": target, "outcome": outcome, "details": details}
        try:
            self.services.background.submit(self.services.audit.record, self.user_id, action, **kwargs)
        except Busy:
            self.services.audit.record(self.user_id, action, **kwargs)

    def refused(self, reason: str, *, required: Role | None = None, target: str | None = None) -> None:
        """Record a refusal by the policy chain, in its one shape: ``access.denied`` on
        ``kind:name``, with the reason (``role``, ``rate limit``, ``not theirs``), the user's
        role and the role required (``target`` names a verb inside the entry: ``command:train assign``).
        Never the refusal's text, nor what the user typed."""
        details: dict[str, Any] = {"reason": reason, "role": self.role.name.lower()}
        if required is not None:
            details["required"] = required.name.lower()
        self.audit_soon("access.denied", target=target or f"{self.kind}:{self.name}", outcome="denied", details=details)

    def report_error(self, exc: BaseException, what: str = "that") -> None:
        """Tell the user what went wrong: their mistake in their words, ours with a reference."""
        if isinstance(exc, NotYours):
            self.refused("not theirs")
        if isinstance(exc, UserError):
            text = f":warning: {exc}"
        elif storage_down(exc):
            log.error("storage unavailable while handling %s %s for %s: %s", self.kind, self.name, self.user_id, type(exc).__name__)
            text = (f":x: Not done: pacsbot's database is not answering right now, so {what} did not happen and "
                    f"nothing was saved. Please try again in a minute; if patient care is waiting, "
                    f"{call_the_oncall(self.settings.tickets.oncall_phone)} now.")
        else:
            ref = _secrets.token_hex(3)
            log.error(
                "error ref=%s while handling %s %s for %s: %s",
                ref, self.kind, self.name, self.user_id, type(exc).__name__,
                exc_info=(type(exc), exc, exc.__traceback__),
            )
            help_at = self.settings.slack.help_channel
            where = f" or ask in {help_at}" if help_at else ""
            text = (
                f":x: Sorry, something went wrong on our side while doing {what} (reference `{ref}`). "
                f"It has been logged. Please try again in a minute{where}; if patient care is waiting, "
                "call the PACS on-call."
            )
        if self.inline and self.kind == "command" and not self._acked:
            self._ack = {"text": text}  # not sent yet: the error replaces a "Checking…" said before it
            return
        try:
            self.reply(text)
        except Exception:  # noqa: BLE001 - the user cannot be reached; the log has it
            log.exception("could not tell %s about an error", self.user_id)

    def ack_payload(self) -> dict[str, Any] | None:
        """What the ack carries, through the privacy gate (public when posted in the channel).
        Called once, as the ack is sent: whatever the handler says after it (work it deferred,
        an error in that work) goes to the response_url, never into an ack already sent."""
        self._acked = True
        return self.services.privacy.reply(self._ack) if self._ack is not None else None


def storage_down(exc: BaseException) -> bool:
    """The database is down, hung or out of connections (not a bug in a query)."""
    return isinstance(exc, (OperationalError, DisconnectionError, PoolTimeout, StorageError))


def call_the_oncall(phone: str | None) -> str:
    """How a message tells people to reach the on-call (``tickets.oncall_phone``)."""
    return f"call the PACS on-call ({phone})" if phone else "call the PACS on-call"


def _element_value(element: dict[str, Any]) -> Any:
    kind = element.get("type")
    if kind in ("plain_text_input", "email_text_input", "url_text_input", "number_input", "rich_text_input"):
        return element.get("value")
    if kind in ("static_select", "external_select", "radio_buttons"):
        return (element.get("selected_option") or {}).get("value")
    if kind in ("multi_static_select", "multi_external_select", "checkboxes"):
        return [o.get("value") for o in element.get("selected_options") or []]
    if kind == "datepicker":
        return element.get("selected_date")
    if kind == "timepicker":
        return element.get("selected_time")
    if kind in ("users_select", "multi_users_select"):
        return element.get("selected_user") or element.get("selected_users")
    if kind in ("conversations_select", "channels_select"):
        return element.get("selected_conversation") or element.get("selected_channel")
    if kind in ("multi_conversations_select", "multi_channels_select"):
        return element.get("selected_conversations") or element.get("selected_channels")
    return element.get("value")
