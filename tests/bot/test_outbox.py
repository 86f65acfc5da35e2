"""The outbox: idempotent enqueue, exactly one sender per message across replicas, pacing,
429s, retries with backoff, permanent failures — on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from pacsbot.bot.models import OutboxMessage
from pacsbot.bot.outbox import FAILED, PENDING, SENT, Outbox
from pacsbot.bot.slack_client import make_web_client
from pacsbot.bot.slackmock import MockSlack
from pacsbot.bot.storage import Database, upgrade
from pacsbot.core.clock import ManualClock

TOKEN = "xoxb-test-token"


def _outbox(db: Database, mock: MockSlack, clock: ManualClock, **kw: Any) -> Outbox:
    return Outbox(db, make_web_client(TOKEN, mock.api_url), clock, **{"rate": 1000.0, "burst": 1000, **kw})


def _queue(outbox: Outbox, n: int, prefix: str = "test") -> None:
    with outbox.db.session() as s:
        for i in range(n):
            outbox.enqueue(s, f"{prefix}:{i}", channel=f"U{i:08d}", text=f"hello {i}", origin="test")


def _rows(db: Database) -> list[OutboxMessage]:
    with db.session() as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_enqueue_is_idempotent_and_sends_once(db: Database, mock_slack: MockSlack) -> None:
    upgrade(db)
    outbox = _outbox(db, mock_slack, ManualClock())
    with db.session() as s:
        assert outbox.enqueue(s, "k:1", channel="U0RAD0001", text="hi", blocks=[{"type": "divider"}]) is True
        assert outbox.enqueue(s, "k:1", channel="U0RAD0001", text="hi again") is False
    report = outbox.drain()
    assert (report.sent, report.failed) == (1, 0)
    assert outbox.drain().sent == 0
    posts = mock_slack.calls_to("chat.postMessage")
    assert [p.params["text"] for p in posts] == ["hi"]
    row = _rows(db)[0]
    assert row.status == SENT and row.attempts == 1 and row.result["channel"] == "D0RAD0001" and row.result["ts"]
    delivery = outbox.lookup(["k:1"])["k:1"]
    assert delivery.status == SENT and delivery.ts == row.result["ts"]


def test_nothing_is_sent_for_a_rolled_back_change(db: Database, mock_slack: MockSlack) -> None:
    upgrade(db)
    outbox = _outbox(db, mock_slack, ManualClock())
    try:
        with db.session() as s:
            outbox.enqueue(s, "k:rolled-back", channel="U0RAD0001", text="never")
            raise RuntimeError("the feature's own write failed")
    except RuntimeError:
        pass
    assert outbox.drain().sent == 0 and mock_slack.calls_to("chat.postMessage") == []


def test_two_replicas_send_each_message_exactly_once(db: Database, mock_slack: MockSlack) -> None:
    upgrade(db)
    clock = ManualClock()
    _queue(_outbox(db, mock_slack, clock), 120)
    replicas = [_outbox(db, mock_slack, clock, replica=f"replica-{i}") for i in range(3)]
    threads = [threading.Thread(target=r.drain) for r in replicas]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    posts = mock_slack.calls_to("chat.postMessage")
    assert len(posts) == 120
    assert len({p.params["channel"] for p in posts}) == 120
    assert all(r.status == SENT for r in _rows(db))
    assert len({r.claimed_by for r in _rows(db)}) >= 1


def test_rate_limits_are_retried_after_retry_after(db: Database, mock_slack: MockSlack) -> None:
    upgrade(db)
    outbox = _outbox(db, mock_slack, ManualClock())
    _queue(outbox, 3)
    mock_slack.fail("chat.postMessage", status=429, retry_after=1, times=2)
    report = outbox.drain()
    assert report.sent == 3
    assert len(mock_slack.calls_to("chat.postMessage")) == 5  # two 429s, then three successes
    assert all(r.status == SENT for r in _rows(db))


def test_still_rate_limited_after_the_client_retries_is_put_back(db: Database, mock_slack: MockSlack) -> None:
    upgrade(db)
    clock = ManualClock()
    slept: list[float] = []
    outbox = _outbox(db, mock_slack, clock, sleep=slept.append)
    _queue(outbox, 1)
    mock_slack.fail("chat.postMessage", status=429, retry_after=1, times=5)  # the client gives up after 4 retries
    report = outbox.drain()
    assert report.rate_limited and report.sent == 0
    row = _rows(db)[0]
    assert row.status == PENDING and row.last_error == "ratelimited" and row.next_attempt_at > clock.now()
    assert 1 in slept  # paused for Retry-After
    clock.advance(seconds=2)
    assert outbox.drain().sent == 1


def test_transient_errors_back_off_and_permanent_ones_fail(db: Database, mock_slack: MockSlack) -> None:
    upgrade(db)
    clock = ManualClock()
    outbox = _outbox(db, mock_slack, clock)
    with db.session() as s:
        outbox.enqueue(s, "k:gone", channel="U0GONE001", text="to a deactivated account")
        outbox.enqueue(s, "k:flaky", channel="U0RAD0001", text="will work later")
    mock_slack.fail("chat.postMessage", error="account_inactive")
    mock_slack.fail("chat.postMessage", error="fatal_error")
    report = outbox.drain()
    assert (report.sent, report.failed, report.retried) == (0, 1, 1)
    rows = {r.key: r for r in _rows(db)}
    assert rows["k:gone"].status == FAILED and rows["k:gone"].last_error == "account_inactive"
    assert rows["k:flaky"].status == PENDING and rows["k:flaky"].next_attempt_at == clock.now() + Outbox.BACKOFF_BASE
    assert outbox.drain().sent == 0  # not due yet
    clock.advance(seconds=31)
    assert outbox.drain().sent == 1
    assert len(mock_slack.calls_to("chat.postMessage")) == 3


def test_gives_up_after_max_attempts(db: Database, mock_slack: MockSlack) -> None:
    upgrade(db)
    clock = ManualClock()
    outbox = _outbox(db, mock_slack, clock)
    _queue(outbox, 1)
    mock_slack.fail("chat.postMessage", error="internal_error", times=Outbox.MAX_ATTEMPTS)
    for _ in range(Outbox.MAX_ATTEMPTS):
        outbox.drain()
        clock.advance(hours=2)
    row = _rows(db)[0]
    assert row.status == FAILED and "gave up after 8 attempts" in row.last_error


def test_a_crashed_senders_claim_expires(db: Database, mock_slack: MockSlack) -> None:
    upgrade(db)
    clock = ManualClock()
    crashed = _outbox(db, mock_slack, clock, replica="crashed")
    _queue(crashed, 2)
    assert len(crashed._claim(10)) == 2  # claimed, then the process died
    other = _outbox(db, mock_slack, clock, replica="other")
    assert other.drain().sent == 0  # the lease still holds
    clock.advance(Outbox.LEASE + timedelta(seconds=1))
    assert other.drain().sent == 2


def test_pacing_spreads_messages_out(db: Database, mock_slack: MockSlack) -> None:
    upgrade(db)
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    outbox = Outbox(db, make_web_client(TOKEN, mock_slack.api_url), ManualClock(), rate=4.0, burst=2,
                    sleep=sleep, monotonic=lambda: now[0])
    _queue(outbox, 10)
    assert outbox.drain().sent == 10
    assert abs(sum(slept) - 2.0) < 0.01  # 2 in the burst, then 8 at 4 per second


def test_chat_update_and_forgetting_old_messages(db: Database, mock_slack: MockSlack) -> None:
    upgrade(db)
    clock = ManualClock()
    outbox = _outbox(db, mock_slack, clock)
    with db.session() as s:
        outbox.enqueue(s, "k:post", channel="U0RAD0001", text="first")
    outbox.drain()
    sent = outbox.lookup(["k:post"])["k:post"]
    with db.session() as s:
        outbox.enqueue(s, "k:update", method="chat.update", channel=sent.channel, ts=sent.ts, text="edited")
    outbox.drain()
    assert mock_slack.messages[sent.channel][0]["text"] == "edited"
    clock.advance(Outbox.RETENTION + timedelta(days=1))
    assert outbox.forget_old() == 2
    assert _rows(db) == []


def test_kick_drains_in_the_background_once_per_process(db: Database, mock_slack: MockSlack) -> None:
    upgrade(db)
    done = threading.Event()
    submitted: list[Any] = []

    def submit(fn: Any) -> None:
        submitted.append(fn)

    outbox = _outbox(db, mock_slack, ManualClock(), submit=submit)
    _queue(outbox, 2)
    outbox.kick()
    outbox.kick()  # while the first is pending: only a rerun is noted
    assert len(submitted) == 1
    submitted[0]()
    done.set()
    assert len(mock_slack.calls_to("chat.postMessage")) == 2
    outbox.kick()
    assert len(submitted) == 2
