"""The node watch as a pure state machine: one echo result in, the new state and at most one
transition out. No database, no network, no Slack: :mod:`commands.watch_store` persists it and
``bot/features/watch.py`` posts the alerts.

Rules (``dicom.watch``):

* ``unknown`` -> ``up`` on the first answered echo (silently: nothing was wrong);
* ``down`` after ``down_after`` failed echoes in a row; one answered echo in between starts the
  count again, so a node that flaps (fail, ok, fail, ok...) never alerts;
* ``down`` -> ``up`` after ``up_after`` answered echoes in a row (again, a single failure in
  between starts the count again);
* inside a planned downtime failures are counted but the node is not declared down; if it is
  still failing when the window ends, the next failed echo declares it (the normal alert).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Literal
from zoneinfo import ZoneInfo

from pacsbot.core.privacy import vouch

State = Literal["unknown", "up", "down"]
Event = Literal["down", "up"]

KIND_LABELS = {"pacs": "PACS", "vna": "VNA", "modality": "modality", "router": "router", "other": "node"}

# The ticket category an outage of each kind of node is filed under, and the categories of
# reports that an outage of that kind explains (a report in one of them is linked to it
# while the node is down).
OUTAGE_CATEGORY = {"pacs": "outage", "vna": "outage", "modality": "missing_images",
                   "router": "outage", "other": "other"}
SERVED_CATEGORIES = {
    "pacs": ("outage", "viewer", "worklist", "slowness", "missing_images"),
    "vna": ("outage", "missing_images"),
    "modality": ("missing_images", "worklist"),
    "router": ("outage", "missing_images"),
    "other": (),
}


@dataclass(frozen=True)
class Rules:
    down_after: int = 3
    up_after: int = 2


@dataclass(frozen=True)
class WatchState:
    """What the watch knows of one node (mirrors a ``dicom_node_watch`` row)."""

    state: State = "unknown"
    since: datetime | None = None  # when the current state began (down: the first failed echo)
    failures: int = 0  # failed echoes in a row
    successes: int = 0  # answered echoes in a row
    first_failure_at: datetime | None = None  # the first failure of the current failure streak
    last_change_at: datetime | None = None


@dataclass(frozen=True)
class Transition:
    event: Event
    at: datetime  # when the watch noticed
    since: datetime  # down: the first failed echo; up: when the outage began
    suppressed: bool = False

    @property
    def outage(self) -> timedelta:
        return self.at - self.since


def step(current: WatchState, ok: bool, at: datetime, rules: Rules, *, in_downtime: bool = False) -> tuple[WatchState, Transition | None]:
    """Apply one echo result; return the new state and the transition to announce, if any."""
    if ok:
        new = replace(current, successes=current.successes + 1, failures=0)
        if current.state == "unknown":
            return replace(new, state="up", since=at, first_failure_at=None, last_change_at=at), None
        if current.state == "down":
            if new.successes >= rules.up_after:
                began = current.since or at
                return (replace(new, state="up", since=at, first_failure_at=None, last_change_at=at),
                        Transition("up", at, began))
            return new, None
        return replace(new, first_failure_at=None), None
    first = current.first_failure_at or at
    new = replace(current, failures=current.failures + 1, successes=0, first_failure_at=first)
    if current.state != "down" and new.failures >= rules.down_after:
        if in_downtime:
            return new, None  # planned: counted, not declared
        return replace(new, state="down", since=first, last_change_at=at), Transition("down", at, first)
    return new, None


# ----------------------------------------------------------------------------------------
# words for people


def node_label(name: str, kind: str) -> str:
    """``PACS`` for a node called pacs of kind pacs; ``PACS (pacs2)`` for another one."""
    word = KIND_LABELS.get(kind, "node")
    if kind in ("pacs", "vna") and name == kind:
        return word
    if kind in ("pacs", "vna"):
        return f"{word} ({name})"
    return name


def local_time(when: datetime, tz: str, now: datetime | None = None) -> str:
    """``14:02`` today, ``Fri 27 Nov 14:02`` another day, in the site's time zone."""
    zone = ZoneInfo(tz)
    local = when.astimezone(zone)
    if now is not None and local.date() == now.astimezone(zone).date():
        return local.strftime("%H:%M")
    if now is None:
        return local.strftime("%H:%M")
    return vouch(local.strftime("%a %d %b %H:%M").replace(" 0", " "))  # a time the bot states, not a patient's


def duration_words(delta: timedelta) -> str:
    """``47 min``, ``2 h 5 min``, ``3 days 4 h``; under a minute is ``1 min``."""
    minutes = max(1, int(round(delta.total_seconds() / 60)))
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} days {hours} h" if hours else f"{days} days"


def utc(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
