"""The one privacy gate: everything pacsbot writes where others can read it passes here.

Every Web API client pacsbot makes is a :class:`GatedWebClient` (``bot.slack_client``), so
a feature cannot forget the gate: ``chat.postMessage``, ``chat.update``,
``chat.scheduleMessage`` (in a channel, a thread, a broadcast reply or a DM) and file uploads
(their title, comment and text content) are masked by :class:`PrivacyGate.public` before
they leave the process. ``response_url`` replies and slash-command acks that are posted
``in_channel`` pass the same gate; ticket webhooks and CSV exports meant for sharing call
:meth:`PrivacyGate.text` / :meth:`PrivacyGate.json`.

Private surfaces — ephemeral messages, modals, App Home, and ``response_url`` replies only
the asker sees — are not masked: the person sees their own words back, and an admin's
patient view from ``/pacs locate`` is shown as designed. They still lose the vouch markers.

What the gate does to public text (mrkdwn and plain):

* masks patient identifiers with :class:`core.privacy.Detector` (site patterns, cue words,
  DICOM names and dates, identifiers the archive returned lately);
* neutralises broadcasts a user could smuggle in: ``<!channel>``, ``<!here>``,
  ``<!everyone>`` become plain words, and ``<!subteam^…>`` pings only the groups the
  configuration names (the on-call groups);
* leaves Slack's own tokens alone — ``<@U…>``, ``<#C…>``, ``<!date^…>`` and a link's URL
  (its label is masked like any text).
"""

from __future__ import annotations

import json as _json
import logging
import re
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from pacsbot.core.db import insert_or_skip
from pacsbot.core.privacy import Detector, SeenIdentifiers, strip_vouch, vouch

if TYPE_CHECKING:
    from pacsbot.bot.settings import Settings
    from pacsbot.bot.storage import Database

log = logging.getLogger(__name__)

# Web API methods whose text others can read.
PUBLIC_METHODS = frozenset({
    "chat.postMessage", "chat.update", "chat.scheduleMessage", "chat.meMessage",
    "files.upload", "files.completeUploadExternal", "files.remote.add", "bookmarks.add",
    "conversations.setTopic", "conversations.setPurpose",
})
# Keys of Block Kit and payload fields that are structure, not text shown to people.
_STRUCTURAL_KEYS = frozenset({
    "type", "action_id", "block_id", "style", "emoji", "verbatim", "url", "image_url", "callback_id",
    "channel", "channel_id", "ts", "thread_ts", "reply_broadcast", "unfurl_links", "unfurl_media", "mrkdwn",
    "response_type", "replace_original", "delete_original", "user", "users", "file", "files", "id",
    "external_id", "token", "as_user", "link_names", "parse", "icon_emoji", "icon_url", "username",
    "initial_date", "initial_time", "max_length", "min_length", "dispatch_action", "focus_on_load",
    "private_metadata", "post_at", "filetype", "filename",
})
# Free text in records handed to other systems (webhooks); everything else there is a code.
FREE_TEXT_FIELDS = ("summary", "description", "resolution", "note", "text", "location", "title", "question")
_SLACK_TOKEN_RE = re.compile(r"<([^<>\n]*)>")
_BROADCASTS = {"channel": "@channel", "here": "@here", "everyone": "@everyone"}
# Text that is never patient data: ticket numbers and DICOM UIDs (dotted runs of numbers).
_UID_RE = r"\b\d+(?:\.\d+){4,}\b"


class PrivacyGate:
    """Masks what others can read; see the module docstring."""

    def __init__(self, detector: Detector, *, allowed_groups: Iterable[str] = (), known_groups: Callable[[], Iterable[str]] | None = None):
        self.detector = detector
        self.allowed_groups = frozenset(allowed_groups)
        self._known_groups = known_groups

    def remember(self, patient_ids: Iterable[str], names: Iterable[str]) -> None:
        """Patient IDs and names a DICOM node returned: masked in public text for a while."""
        seen = self.detector.seen
        if seen is not None:
            seen.remember(patient_ids=patient_ids, names=names)

    def prepare(self) -> "PrivacyGate":
        """Read what the gate needs from the database now (before a long transaction)."""
        seen = self.detector.seen
        if seen is not None:
            seen.spans("")
        return self

    def group_allowed(self, group_id: str) -> bool:
        """May a post ping this user group? Only the groups the configuration names."""
        if group_id in self.allowed_groups:
            return True
        return self._known_groups is not None and group_id in set(self._known_groups())

    @classmethod
    def default(cls) -> "PrivacyGate":
        """The gate with no site configuration (cue words, names, dates): never no gate."""
        return cls(Detector(keep_patterns=[r"\bPACS-\d+\b", _UID_RE]))

    # text ----------------------------------------------------------------------------------
    def text(self, value: str, *, mrkdwn: bool = True) -> str:
        """One string as others may read it."""
        if not value:
            return strip_vouch(value or "")
        return self.detector.mask(self._prepared(value, mrkdwn)).text

    def masked_kinds(self, value: str) -> tuple[str, ...]:
        """What kinds of patient data ``value`` (mrkdwn, as Slack sends it) holds; empty when none."""
        return self.detector.mask(self._prepared(value, True)).kinds if value else ()

    def _prepared(self, value: str, mrkdwn: bool) -> str:
        return self._protect_tokens(value) if mrkdwn and "<" in value else value

    def _protect_tokens(self, value: str) -> str:
        def token(m: re.Match[str]) -> str:
            inner = m.group(1)
            if inner.startswith("!"):
                word = inner[1:].split("|", 1)[0]
                if word in _BROADCASTS:
                    return _BROADCASTS[word]
                if word.startswith("subteam^"):
                    group = word.split("^", 1)[1]
                    label = inner.split("|", 1)[1] if "|" in inner else "@group"
                    return vouch(m.group(0)) if self.group_allowed(group) else label if label.startswith("@") else f"@{label}"
                if word.startswith("date^"):
                    return vouch(m.group(0))
                return word  # an unknown special mention: its word, never a ping
            if inner[:1] in ("@", "#"):
                return vouch(m.group(0))
            if "|" in inner:
                url, label = inner.split("|", 1)
                return vouch(f"<{url}|") + label + vouch(">")
            return vouch(m.group(0))

        return _SLACK_TOKEN_RE.sub(token, value)

    # payloads ------------------------------------------------------------------------------
    def json(self, value: Any, *, mrkdwn: bool = True) -> Any:
        """Every string leaf of a JSON-like value masked (webhook bodies, exports)."""
        if isinstance(value, str):
            return self.text(value, mrkdwn=mrkdwn)
        if isinstance(value, dict):
            return {k: (v if k in _STRUCTURAL_KEYS and not isinstance(v, (dict, list)) else self.json(v, mrkdwn=mrkdwn)) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.json(v, mrkdwn=mrkdwn) for v in value]
        return value

    def fields(self, record: dict[str, Any], names: Iterable[str] = FREE_TEXT_FIELDS) -> dict[str, Any]:
        """A record for another system (a ticket webhook, an export row): its free-text
        fields masked, its codes, numbers and timestamps as they are."""
        wanted = frozenset(names)
        return {k: self.text(v, mrkdwn=False) if k in wanted and isinstance(v, str) else v for k, v in record.items()}

    def public(self, payload: dict[str, Any]) -> dict[str, Any]:
        """A Web API payload or an in-channel reply, masked for everyone who can read it."""
        out = dict(payload)
        for key, value in payload.items():
            if key in ("text", "initial_comment", "title", "alt_text", "topic", "purpose"):
                out[key] = self.text(value) if isinstance(value, str) else value
            elif key in ("blocks", "attachments", "files", "metadata") and isinstance(value, (list, dict)):
                out[key] = self.json(value)
            elif key in ("blocks", "attachments", "files", "metadata") and isinstance(value, str):
                try:  # form-encoded calls carry these as JSON text
                    out[key] = _json.dumps(self.json(_json.loads(value)))
                except ValueError:
                    out[key] = self.text(value)
            elif key == "content" and isinstance(value, str):
                out[key] = self.text(value, mrkdwn=False)
            elif isinstance(value, str):
                out[key] = strip_vouch(value)
        return out

    @staticmethod
    def private(value: Any) -> Any:
        """A payload only its reader sees: unchanged but for the vouch markers."""
        if isinstance(value, str):
            return strip_vouch(value)
        if isinstance(value, dict):
            return {k: PrivacyGate.private(v) for k, v in value.items()}
        if isinstance(value, list):
            return [PrivacyGate.private(v) for v in value]
        return value

    def reply(self, payload: dict[str, Any]) -> dict[str, Any]:
        """An ack or ``response_url`` body: public when it is posted in the channel."""
        if payload.get("response_type") == "in_channel":
            return self.public(payload)
        return self.private(payload)


# What arrives: the gate's own markers (and NUL and other control characters) are taken out of
# everything a request carries, so nobody can vouch for their own text.
_INCOMING_JUNK = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ue000\ue001]")


def scrub_incoming(value: Any) -> Any:
    """Remove vouch markers and control characters (not tab or newline) from a request body, in place."""
    entries = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in list(entries):
        if isinstance(item, str):
            if _INCOMING_JUNK.search(item):
                value[key] = _INCOMING_JUNK.sub("", item)
        else:
            scrub_incoming(item)
    return value


# ----------------------------------------------------------------------------------------
# identifiers the archive returned, shared by every replica through the database


class SeenStore:
    """:class:`SeenIdentifiers` backed by the ``privacy_seen`` table (keyed hashes only).

    The key is the installation's pseudonym key (``commands.store.pseudonym_key``), read on
    first use. Reads never wait on a write lock: on SQLite, inside another session of the
    same thread, the cached set is used until the next chance to read.
    """

    def __init__(self, db: "Database", *, hours: float, now: Callable[[], datetime]):
        self.db = db
        self.hours = hours
        self._now = now
        self._seen: SeenIdentifiers | None = None
        self._lock = threading.Lock()

    def _identifiers(self) -> SeenIdentifiers | None:
        if self._seen is not None:
            return self._seen
        if self.db.in_session():
            return None
        with self._lock:
            if self._seen is None:
                from pacsbot.commands.store import pseudonym_key

                try:
                    with self.db.session() as session:
                        key = pseudonym_key(session, now=self._now())
                except Exception:  # noqa: BLE001 - no database yet: try again next time
                    log.warning("privacy gate: the identifier key could not be read yet")
                    return None
                self._seen = SeenIdentifiers(
                    key, ttl=self.hours * 3600, clock=lambda: self._now().timestamp(), load=self._load, save=self._save,
                )
        return self._seen

    def remember(self, *, patient_ids: Iterable[str] = (), names: Iterable[str] = ()) -> int:
        seen = self._identifiers()
        return seen.remember(patient_ids=patient_ids, names=names) if seen is not None else 0

    def spans(self, text: str) -> list[tuple[int, int]]:
        seen = self._identifiers()
        return seen.spans(text) if seen is not None else []

    def _load(self) -> dict[str, float]:
        from sqlalchemy import delete, select

        from pacsbot.bot.models import SeenIdentifier

        if self.db.in_session():
            return {}
        now = self._now()
        try:
            with self.db.session() as session:
                session.execute(delete(SeenIdentifier).where(SeenIdentifier.expires_at <= now))
                rows = session.execute(select(SeenIdentifier.digest, SeenIdentifier.expires_at)).all()
        except Exception:  # noqa: BLE001 - the cache in memory still masks what this process saw
            log.warning("privacy gate: could not read the seen identifiers; using this process's copy")
            return {}
        return {digest: expires.timestamp() for digest, expires in rows}

    def _save(self, digests: dict[str, float]) -> None:
        from pacsbot.bot.models import SeenIdentifier

        if self.db.in_session():
            return
        rows = [{"digest": d, "expires_at": datetime.fromtimestamp(exp, tz=timezone.utc)} for d, exp in digests.items()]
        try:
            with self.db.session() as session:
                stmt = insert_or_skip(session, SeenIdentifier).values(rows)
                session.execute(stmt.on_conflict_do_update(index_elements=["digest"], set_={"expires_at": stmt.excluded.expires_at}))
        except Exception:  # noqa: BLE001 - kept in memory on this replica; logged without values
            log.warning("privacy gate: could not store %d seen identifiers; kept in this process only", len(rows))


def build_gate(settings: "Settings", db: "Database", now: Callable[[], datetime], *,
               known_groups: Callable[[], Iterable[str]] | None = None) -> PrivacyGate:
    """The gate for this installation's configuration."""
    privacy = settings.privacy
    tickets = settings.tickets
    keep_words = [n.name for n in settings.dicom.nodes] + [n.ae_title for n in settings.dicom.nodes]
    keep_words.append(settings.dicom.ae_title)
    keep_patterns = [rf"\b{re.escape(tickets.prefix)}-\d+(?:\.\d+)?\b", _UID_RE]  # PACS-12, PACS-12.1
    seen = SeenStore(db, hours=privacy.remember_hours, now=now) if privacy.remember_hours > 0 else None
    detector = Detector(
        [*privacy.identifier_patterns, *tickets.phi.mrn_patterns],
        keep_words=keep_words,
        keep_patterns=keep_patterns,
        seen=seen,
        mask_accessions=privacy.mask_accession_in_channel or tickets.phi.mask_accession_in_channel,
    )
    return PrivacyGate(detector, allowed_groups=_configured_groups(settings), known_groups=known_groups)


def _configured_groups(settings: "Settings") -> set[str]:
    """User-group ids the configuration itself names (on-call groups, role groups)."""
    found: set[str] = set()
    pattern = re.compile(r"\bS[A-Z0-9]{2,20}\b")

    def walk(value: Any) -> None:
        if isinstance(value, str):
            found.update(pattern.findall(value))
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v)

    walk(settings.model_dump(mode="json"))
    return found


