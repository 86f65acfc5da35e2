"""Who may do what: roles from the config file and Slack user groups.

There are three roles. Everyone is a *clinician*; ``roles.trainers`` adds *trainer*;
``roles.admins`` adds *admin*, which includes everything a trainer may do. Entries are Slack
user ids (``U0123ABC``), user group ids (``S0123ABC``) or handles (``@pacs-admins``). Group
membership is read with ``usergroups.users.list``, cached, and refreshed in the background;
if Slack cannot be reached and nothing is cached, the group grants nothing (fail closed).

``roles.audiences`` names, the same way, who reads which manuals (``technologist``,
``radiologist``...): :meth:`Access.audiences_of` gives a user's audience words.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

log = logging.getLogger(__name__)


class Role(enum.IntEnum):
    CLINICIAN = 0
    TRAINER = 1
    ADMIN = 2

    @property
    def label(self) -> str:
        return {Role.CLINICIAN: "clinician", Role.TRAINER: "trainer", Role.ADMIN: "PACS admin"}[self]

    @classmethod
    def parse(cls, text: str) -> "Role":
        key = text.strip().lower()
        for role in cls:
            if key in (role.name.lower(), role.label.lower()):
                return role
        raise ValueError(f"unknown role {text!r}; use clinician, trainer or admin")


@dataclass
class _Entry:
    members: frozenset[str]
    fetched_at: float


class GroupDirectory:
    """Members of Slack user groups, by handle (``@pacs-admins``) or id (``S0123ABC``)."""

    RETRY_AFTER_FAILURE = 30.0

    def __init__(
        self,
        client: Callable[[], WebClient] | WebClient,
        refresh_seconds: float = 300.0,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self._client = client if callable(client) and not isinstance(client, WebClient) else (lambda: client)
        self.refresh_seconds = refresh_seconds
        self._now = monotonic
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._handles: dict[str, str] = {}
        self._handles_at = 0.0
        self._failed_at: dict[str, float] = {}
        self._refreshing: set[str] = set()
        self._mentioned: set[str] = set()  # groups the bot itself has pinged (the privacy gate lets only these through)

    # public ---------------------------------------------------------------------------
    def members(self, ref: str) -> frozenset[str]:
        entry = self._entries.get(ref)
        now = self._now()
        if entry is None:
            failed = self._failed_at.get(ref)
            if failed is not None and now - failed < self.RETRY_AFTER_FAILURE:
                return frozenset()
            return self._refresh(ref) or frozenset()
        if now - entry.fetched_at > self.refresh_seconds:
            self._refresh_in_background(ref)
        return entry.members

    def cached(self, ref: str) -> frozenset[str]:
        """Like :meth:`members`, but never waits for Slack: a group not read yet counts as
        empty and is read in the background (for work that must not block, before an ack)."""
        entry = self._entries.get(ref)
        if entry is None or self._now() - entry.fetched_at > self.refresh_seconds:
            failed = self._failed_at.get(ref)
            if failed is None or self._now() - failed >= self.RETRY_AFTER_FAILURE:
                self._refresh_in_background(ref)
        return entry.members if entry is not None else frozenset()

    def mention(self, ref: str) -> str:
        """How to @-mention a user group in a message: ``<!subteam^S123>`` (or the handle as text)."""
        try:
            group_id = self._group_id(self._client(), ref)
        except (SlackApiError, SlackClientError, OSError):
            group_id = None if ref.startswith("@") else ref
        if group_id:
            self._mentioned.add(group_id)
        return f"<!subteam^{group_id}>" if group_id else ref

    def mentioned_ids(self) -> frozenset[str]:
        """The user groups :meth:`mention` has named: the only ones a channel post may ping."""
        return frozenset(self._mentioned)

    def warm(self, refs: Iterable[str]) -> None:
        for ref in refs:
            self._refresh_in_background(ref)

    def invalidate(self) -> None:
        with self._lock:
            self._entries.clear()
            self._handles.clear()
            self._handles_at = 0.0
            self._failed_at.clear()

    # internals ------------------------------------------------------------------------
    def _refresh_in_background(self, ref: str) -> None:
        with self._lock:
            if ref in self._refreshing:
                return
            self._refreshing.add(ref)

        def run() -> None:
            try:
                self._refresh(ref)
            finally:
                with self._lock:
                    self._refreshing.discard(ref)

        threading.Thread(target=run, name=f"usergroup-refresh-{ref}", daemon=True).start()

    def _group_id(self, client: WebClient, ref: str) -> str | None:
        if not ref.startswith("@"):
            return ref
        handle = ref[1:]
        if handle not in self._handles or self._now() - self._handles_at > self.refresh_seconds:
            response = client.usergroups_list(include_disabled=False)
            groups: list[dict[str, Any]] = response.get("usergroups", [])
            self._handles = {g["handle"]: g["id"] for g in groups if g.get("handle")}
            self._handles_at = self._now()
        return self._handles.get(handle)

    def _refresh(self, ref: str) -> frozenset[str] | None:
        try:
            client = self._client()
            group_id = self._group_id(client, ref)
            if group_id is None:
                log.warning("roles: Slack user group %s does not exist; it grants nothing", ref)
                members: frozenset[str] = frozenset()
            else:
                response = client.usergroups_users_list(usergroup=group_id, include_disabled=False)
                members = frozenset(response.get("users", []))
        except (SlackApiError, SlackClientError, OSError) as exc:
            error = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
            log.warning("roles: could not read Slack user group %s (%s); keeping what was cached", ref, error)
            self._failed_at[ref] = self._now()
            entry = self._entries.get(ref)
            return entry.members if entry else None
        with self._lock:
            self._entries[ref] = _Entry(members, self._now())
            self._failed_at.pop(ref, None)
        return members


class Access:
    """The one answer to "what role does this user have?", used by every check."""

    def __init__(
        self,
        admins: Iterable[str],
        trainers: Iterable[str],
        directory: GroupDirectory | None = None,
        overrides: dict[str, Role] | None = None,
        audiences: Mapping[str, Iterable[str]] | None = None,
    ):
        self.admins = tuple(admins)
        self.trainers = tuple(trainers)
        self.directory = directory
        self.overrides = dict(overrides or {})
        self.audiences = {word: tuple(principals) for word, principals in (audiences or {}).items()}

    def _in(self, user_id: str, principals: tuple[str, ...], *, wait: bool = True) -> bool:
        if user_id in principals:
            return True
        groups = [p for p in principals if p.startswith(("@", "S"))]
        if not groups or self.directory is None:
            return False
        members = self.directory.members if wait else self.directory.cached
        return any(user_id in members(g) for g in groups)

    def role_of(self, user_id: str) -> Role:
        if user_id in self.overrides:
            return self.overrides[user_id]
        if self._in(user_id, self.admins):
            return Role.ADMIN
        if self._in(user_id, self.trainers):
            return Role.TRAINER
        return Role.CLINICIAN

    def allows(self, user_id: str, required: Role) -> bool:
        return self.role_of(user_id) >= required

    def audiences_of(self, user_id: str, *, wait: bool = True) -> tuple[str, ...]:
        """The audience words (``roles.audiences``) whose users or groups include this user, in
        the configured order. ``wait=False`` uses only cached group membership (before an ack)."""
        return tuple(word for word, principals in self.audiences.items() if self._in(user_id, principals, wait=wait))

    def group_refs(self) -> list[str]:
        everyone = (*self.admins, *self.trainers, *(p for principals in self.audiences.values() for p in principals))
        return list(dict.fromkeys(p for p in everyone if p.startswith(("@", "S"))))
