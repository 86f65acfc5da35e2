"""The ``tickets:`` section of the configuration: queues, routing rules, SLAs, duplicates."""

from __future__ import annotations

import re
from datetime import time
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from pacsbot.core.config import GROUP_HANDLE_RE, GROUP_ID_RE, ChannelId, Regex, Section

QUEUE_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
ENV_NAME_RE = re.compile(r"^[A-Z_][A-Z0-9_]{0,63}$")

CATEGORIES = ("outage", "missing_images", "wrong_patient", "viewer", "worklist", "login", "slowness", "other")
URGENCIES = ("stat", "urgent", "routine")
PRIORITIES = ("P1", "P2", "P3", "P4")
MODALITIES = ("CT", "MR", "US", "DX", "CR", "MG", "NM", "PT", "XA", "RF", "OT")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

Category = Literal["outage", "missing_images", "wrong_patient", "viewer", "worklist", "login", "slowness", "other"]
Urgency = Literal["stat", "urgent", "routine"]
Priority = Literal["P1", "P2", "P3", "P4"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class WebhookSettings(Section):
    """An outbound JSON POST per ticket change (a ServiceNow/Jira inbound endpoint)."""

    url: str
    token_env: str | None = Field(default=None, description="Environment variable holding a bearer token.")
    timeout_seconds: float = Field(default=10, gt=0, le=120)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value

    @field_validator("token_env")
    @classmethod
    def _env(cls, value: str | None) -> str | None:
        if value is not None and not ENV_NAME_RE.match(value):
            raise ValueError(f"{value!r} is not an environment variable name (like SERVICENOW_TOKEN)")
        return value


def user_group(value: str | None) -> str | None:
    if value is not None and not (GROUP_HANDLE_RE.match(value.strip()) or GROUP_ID_RE.match(value.strip())):
        raise ValueError(f"{value!r} is not a user group handle (like @pacs-oncall) or id (like S0123ABC)")
    return value.strip() if value else value


class QueueSettings(Section):
    name: str
    channel: ChannelId
    oncall: str | None = Field(default=None, description="User group to mention for STAT/urgent tickets and SLA escalations.")
    oncall_phone: str | None = Field(default=None, max_length=60,
                                     description="How to reach this queue's on-call by phone (default: tickets.oncall_phone).")
    webhook: WebhookSettings | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not QUEUE_NAME_RE.match(value):
            raise ValueError(f"queue name {value!r} must be 1-32 lower-case letters, digits, - or _")
        return value

    @field_validator("oncall")
    @classmethod
    def _oncall(cls, value: str | None) -> str | None:
        return user_group(value)


class RuleMatch(Section):
    category: list[Category] = Field(default_factory=list)
    urgency: list[Urgency] = Field(default_factory=list)
    modality: list[str] = Field(default_factory=list)
    location: list[str] = Field(default_factory=list, description="Substrings of the location, case-insensitive.")
    keywords: list[str] = Field(default_factory=list, description="Any of these words in the text, case-insensitive.")
    after_hours: bool | None = Field(default=None, description="true: only outside working hours; false: only inside.")

    @field_validator("modality")
    @classmethod
    def _modality(cls, values: list[str]) -> list[str]:
        out = []
        for value in values:
            upper = value.strip().upper()
            upper = {"MRI": "MR", "XR": "DX", "PET": "PT", "MAMMO": "MG"}.get(upper, upper)
            if upper not in MODALITIES:
                raise ValueError(f"{value!r} is not a modality; use one of {', '.join(MODALITIES)}")
            out.append(upper)
        return out


class RuleSettings(Section):
    name: str
    match: RuleMatch = Field(default_factory=RuleMatch)
    queue: str
    priority: Priority | None = Field(default=None, description="Overrides the priority that follows from urgency.")


class SlaTarget(Section):
    acknowledge_minutes: int = Field(ge=1, le=60 * 24 * 30)
    resolve_minutes: int = Field(ge=1, le=60 * 24 * 90)


def _default_sla() -> dict[Priority, SlaTarget]:
    return {
        "P1": SlaTarget(acknowledge_minutes=15, resolve_minutes=240),
        "P2": SlaTarget(acknowledge_minutes=60, resolve_minutes=24 * 60),
        "P3": SlaTarget(acknowledge_minutes=4 * 60, resolve_minutes=3 * 24 * 60),
        "P4": SlaTarget(acknowledge_minutes=24 * 60, resolve_minutes=7 * 24 * 60),
    }


def _weekdays() -> list[Weekday]:
    return ["mon", "tue", "wed", "thu", "fri"]


class WorkingHours(Section):
    days: list[Weekday] = Field(default_factory=_weekdays)
    start: time = time(7, 0)
    end: time = time(19, 0)

    @model_validator(mode="after")
    def _order(self) -> "WorkingHours":
        if self.end <= self.start:
            raise ValueError("working_hours.end must be after working_hours.start")
        return self


class DuplicateSettings(Section):
    window_minutes: int = Field(default=240, ge=1, le=60 * 24 * 14)
    text_similarity: int = Field(default=75, ge=1, le=100, description="rapidfuzz token_set_ratio (0-100) for similar text.")


class OutageSettings(Section):
    """When reports alone declare an outage: distinct people, or distinct places, not a count of
    reports (one person filing four reports is one person with four problems)."""

    people: int = Field(default=3, ge=2, le=1000, description="This many different people reporting ...")
    places: int = Field(default=3, ge=2, le=1000,
                        description="... or reports from this many different locations or modalities (from at least two people) ...")
    minutes: int = Field(default=15, ge=1, le=24 * 60,
                         description="... within this many minutes, in one category, declare an outage. It takes new reports "
                                     "while they keep coming within this many minutes (or while the node watch says the "
                                     "system is down); after that, new reports are tickets of their own.")

    @model_validator(mode="before")
    @classmethod
    def _old_name(cls, data: Any) -> Any:
        # Before 2026-12 the threshold counted reports (``reports: 5``); it now counts people.
        if isinstance(data, dict) and "reports" in data:
            data = dict(data)
            reports = data.pop("reports")
            data.setdefault("people", reports)
        return data


class PriorityReminders(Section):
    """How tickets of one priority are reminded once an SLA target has passed (tickets/reminders.py)."""

    oncall_after_minutes: int | None = Field(
        default=None, description="Still not acknowledged this long after the acknowledge target: the next reminder "
                                  "@-mentions the queue's on-call group (once). null: never.")
    repeat_minutes: int | None = Field(
        default=None, description="Not acknowledged: remind again in the thread this often (after the on-call reminder). "
                                  "Acknowledged: remind from the resolve target, then after this interval, doubling "
                                  "each time. null: after the first reminder only the daily digest lists it.")
    working_hours_only: bool = Field(
        default=False, description="Remind only inside tickets.working_hours; a reminder falling outside is sent when "
                                   "they begin (only the latest one).")

    @field_validator("oncall_after_minutes")
    @classmethod
    def _oncall_after(cls, value: int | None) -> int | None:
        if value is not None and not 1 <= value <= 7 * 24 * 60:
            raise ValueError(f"oncall_after_minutes {value} must be between 1 and 10080 (7 days), or null for never")
        return value

    @field_validator("repeat_minutes")
    @classmethod
    def _repeat(cls, value: int | None) -> int | None:
        if value is not None and not 15 <= value <= 7 * 24 * 60:
            raise ValueError(f"repeat_minutes {value} must be between 15 and 10080 (7 days), or null for the daily digest only")
        return value


REMINDER_DEFAULTS: dict[str, dict[str, Any]] = {
    "P1": {"oncall_after_minutes": 30, "repeat_minutes": 60, "working_hours_only": False},
    "P2": {"oncall_after_minutes": 120, "repeat_minutes": 240, "working_hours_only": False},
    "P3": {"oncall_after_minutes": None, "repeat_minutes": None, "working_hours_only": True},
    "P4": {"oncall_after_minutes": None, "repeat_minutes": None, "working_hours_only": True},
}


class ReminderSettings(Section):
    """Per priority, how overdue tickets are reminded; and the daily digest per queue channel.
    A priority given in part keeps that priority's defaults for the keys it leaves out."""

    P1: PriorityReminders = Field(default_factory=lambda: PriorityReminders(**REMINDER_DEFAULTS["P1"]))
    P2: PriorityReminders = Field(default_factory=lambda: PriorityReminders(**REMINDER_DEFAULTS["P2"]))
    P3: PriorityReminders = Field(default_factory=lambda: PriorityReminders(**REMINDER_DEFAULTS["P3"]))
    P4: PriorityReminders = Field(default_factory=lambda: PriorityReminders(**REMINDER_DEFAULTS["P4"]))
    digest: bool = Field(default=True, description="Each working day at the start of working hours, one message per "
                                                   "queue channel listing overdue tickets no longer reminded one by "
                                                   "one, and stale ones.")

    @model_validator(mode="before")
    @classmethod
    def _priority_defaults(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            for priority, defaults in REMINDER_DEFAULTS.items():
                given = data.get(priority)
                if given is None and priority in data:
                    raise ValueError(f"reminders.{priority} is empty; leave it out for the defaults, or give its keys "
                                     "(oncall_after_minutes, repeat_minutes, working_hours_only)")
                if isinstance(given, dict):
                    data[priority] = {**defaults, **given}
        return data

    def of(self, priority: str) -> PriorityReminders:
        return getattr(self, priority) if priority in REMINDER_DEFAULTS else self.P4


class PhiSettings(Section):
    mrn_patterns: list[Regex] = Field(
        default_factory=lambda: [r"\b(?:MRN|MR#|medical record(?: number)?)\s*[:#]?\s*\d{5,12}\b"],
        description="Regular expressions for this site's medical record numbers.",
    )
    mask_accession_in_channel: bool = Field(default=False, description="Hide accession numbers in queue channel cards too.")


class TicketSettings(Section):
    default_queue: ChannelId | None = Field(default=None, description="Channel id where tickets go when no rule matches.")
    prefix: str = Field(default="PACS", description="Ticket references read PACS-123 (PACS-123.1: a report linked to PACS-123).")
    reaction: str = Field(default="ticket", description="Emoji that files a ticket from a message (without colons).")
    admin_channel: ChannelId | None = Field(default=None, description="Channel id for incident alerts (many reports at once).")
    oncall: str | None = Field(default=None, description="User group of the PACS on-call (like @pacs-oncall): paged for "
                                                           "STAT reports whose queue names no on-call of its own.")
    oncall_phone: str | None = Field(default=None, max_length=60,
                                     description="How to reach the PACS on-call by phone (e.g. 'ext. 4-7227'): told to people "
                                                 "who file a STAT report, and when pacsbot cannot file a report.")
    queues: list[QueueSettings] = Field(default_factory=list)
    rules: list[RuleSettings] = Field(default_factory=list)
    working_hours: WorkingHours = Field(default_factory=WorkingHours)
    sla: dict[Priority, SlaTarget] = Field(default_factory=_default_sla)
    reminders: ReminderSettings = Field(default_factory=ReminderSettings)
    remind_every_minutes: int | None = Field(default=None, ge=5, le=24 * 60,
                                             description="No longer used (replaced by reminders); still accepted so "
                                                         "older configuration files load.")
    stale_after_hours: int = Field(default=72, ge=1, le=24 * 90)
    duplicates: DuplicateSettings = Field(default_factory=DuplicateSettings)
    outage: OutageSettings = Field(default_factory=OutageSettings)
    phi: PhiSettings = Field(default_factory=PhiSettings)
    locate_on_intake: bool = Field(default=True, description="Run a locate for missing-image reports with an accession.")

    @field_validator("oncall")
    @classmethod
    def _oncall(cls, value: str | None) -> str | None:
        return user_group(value)

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not re.match(r"^[A-Z][A-Z0-9]{0,9}$", value):
            raise ValueError(f"prefix {value!r} must be 1-10 capital letters or digits, starting with a letter")
        return value

    @field_validator("reaction")
    @classmethod
    def _reaction(cls, value: str) -> str:
        value = value.strip().strip(":")
        if not re.match(r"^[a-z0-9_+\-']{1,64}$", value):
            raise ValueError(f"{value!r} is not an emoji name (like ticket or rotating_light)")
        return value

    @model_validator(mode="after")
    def _rules_point_at_queues(self) -> "TicketSettings":
        names = [q.name for q in self.queues]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ValueError(f"queue names must be unique: {', '.join(sorted(dupes))} appears twice")
        for rule in self.rules:
            if rule.queue not in names:
                known = ", ".join(names) or "none are defined"
                raise ValueError(f"rule {rule.name!r} sends tickets to queue {rule.queue!r}, which is not in tickets.queues ({known})")
        return self

    def queue(self, name: str) -> QueueSettings | None:
        return next((q for q in self.queues if q.name == name), None)

    def oncall_of(self, queue: str) -> str | None:
        """The on-call group to page for a queue: its own, else the site's."""
        q = self.queue(queue)
        return (q.oncall if q and q.oncall else None) or self.oncall

    def phone_of(self, queue: str) -> str | None:
        q = self.queue(queue)
        return (q.oncall_phone if q and q.oncall_phone else None) or self.oncall_phone
