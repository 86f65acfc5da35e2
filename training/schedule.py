"""When to remind: working hours in the configured time zone, and which reminder step is due.

Pure functions (no database, no clock of their own), so the rules are easy to test and to
read. Steps are named so that each is sent at most once per assignment:

* ``before:N`` — N days before the due date, for each N in ``remind_before_days``. Only the
  nearest step is sent (after a weekend, a learner gets one reminder, not two), and none for a
  threshold that had already passed when the module was assigned (the invitation said it).
* ``overdue:K`` — the K-th reminder after the due date, one every ``remind_overdue_every_days``
  days, at most ``remind_overdue_max``.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def local_now(now: datetime, tz: ZoneInfo) -> datetime:
    return now.astimezone(tz)


def local_date(when: datetime, tz: ZoneInfo) -> date:
    return when.astimezone(tz).date()


def in_working_hours(now: datetime, tz: ZoneInfo, start: time, end: time, weekdays: set[int]) -> bool:
    local = now.astimezone(tz)
    return local.weekday() in weekdays and start <= local.time().replace(tzinfo=None) < end


def reminder_step(
    *,
    today: date,
    due: date | None,
    assigned_on: date,
    before_days: list[int],
    overdue_every: int,
    overdue_max: int,
) -> str | None:
    """The step due today for an open assignment, or None."""
    if due is None:
        return None
    days_left = (due - today).days
    if days_left >= 0:
        reached = [d for d in before_days if days_left <= d]
        if not reached:
            return None
        nearest = min(reached)
        if assigned_on >= due - timedelta(days=nearest):
            return None  # assigned inside this window: the invitation already told them
        return f"before:{nearest}"
    over = -days_left
    k = 1 + (over - 1) // max(1, overdue_every)
    if k > overdue_max:
        return None
    return f"overdue:{k}"


def parse_due(text: str, today: date) -> date:
    """``2027-01-15``, ``14d``, ``2w`` -> a date; ValueError with a message for people otherwise."""
    value = text.strip().lower()
    if value.endswith(("d", "w")) and value[:-1].isdigit():
        days = int(value[:-1]) * (7 if value.endswith("w") else 1)
        if not 1 <= days <= 730:
            raise ValueError(f"“{text}” is too far out; give a due date within two years.")
        return today + timedelta(days=days)
    try:
        due = date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"“{text}” is not a date. Write it as YYYY-MM-DD (like 2027-01-15), or 14d / 2w from today.") from None
    if due < today:
        raise ValueError(f"The due date {due:%Y-%m-%d} is in the past; today is {today:%Y-%m-%d}.")
    if due > today + timedelta(days=730):
        raise ValueError(f"The due date {due:%Y-%m-%d} is more than two years away; check the year.")
    return due
