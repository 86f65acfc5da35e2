"""tickets/reminders.py, the reminder policy, without Slack, a clock or a database: days
simulated minute by minute, counting reminders, broadcasts and on-call pages per day.

The table "expected reminders per day" in docs/admin-guide.md is :data:`EXPECTED`; a test
checks the guide says the same."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from pacsbot.tickets.config import TicketSettings
from pacsbot.tickets.reminders import DIGEST_AFTER, ReminderPolicy, Sent, Step, TicketFacts

TZ = "America/Chicago"
SITE = ZoneInfo(TZ)
TUESDAY_8AM = datetime(2026, 6, 2, 8, 0, tzinfo=SITE)  # working hours: mon-fri 07:00-19:00 (the defaults)
FRIDAY_6PM = datetime(2026, 6, 5, 18, 0, tzinfo=SITE)


def policy(**tickets: Any) -> ReminderPolicy:
    return ReminderPolicy(TicketSettings.model_validate(tickets), TZ)


@dataclass
class Day:
    reminders: int = 0
    broadcast: int = 0
    oncall: int = 0

    def tuple(self) -> tuple[int, int, int]:
        return self.reminders, self.broadcast, self.oncall


def simulate(pol: ReminderPolicy, priority: str, filed: datetime, *, acknowledged_after: int | None = None,
             days: int = 3, down: range | None = None) -> tuple[list[Day], list[tuple[int, Step]]]:
    """Run the policy every minute for ``days`` days after filing; ``down``: minutes pacsbot is
    not running. Returns the count per 24 hours, and every reminder with its minute."""
    created = filed.astimezone(ZoneInfo("UTC"))
    sent: list[Sent] = []
    per_day = [Day() for _ in range(days)]
    steps: list[tuple[int, Step]] = []
    for minute in range(days * 24 * 60):
        if down is not None and minute in down:
            continue
        acked = acknowledged_after is not None and minute >= acknowledged_after
        facts = TicketFacts(priority, "acknowledged" if acked else "new", created,
                            acknowledged_at=created + timedelta(minutes=acknowledged_after) if acked else None,  # type: ignore[operator]
                            updated_at=created)
        step = pol.due(facts, created + timedelta(minutes=minute), sent)
        if step is None:
            continue
        sent.append(step.sent())
        day = per_day[minute // (24 * 60)]
        day.reminders += 1
        day.broadcast += step.broadcast
        day.oncall += step.oncall
        steps.append((minute, step))
    return per_day, steps


# (priority, acknowledged after N minutes or None) -> (reminders, broadcast, on-call pages) on
# day 1, 2 and 3 after filing on a Tuesday at 08:00, with the default settings.
EXPECTED: dict[tuple[str, int | None], list[tuple[int, int, int]]] = {
    ("P1", None): [(25, 1, 1), (24, 0, 0), (24, 0, 0)],
    ("P1", 10): [(5, 0, 0), (1, 0, 0), (0, 0, 0)],
    ("P2", None): [(7, 1, 1), (6, 0, 0), (6, 0, 0)],
    ("P2", 30): [(0, 0, 0), (3, 0, 0), (1, 0, 0)],
    ("P3", None): [(1, 1, 0), (0, 0, 0), (0, 0, 0)],
    ("P3", 30): [(0, 0, 0), (0, 0, 0), (0, 0, 0)],
}


@pytest.mark.parametrize("priority, acked", list(EXPECTED))
def test_reminders_per_day(priority: str, acked: int | None) -> None:
    days, steps = simulate(policy(), priority, TUESDAY_8AM, acknowledged_after=acked)
    assert [d.tuple() for d in days] == EXPECTED[(priority, acked)]
    assert sum(s.broadcast for _, s in steps) <= 1
    assert sum(s.oncall for _, s in steps) <= 1


def test_a_typical_p1_acknowledged_after_10_minutes_is_reminded_with_backoff() -> None:
    # Resolve target 4 h; then 1 h, 2 h, 4 h, 8 h, 16 h later; the next (32 h) is the digest's.
    _, steps = simulate(policy(), "P1", TUESDAY_8AM, acknowledged_after=10)
    assert [m for m, _ in steps] == [240, 300, 420, 660, 1140, 2100]
    assert {(s.phase, s.broadcast, s.oncall) for _, s in steps} == {("resolve", False, False)}
    assert [s.index for _, s in steps] == [0, 1, 2, 3, 4, 5]


def test_a_p1_never_acknowledged_broadcasts_once_pages_once_then_repeats_hourly_in_the_thread() -> None:
    _, steps = simulate(policy(), "P1", TUESDAY_8AM, days=1)
    minutes = [m for m, _ in steps]
    assert minutes[:4] == [15, 45, 105, 165] and minutes[-1] == 1425
    first, second, *rest = [s for _, s in steps]
    assert (first.broadcast, first.oncall) == (True, False)  # at the target: thread and channel
    assert (second.broadcast, second.oncall) == (False, True)  # 30 min later: the on-call group
    assert not any(s.broadcast or s.oncall for s in rest)  # hourly, in the thread only


def test_a_p2_never_acknowledged() -> None:
    _, steps = simulate(policy(), "P2", TUESDAY_8AM, days=1)
    assert [m for m, _ in steps] == [60, 180, 420, 660, 900, 1140, 1380]
    assert [(s.broadcast, s.oncall) for _, s in steps][:2] == [(True, False), (False, True)]


def test_a_p3_is_reminded_once_in_working_hours_then_left_to_the_digest() -> None:
    pol = policy()
    _, steps = simulate(pol, "P3", TUESDAY_8AM, days=5)
    [(minute, step)] = steps
    assert (TUESDAY_8AM + timedelta(minutes=minute)).astimezone(SITE).strftime("%a %H:%M") == "Tue 12:00"
    assert step.broadcast and not step.oncall
    created = TUESDAY_8AM.astimezone(ZoneInfo("UTC"))
    facts = TicketFacts("P3", "new", created, updated_at=created)
    wednesday_7am = datetime(2026, 6, 3, 7, 0, tzinfo=SITE)
    entry = pol.digest_entry(facts, wednesday_7am)
    assert entry is not None and entry.reason == "acknowledge" and entry.since == created + timedelta(hours=4)


def test_a_p3_filed_on_friday_evening_waits_for_monday_morning() -> None:
    days, steps = simulate(policy(), "P3", FRIDAY_6PM, days=4)
    assert [d.tuple() for d in days] == [(0, 0, 0), (0, 0, 0), (1, 1, 0), (0, 0, 0)]
    [(minute, step)] = steps
    assert (FRIDAY_6PM + timedelta(minutes=minute)).astimezone(SITE).strftime("%a %H:%M") == "Mon 07:00"
    assert step.at == FRIDAY_6PM + timedelta(hours=4)  # due Friday 22:00, sent when working hours begin


def test_night_steps_are_not_sent_in_a_burst_when_working_hours_begin() -> None:
    # A P3 reminded every 2 h, working hours only: the steps due overnight collapse into one.
    pol = policy(reminders={"P3": {"repeat_minutes": 120}})
    filed = datetime(2026, 6, 2, 16, 0, tzinfo=SITE)  # target 20:00, after hours
    _, steps = simulate(pol, "P3", filed, days=1)
    local = [(filed + timedelta(minutes=m)).astimezone(SITE).strftime("%a %H:%M") for m, _ in steps]
    assert local == ["Wed 07:00", "Wed 08:00", "Wed 10:00", "Wed 12:00", "Wed 14:00"]
    assert steps[0][1].index == 5 and steps[0][1].broadcast  # the latest step, and the first the channel sees
    assert [s.broadcast for _, s in steps].count(True) == 1


def test_when_pacsbot_was_down_only_the_latest_step_is_sent_and_it_pages_the_oncall() -> None:
    _, steps = simulate(policy(), "P1", TUESDAY_8AM, days=1, down=range(0, 200))
    minute, first = steps[0]
    assert minute == 200 and first.index == 3  # steps 0-2 (15, 45, 105 min) missed; 165 min is the latest
    assert first.oncall and first.broadcast  # nobody was paged nor told in the channel yet
    assert not any(s.oncall or s.broadcast for _, s in steps[1:])
    assert [m for m, _ in steps[1:3]] == [225, 285]


def test_the_oncall_page_is_not_skipped_when_down_after_the_first_reminder() -> None:
    _, steps = simulate(policy(), "P1", TUESDAY_8AM, days=1, down=range(20, 200))
    assert [(m, s.index, s.broadcast, s.oncall) for m, s in steps[:3]] == [
        (15, 0, True, False), (200, 3, False, True), (225, 4, False, False)]


def test_no_step_is_due_twice_and_history_of_another_reopen_does_not_count() -> None:
    pol = policy()
    created = TUESDAY_8AM.astimezone(ZoneInfo("UTC"))
    reopened = created + timedelta(days=2)
    facts = TicketFacts("P1", "acknowledged", created, acknowledged_at=created, reopen_count=1, reopened_at=reopened)
    assert pol.due(facts, reopened + timedelta(hours=3)) is None  # the resolve target counts from the reopen
    at = reopened + timedelta(hours=4, minutes=1)
    step = pol.due(facts, at, [Sent("resolve", 0, reopen=0)])
    assert step is not None and (step.phase, step.index, step.reopen) == ("resolve", 0, 1)
    assert pol.due(facts, at, [step.sent()]) is None


def test_resolved_and_linked_tickets_are_not_reminded() -> None:
    created = TUESDAY_8AM.astimezone(ZoneInfo("UTC"))
    for status in ("resolved", "duplicate"):
        facts = TicketFacts("P1", status, created, acknowledged_at=created)
        assert policy().due(facts, created + timedelta(days=1)) is None
        assert policy().digest_entry(facts, created + timedelta(days=10)) is None


def test_backoff_hands_over_to_the_digest_after_a_day() -> None:
    pol = policy()
    created = TUESDAY_8AM.astimezone(ZoneInfo("UTC"))
    facts = TicketFacts("P1", "acknowledged", created, acknowledged_at=created + timedelta(minutes=10), updated_at=created)
    last = created + timedelta(minutes=2100)
    assert pol.next_at(facts, last - timedelta(minutes=1)) == last
    assert pol.next_at(facts, last) is None and 2 * 960 > DIGEST_AFTER.total_seconds() / 60
    assert pol.digest_entry(facts, last - timedelta(minutes=1)) is None  # still reminded one by one
    entry = pol.digest_entry(facts, last)
    assert entry is not None and entry.reason == "resolve"


def test_digest_membership_and_days() -> None:
    pol = policy(stale_after_hours=72)
    created = TUESDAY_8AM.astimezone(ZoneInfo("UTC"))
    unacked_p1 = TicketFacts("P1", "new", created, updated_at=created)
    assert pol.digest_entry(unacked_p1, created + timedelta(days=2)) is None  # it has its hourly reminders
    stale = pol.digest_entry(unacked_p1, created + timedelta(hours=72))
    assert stale is not None and (stale.reason, stale.since) == ("stale", created)
    acked_p3 = TicketFacts("P3", "acknowledged", created, acknowledged_at=created, updated_at=created + timedelta(days=2))
    assert pol.digest_entry(acked_p3, created + timedelta(days=2, hours=23)) is None  # resolve target is 3 days
    entry = pol.digest_entry(acked_p3, created + timedelta(days=3))
    assert entry is not None and entry.reason == "resolve"

    assert pol.digest_day(datetime(2026, 6, 2, 6, 59, tzinfo=SITE)) is None
    assert str(pol.digest_day(datetime(2026, 6, 2, 7, 0, tzinfo=SITE))) == "2026-06-02"
    assert str(pol.digest_day(datetime(2026, 6, 2, 23, 30, tzinfo=ZoneInfo("UTC")))) == "2026-06-02"  # 18:30 in Chicago
    assert pol.digest_day(datetime(2026, 6, 6, 9, 0, tzinfo=SITE)) is None  # Saturday
    assert policy(reminders={"digest": False}).digest_day(datetime(2026, 6, 2, 9, 0, tzinfo=SITE)) is None


# -- configuration ---------------------------------------------------------------------------

def test_a_priority_given_in_part_keeps_its_defaults_and_old_files_still_load() -> None:
    settings = TicketSettings.model_validate({"reminders": {"P1": {"repeat_minutes": 120}}, "remind_every_minutes": 30})
    assert (settings.reminders.P1.oncall_after_minutes, settings.reminders.P1.repeat_minutes) == (30, 120)
    assert settings.reminders.P3.working_hours_only and settings.reminders.P3.repeat_minutes is None
    assert settings.remind_every_minutes == 30  # accepted, no longer used


@pytest.mark.parametrize("reminders, message", [
    ({"P1": {"repeat_minutes": 5}}, "repeat_minutes 5 must be between 15 and 10080"),
    ({"P2": {"oncall_after_minutes": 0}}, "oncall_after_minutes 0 must be between 1 and 10080"),
    ({"P3": None}, "reminders.P3 is empty"),
    ({"P5": {}}, "Extra inputs are not permitted"),
    ({"P1": {"every": 10}}, "Extra inputs are not permitted"),
])
def test_bad_reminder_settings_say_what_is_wrong(reminders: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TicketSettings.model_validate({"reminders": reminders})


def test_the_admin_guide_table_is_the_one_tested() -> None:
    guide = (Path(__file__).resolve().parents[2] / "docs" / "admin-guide.md").read_text()
    labels = {None: "not acknowledged", 10: "acknowledged after 10 min", 30: "acknowledged after 30 min"}
    for (priority, acked), days in EXPECTED.items():
        cells = " | ".join(f"{r} ({', '.join(n for n in (f'{b} to channel' * bool(b), f'{o} on-call' * bool(o)) if n)})"
                           if (b or o) else str(r) for r, b, o in days)
        row = f"| {priority} {labels[acked]} | {cells} |"
        assert row in guide, f"docs/admin-guide.md lacks the row {row!r}"
