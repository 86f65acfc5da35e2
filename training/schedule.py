"""When to remind: working hours in the configured time zone, and which reminder step is due.

Pure functions (no database, no clock of their own), so the rules are easy to test and to
read. Steps are named so that each is sent at most once per assignment:

* ``before:N`` — N *working* days before the due date (``working_days``, counted in the site's
  time zone), for each N in ``remind_before_days``: with ``[7, 1]`` a module due on Monday is
  reminded on the Friday before, not on the Sunday (when reminders are not sent) nor only on the
  Monday morning itself. Only the nearest step is sent (after a weekend, a learner gets one
  reminder, not two), and none for a threshold that had already passed when the module was
  assigned (the invitation said it).
* ``overdue:K`` — the K-th reminder after the due date, one every ``remind_overdue_every_days``
  days, at most ``remind_overdue_max``.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def local_now(now: datetime, tz: ZoneInfo) -> datetime:
    return now.astimezone(tz)


def local_date(when: datetime, tz: ZoneInfo) -> date:
    return when.astimezone(tz).date()


def in_working_hours(now: datetime, tz: ZoneInfo, start: time, end: time, weekdays: set[int]) -> bool:
    local = now.astimezone(tz)
    return local.weekday() in weekdays and start <= local.time().replace(tzinfo=None) < end


def working_days_between(start: date, end: date, weekdays: Collection[int]) -> int:
    """How many working days (``weekdays``: Monday is 0) are in ``[start, end)``; 0 if end <= start."""
    days = (end - start).days
    if days <= 0:
        return 0
    weeks, rest = divmod(days, 7)
    count = weeks * len(set(weekdays) & set(range(7)))
    return count + sum(1 for i in range(rest) if (start + timedelta(days=weeks * 7 + i)).weekday() in weekdays)


def reminder_step(
    *,
    today: date,
    due: date | None,
    assigned_on: date,
    before_days: list[int],
    overdue_every: int,
    overdue_max: int,
    weekdays: Collection[int],
) -> str | None:
    """The step due today for an open assignment, or None.

    ``before:N`` is reached when at most N working days (``weekdays``, Monday is 0) are left
    before the due date: due on Monday, ``before:1`` is reached on the Friday before. It is
    not sent when the module was assigned with at most N working days left. Overdue
    reminders count calendar days.
    """
    if due is None:
        return None
    days_left = (due - today).days
    if days_left >= 0:
        working_left = working_days_between(today, due, weekdays)
        reached = [d for d in before_days if working_left <= d]
        if not reached:
            return None
        nearest = min(reached)
        if working_days_between(assigned_on, due, weekdays) <= nearest:
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
