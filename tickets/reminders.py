"""When an overdue ticket is reminded: a pure policy (no Slack, no clock, no database).

Given what is known about a ticket (:class:`TicketFacts`), the reminders it already had
(:class:`Sent`) and the time ``now``, :meth:`ReminderPolicy.due` says which reminder
(:class:`Step`) is due now, or None. The service records each step under a unique key, so
a step is sent once whichever replica asks; the bot turns it into a Slack message.

The schedule, per priority (``tickets.reminders``; the targets are ``tickets.sla``)::

    not acknowledged   T = filed + acknowledge target
      step 0           at T                        in the card's thread, also to the channel
      step 1           at T + oncall_after         @-mentions the on-call group
      step 2, 3, ...   every repeat after step 1   in the thread only
                       (no on-call: steps 1, 2, ... every repeat after T; no repeat: none)

    acknowledged       R = filed (or last reopened) + resolve target
      step 0           at R                        in the thread only
      step 1, 2, ...   R + repeat, then intervals doubling (repeat, 2x, 4x ...) while an
                       interval is at most a day; then only the daily digest lists it.
                       (no repeat: no per-ticket reminders, only the digest)

* Only the **latest** step due at ``now`` is ever due: if pacsbot was down, or a step fell
  outside working hours, the missed steps are not sent in a burst.
* ...but the on-call page is never skipped: once the on-call step has passed, the first
  reminder sent pages, if no earlier reminder of this ticket (this reopen) did. Likewise
  the first reminder sent for a ticket goes to the channel, and no other does.
* ``working_hours_only`` priorities are reminded only inside ``tickets.working_hours`` (in
  the site time zone): a step due at night is sent when working hours begin. With no working
  days configured, the restriction is ignored.
* The **digest** (once per working day, per queue channel) lists open tickets past a target
  whose per-ticket reminders are over, and tickets not updated for ``stale_after_hours``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pacsbot.tickets.config import PriorityReminders, TicketSettings
from pacsbot.tickets.routing import in_working_hours

Phase = Literal["acknowledge", "resolve"]
ACKNOWLEDGE: Phase = "acknowledge"
RESOLVE: Phase = "resolve"

# Resolve reminders back off; when the next interval would be longer than this, the ticket
# is left to the daily digest.
DIGEST_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class TicketFacts:
    """What the policy needs to know about one ticket."""

    priority: str
    status: str  # new | acknowledged (anything else is not reminded)
    created_at: datetime
    acknowledged_at: datetime | None = None
    reopen_count: int = 0
    reopened_at: datetime | None = None  # the last reopen: the resolve target counts from it
    updated_at: datetime | None = None  # for the digest's "stale"

    @property
    def phase(self) -> Phase | None:
        if self.status == "new" and self.acknowledged_at is None:
            return ACKNOWLEDGE
        if self.status in ("new", "acknowledged"):
            return RESOLVE
        return None


@dataclass(frozen=True)
class Sent:
    """A reminder already sent for the ticket."""

    phase: str
    step: int
    reopen: int = 0
    oncall: bool = False  # it @-mentioned the on-call group
    broadcast: bool = False  # it was also posted to the channel


@dataclass(frozen=True)
class Step:
    """A reminder due now."""

    phase: Phase
    index: int  # 0 is the first reminder of the phase
    at: datetime  # when the schedule made it due (earlier than now if it waited for working hours)
    target_at: datetime  # when the acknowledge or resolve target passed
    oncall: bool  # @-mention the on-call group
    broadcast: bool  # reply in the thread *and* to the channel
    reopen: int = 0

    def sent(self) -> Sent:
        return Sent(self.phase, self.index, self.reopen, self.oncall, self.broadcast)


@dataclass(frozen=True)
class DigestEntry:
    """Why a ticket is in the daily digest, and since when."""

    reason: Literal["acknowledge", "resolve", "stale"]
    since: datetime


@dataclass(frozen=True)
class ReminderPolicy:
    settings: TicketSettings
    timezone: str = "UTC"

    # -- the schedule -----------------------------------------------------------------------
    def rules(self, priority: str) -> PriorityReminders:
        return self.settings.reminders.of(priority)

    def target_at(self, facts: TicketFacts) -> datetime | None:
        """When the target of the ticket's current phase passes (None: not reminded at all)."""
        phase = facts.phase
        target = self.settings.sla.get(facts.priority)  # type: ignore[call-overload]
        if phase is None or target is None:
            return None
        if phase == ACKNOWLEDGE:
            return facts.created_at + timedelta(minutes=target.acknowledge_minutes)
        start = facts.reopened_at if facts.reopen_count and facts.reopened_at else facts.created_at
        return start + timedelta(minutes=target.resolve_minutes)

    def oncall_step(self, facts: TicketFacts) -> int | None:
        """The index of the step that pages the on-call group, if this ticket has one."""
        if facts.phase == ACKNOWLEDGE and self.rules(facts.priority).oncall_after_minutes is not None:
            return 1
        return None

    def latest(self, facts: TicketFacts, now: datetime) -> tuple[int, datetime] | None:
        """The latest step whose time has come, ``(index, at)``, ignoring working hours."""
        target = self.target_at(facts)
        if target is None or now < target:
            return None
        rules = self.rules(facts.priority)
        if facts.phase == ACKNOWLEDGE:
            index, at = 0, target
            base_index, base = 0, target
            if rules.oncall_after_minutes is not None:
                base_index, base = 1, target + timedelta(minutes=rules.oncall_after_minutes)
                if now >= base:
                    index, at = base_index, base
                else:
                    return index, at
            if rules.repeat_minutes:
                every = timedelta(minutes=rules.repeat_minutes)
                repeats = (now - base) // every
                if repeats > 0:
                    index, at = base_index + repeats, base + repeats * every
            return index, at
        found = None
        for index, at in self._resolve_steps(facts, target):
            if at > now:
                break
            found = (index, at)
        return found

    def next_at(self, facts: TicketFacts, now: datetime) -> datetime | None:
        """When the next step after ``now`` falls (None: no more per-ticket reminders)."""
        target = self.target_at(facts)
        if target is None:
            return None
        if now < target:
            return target
        rules = self.rules(facts.priority)
        if facts.phase == ACKNOWLEDGE:
            base = target
            if rules.oncall_after_minutes is not None:
                base = target + timedelta(minutes=rules.oncall_after_minutes)
                if now < base:
                    return base
            if not rules.repeat_minutes:
                return None
            every = timedelta(minutes=rules.repeat_minutes)
            return base + ((now - base) // every + 1) * every
        return next((at for _, at in self._resolve_steps(facts, target) if at > now), None)

    def _resolve_steps(self, facts: TicketFacts, target: datetime) -> Iterator[tuple[int, datetime]]:
        repeat = self.rules(facts.priority).repeat_minutes
        if not repeat:
            return
        index, at, interval = 0, target, timedelta(minutes=repeat)
        yield index, at
        while interval <= DIGEST_AFTER:
            index, at, interval = index + 1, at + interval, interval * 2
            yield index, at

    # -- what is due now ----------------------------------------------------------------------
    def working_hours(self, now: datetime) -> bool:
        if not self.settings.working_hours.days:
            return True
        return in_working_hours(self.settings, now, self.timezone)

    def due(self, facts: TicketFacts, now: datetime, sent: Iterable[Sent] = ()) -> Step | None:
        """The reminder to send now, or None. ``sent``: the ticket's reminders so far."""
        phase = facts.phase
        if phase is None:
            return None
        if self.rules(facts.priority).working_hours_only and not self.working_hours(now):
            return None
        latest = self.latest(facts, now)
        if latest is None:
            return None
        index, at = latest
        mine = [s for s in sent if s.phase == phase and s.reopen == facts.reopen_count]
        if any(s.step == index for s in mine):
            return None
        oncall_step = self.oncall_step(facts)
        oncall = oncall_step is not None and index >= oncall_step and not any(s.oncall for s in mine)
        broadcast = phase == ACKNOWLEDGE and not any(s.broadcast for s in mine)
        target = self.target_at(facts)
        assert target is not None  # latest() found a step
        return Step(phase, index, at, target, oncall, broadcast, facts.reopen_count)

    # -- the daily digest ---------------------------------------------------------------------
    def digest_day(self, now: datetime) -> date | None:
        """The local working day whose digest may go out now (inside working hours), else None."""
        if not self.settings.reminders.digest or not self.settings.working_hours.days:
            return None
        if not in_working_hours(self.settings, now, self.timezone):
            return None
        return now.astimezone(ZoneInfo(self.timezone)).date()

    def digest_entry(self, facts: TicketFacts, now: datetime) -> DigestEntry | None:
        """Why the ticket belongs in today's digest: past a target with no per-ticket reminders
        to come, or stale. None: it does not."""
        phase = facts.phase
        if phase is None:
            return None
        target = self.target_at(facts)
        if target is not None and now >= target and self.next_at(facts, now) is None:
            return DigestEntry(phase, target)
        stale_after = timedelta(hours=self.settings.stale_after_hours)
        if facts.updated_at is not None and now - facts.updated_at >= stale_after:
            return DigestEntry("stale", facts.updated_at)
        return None
