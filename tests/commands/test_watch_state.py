"""The node watch's state machine and downtime parsing, with a clock that only moves when told."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from pacsbot.commands.downtime import parse_add
from pacsbot.commands.watch import Rules, WatchState, duration_words, local_time, node_label, step
from pacsbot.core.clock import ManualClock
from pacsbot.core.errors import UserError
from pacsbot.core.privacy import vouch

RULES = Rules(down_after=3, up_after=2)


def run(results: str, *, downtime: set[int] = frozenset(), clock: ManualClock | None = None) -> tuple[WatchState, list[tuple[int, str]]]:
    """Feed 'x' (failed) / 'o' (answered) echoes five minutes apart; return the state and (index, event)s."""
    clock = clock or ManualClock()
    state, events = WatchState(), []
    for i, ch in enumerate(results):
        state, t = step(state, ch == "o", clock.now(), RULES, in_downtime=i in downtime)
        if t is not None:
            events.append((i, t.event))
        clock.advance(minutes=5)
    return state, events


def test_first_success_is_up_without_an_alert() -> None:
    state, events = run("o")
    assert state.state == "up" and events == []


def test_down_after_three_failures_in_a_row_and_up_after_two_successes() -> None:
    clock = ManualClock(datetime(2026, 11, 27, 14, 2, tzinfo=timezone.utc))
    state, t = WatchState(), None
    transitions = []
    for ch in "oxxxxoo":
        state, t = step(state, ch == "o", clock.now(), RULES)
        if t:
            transitions.append(t)
        clock.advance(minutes=5)
    down, up = transitions
    assert down.event == "down" and down.since == datetime(2026, 11, 27, 14, 7, tzinfo=timezone.utc)  # the first failure
    assert down.at == datetime(2026, 11, 27, 14, 17, tzinfo=timezone.utc)
    assert up.event == "up" and up.since == down.since and duration_words(up.outage) == "25 min"
    assert state.state == "up" and state.failures == 0


def test_unknown_node_that_never_answers_goes_down() -> None:
    assert run("xxx")[1] == [(2, "down")]


def test_flapping_never_alerts() -> None:
    assert run("o" + "xo" * 20)[1] == []
    assert run("o" + "xxo" * 10)[1] == []  # two failures are not three
    state, events = run("oxxx" + "ox" * 10)  # down, then flapping: not up again
    assert events == [(3, "down")] and state.state == "down"


def test_no_down_alert_inside_a_planned_downtime() -> None:
    state, events = run("oxxxxx", downtime={1, 2, 3, 4, 5})
    assert events == [] and state.state == "up" and state.failures == 5


def test_alert_when_the_window_ends_and_the_node_still_fails() -> None:
    _, events = run("oxxxxxx", downtime={1, 2, 3, 4})
    assert events == [(5, "down")]


def test_recovery_inside_the_window_is_silent_and_resets() -> None:
    assert run("oxxxoxx", downtime={1, 2, 3})[1] == []


def test_words() -> None:
    assert node_label("pacs", "pacs") == "PACS" and node_label("pacs2", "pacs") == "PACS (pacs2)" and node_label("ct1", "modality") == "ct1"
    assert duration_words(timedelta(minutes=47)) == "47 min" and duration_words(timedelta(minutes=125)) == "2 h 5 min"
    assert duration_words(timedelta(seconds=10)) == "1 min" and duration_words(timedelta(days=3, hours=4)) == "3 days 4 h"
    now = datetime(2026, 11, 27, 14, 2, tzinfo=timezone.utc)
    assert local_time(now, "Europe/Berlin", now) == "15:02"
    assert local_time(now - timedelta(days=1), "UTC", now) == vouch("Thu 26 Nov 14:02")  # the bot's own date: never masked


NOW = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)  # 13:00 in Berlin


@pytest.mark.parametrize("args, start, end", [
    ('pacs 2026-12-01 22:00 2026-12-01 23:30 "PACS upgrade"', "2026-12-01 21:00", "2026-12-01 22:30"),
    ('pacs 22:00 23:30 "PACS upgrade"', "2026-11-27 21:00", "2026-11-27 22:30"),
    ('pacs today 23:00 tomorrow 02:00 "Night upgrade"', "2026-11-27 22:00", "2026-11-28 01:00"),
    ('PACS tomorrow 06:00 tomorrow 07:00 "Disk swap"', "2026-11-28 05:00", "2026-11-28 06:00"),
])
def test_downtime_times_are_local(args: str, start: str, end: str) -> None:
    request = parse_add(args, ["pacs", "vna"], now=NOW, tz="Europe/Berlin")
    assert request.node == "pacs"
    assert request.starts_at.strftime("%Y-%m-%d %H:%M") == start and request.ends_at.strftime("%Y-%m-%d %H:%M") == end


@pytest.mark.parametrize("args, message", [
    ('ct9 22:00 23:00 "x"', "There is no node called “ct9”. Configured nodes: pacs, vna."),
    ('pacs 23:00 22:00 "x"', "The end is before the start"),
    ('pacs 09:00 10:00 "x"', "That start time is in the past"),
    ("pacs 22:00 23:00", "Please give a reason"),
    ('pacs 22:00 23:00 "' + "x" * 201 + '"', "The reason is 201 characters long"),
    ('pacs 25:00 23:00 "x"', "“25:00” is not a time for the start"),
    ('pacs 2026-02-30 22:00 23:00 "x"', "“2026-02-30” is not a real date."),
    ('pacs tomorrow "x"', "is not a time for the start"),
    ('pacs 22:00 2026-12-20 23:00 "x"', "at most 7 days"),
    ('pacs 22:00 23:00 "x', "closing quote"),
    ("", "Which node, when, and why?"),
])
def test_downtime_input_errors_say_what_is_wrong(args: str, message: str) -> None:
    with pytest.raises(UserError) as err:
        parse_add(args, ["pacs", "vna"], now=NOW, tz="Europe/Berlin")
    assert message in str(err.value)


# ----------------------------------------------------------------------------------------
# configuration

from pacsbot.commands.config import DicomSettings  # noqa: E402


def _node(**extra: object) -> dict[str, object]:
    return {"name": "pacs", "ae_title": "PACS", "host": "127.0.0.1", "port": 104, **extra}


def test_watch_defaults() -> None:
    settings = DicomSettings.model_validate({"nodes": [_node(), _node(name="vna", watch_interval_seconds=60)]})
    watch = settings.watch
    assert (watch.enabled, watch.interval_seconds, watch.down_after, watch.up_after, watch.channel, watch.downtime_channels,
            watch.remind_before_minutes) == (True, 300, 3, 2, None, [], 60)
    assert [settings.watch_interval(n) for n in settings.nodes] == [300, 60]


@pytest.mark.parametrize("config, message", [
    ({"watch": {"interval_seconds": 5}}, "interval_seconds must be between 15 and 86400 (15 seconds to 1 day); it is 5"),
    ({"watch": {"channel": "#pacs-admin"}}, "'#pacs-admin' is not a Slack channel id"),
    ({"watch": {"downtime_channels": ["C0OK", "general"]}}, "'general' is not a Slack channel id"),
    ({"watch": {"down_after": 0}}, "down_after"),
    ({"watch": {"every": 5}}, "every"),
    ({"nodes": [_node(watch_interval_seconds=1)]}, "watch_interval_seconds must be between 15 and 86400"),
])
def test_watch_config_errors_are_clear(config: dict[str, object], message: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as err:
        DicomSettings.model_validate(config)
    assert message in str(err.value)
