"""Routing: which queue (channel) a ticket goes to, at which priority, and whom to page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from pacsbot.tickets.config import RuleSettings, TicketSettings
from pacsbot.tickets.intake import PRIORITY_OF_URGENCY

DEFAULT_QUEUE = "default"
_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Route:
    queue: str
    channel: str | None
    priority: str
    oncall: str | None
    rule: str | None  # the rule that matched, or None for the default queue

    @property
    def page_oncall(self) -> bool:
        return self.oncall is not None and self.priority in ("P1", "P2")


@dataclass(frozen=True)
class Facts:
    category: str
    urgency: str
    text: str
    modality: str | None
    location: str | None


def in_working_hours(settings: TicketSettings, when: datetime, timezone: str) -> bool:
    local = when.astimezone(ZoneInfo(timezone))
    hours = settings.working_hours
    return _DAY_NAMES[local.weekday()] in hours.days and hours.start <= local.time() < hours.end


def _matches(rule: RuleSettings, facts: Facts, after_hours: bool) -> bool:
    m = rule.match
    if m.category and facts.category not in m.category:
        return False
    if m.urgency and facts.urgency not in m.urgency:
        return False
    if m.modality and (facts.modality or "") not in m.modality:
        return False
    if m.location and not any(loc.lower() in (facts.location or "").lower() for loc in m.location):
        return False
    if m.keywords and not any(k.lower() in facts.text.lower() for k in m.keywords):
        return False
    if m.after_hours is not None and m.after_hours != after_hours:
        return False
    return True


def route(settings: TicketSettings, facts: Facts, when: datetime, timezone: str = "UTC") -> Route:
    """The first rule that matches wins; otherwise the default queue at the urgency's priority."""
    after_hours = not in_working_hours(settings, when, timezone)
    for rule in settings.rules:
        if _matches(rule, facts, after_hours):
            queue = settings.queue(rule.queue)
            assert queue is not None  # checked when the configuration was loaded
            priority = rule.priority or PRIORITY_OF_URGENCY[facts.urgency]
            return Route(queue.name, queue.channel, priority, settings.oncall_of(queue.name), rule.name)
    return Route(DEFAULT_QUEUE, settings.default_queue, PRIORITY_OF_URGENCY[facts.urgency], settings.oncall, None)
