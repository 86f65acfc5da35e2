"""The database stops or freezes under a running bot: nothing reported is lost, nothing hangs.

A TCP fault proxy (tests/faultproxy.py) sits between the bot and a real PostgreSQL. While it
refuses connections (PostgreSQL stopped) or forwards nothing (PostgreSQL frozen), events
get a non-2xx answer so Slack delivers them again, acks that need no database stay fast,
and /healthz answers within a second; once the database is back, Slack's redelivery is
handled exactly once.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from pacsbot.bot.slackmock import MockSlack
from pacsbot.bot.storage import Database
from pacsbot.core.clock import ManualClock
from pacsbot.tickets.models import Ticket
from tests.conftest import PG_ENV
from tests.faultproxy import FaultProxy
from tests.harness import ADMIN, CLINICIAN, TECH, Harness, make_settings

pytestmark = [pytest.mark.postgres, pytest.mark.integration]
QUEUE = "C0PACSQUE"
WARD = "C0RADIOLO"


@pytest.fixture
def proxied(tmp_path: Any, mock_slack: MockSlack) -> Iterator[tuple[Harness, FaultProxy]]:
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"fault tests need {PG_ENV}")
    url = make_url(base.replace("postgresql://", "postgresql+psycopg://", 1) if base.startswith("postgresql://") else base)
    proxy = FaultProxy(url.host or "127.0.0.1", url.port or 5432).start()
    schema = f"f_{os.getpid()}_{int(time.time() * 1000) % 10**8}"
    admin = Database(base)
    with admin.engine.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        conn.commit()
    proxied_url = url.set(host="127.0.0.1", port=proxy.port).update_query_dict({"options": f"-csearch_path={schema}"})
    db = Database(proxied_url.render_as_string(hide_password=False))
    settings = make_settings(tmp_path, db.url, tickets={"default_queue": QUEUE, "queues": [{"name": "pacs", "channel": QUEUE}]})
    h = Harness(settings, db, mock_slack)
    try:
        yield h, proxy
    finally:
        proxy.set("ok")
        h.close()
        db.dispose()
        proxy.close()
        with admin.engine.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            conn.commit()
        admin.dispose()


def tickets(h: Harness) -> list[Ticket]:
    with h.db.session() as s:
        return list(s.scalars(select(Ticket)))


def timed(fn: Any, *args: Any) -> tuple[float, Any]:
    started = time.monotonic()
    result = fn(*args)
    return time.monotonic() - started, result


@pytest.mark.parametrize("fault", ["refuse", "hang"])
def test_a_reaction_during_an_outage_is_redelivered_and_filed_once(proxied: tuple[Harness, FaultProxy], fault: str) -> None:
    h, proxy = proxied
    clock = ManualClock(datetime.now(timezone.utc))
    h.services.clock = clock
    message = h.mock.post_as_user(CLINICIAN, WARD, "viewer keeps crashing when I open the MR prior")
    event = {"type": "reaction_added", "user": TECH, "reaction": "ticket", "item": {"type": "message", "channel": WARD, "ts": message["ts"]}}
    proxy.set(fault)
    took, response = timed(h.send, h.sim.event(event, event_id="Ev0OUTAGE1"))
    assert response.status >= 500  # not acked: Slack keeps the event and delivers it again
    assert took < 5
    proxy.set("ok")
    h.drain()
    time.sleep(1.0)  # a write held by the frozen server may land now that it answers again
    clock.advance(minutes=1)  # Slack's next delivery comes a minute later
    assert h.send(h.sim.event(event, event_id="Ev0OUTAGE1", retry_num=1)).status == 200
    h.drain()
    assert h.send(h.sim.event(event, event_id="Ev0OUTAGE1", retry_num=2)).status == 200  # a late duplicate
    h.drain()
    [ticket] = tickets(h)
    assert (ticket.source, ticket.reporter) == ("reaction", TECH)


def test_a_dm_question_during_an_outage_is_answered_after_it(proxied: tuple[Harness, FaultProxy]) -> None:
    h, proxy = proxied
    proxy.set("refuse")
    question = h.sim.message_event(CLINICIAN, "how do I hang a prior for comparison?", channel_id="D0RAD0001",
                                   channel_type="im", event_id="Ev0OUTAGEDM")
    assert h.send(question).status >= 500
    assert not [c for c in h.mock.calls_to("chat.postMessage") if c.params.get("channel") == "D0RAD0001"]
    proxy.set("ok")
    retry = h.sim.message_event(CLINICIAN, "how do I hang a prior for comparison?", channel_id="D0RAD0001",
                                channel_type="im", event_id="Ev0OUTAGEDM", retry_num=1)
    assert h.send(retry).status == 200
    h.drain()
    answers = [c for c in h.mock.calls_to("chat.postMessage") if c.params.get("channel") == "D0RAD0001"]
    assert len(answers) == 1 and "prior" in answers[0].params["text"].lower()


def test_while_the_database_is_frozen_help_acks_fast_and_health_answers_in_a_second(proxied: tuple[Harness, FaultProxy]) -> None:
    h, proxy = proxied
    proxy.set("hang")  # before any health check: the first one finds the database frozen
    took, health = timed(h.get, "/healthz")
    assert took < 1.5 and health.status == 503
    assert "still checking" in health.json()["database"]["error"]
    for _ in range(3):  # health checks do not pile up on the server's threads
        took, health = timed(h.get, "/healthz")
        assert took < 1.5 and health.status == 503
    took, ack = timed(h.command, ADMIN, "help")
    assert ack.status == 200 and took < 2.0 and "/pacs" in ack.body
    proxy.set("ok")


def test_a_report_made_while_the_database_is_down_is_kept_and_filed_after_it(proxied: tuple[Harness, FaultProxy]) -> None:
    h, proxy = proxied
    proxy.set("refuse")
    took, ack = timed(h.command, TECH, "report images missing on pacs, acc A1002")
    assert ack.status == 200 and took < 3.0
    h.drain()
    said = " ".join(c.params.get("text", "") for c in h.mock.calls_to("response_url")) + ack.text
    assert "Filed" not in said
    assert "Not filed yet: pacsbot's ticket store is not answering" in said and "saved on the server" in said
    assert "call the PACS on-call" in said
    feature = h.services.features.tickets
    assert len(feature.spool) == 1
    job = next(j for name, j in h.services.registry.jobs.items() if name.startswith("ticket-spool:"))
    assert feature.file_spooled() == 0 and len(feature.spool) == 1  # still down: kept, tried again later
    proxy.set("ok")
    assert job.run(h.services) == 1 and len(feature.spool) == 0
    h.drain()
    [ticket] = tickets(h)
    assert ticket.reporter == TECH and ticket.accession == "A1002"
    dm = [c.params["text"] for c in h.mock.calls_to("chat.postMessage") if c.params.get("channel") == TECH]
    assert any(f"Filed *PACS-{ticket.id}* — your report from" in t for t in dm)
    assert job.run(h.services) == 0 and len(tickets(h)) == 1  # filed once


def test_a_button_clicked_while_the_database_is_down_says_so(proxied: tuple[Harness, FaultProxy]) -> None:
    h, proxy = proxied
    h.command(TECH, "report viewer frozen in reading room 3")
    h.drain()
    [ticket] = tickets(h)
    card = next(m for m in h.mock.messages[ticket.channel] if m["ts"] == ticket.card_ts)
    proxy.set("refuse")
    took, response = timed(h.send, h.sim.block_action(ADMIN, {"action_id": f"ticket_ack:{ticket.id}", "value": str(ticket.id)},
                                                       channel_id=QUEUE, message=card))
    assert response.status == 200 and took < 3.0
    h.drain()
    said = h.mock.calls_to("response_url")[-1].params["text"]
    assert "Not done: pacsbot's database is not answering" in said and "acknowledged" not in said.lower().split("not done")[0]
    proxy.set("ok")
    assert tickets(h)[0].status == "new"  # nothing half-done
