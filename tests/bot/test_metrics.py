"""``/metrics`` through the real Bolt app: acks by command and outcome with their latency,
Web API calls and 429s, the outbox backlog read with a bounded wait, scheduler runs, DICOM
checks by node, tickets, answers from the manuals — and nothing a patient or a user could be
recognised by. Metrics are per process, so each test looks at what its own requests changed."""

from __future__ import annotations

import http.client
import re
import threading
import time
from datetime import timedelta
from typing import Any

import pytest

from pacsbot.bot import metrics
from pacsbot.bot.audit import Audit
from pacsbot.bot.metrics_http import MetricsPage
from pacsbot.bot.models import OutboxMessage
from pacsbot.bot.registry import Job
from pacsbot.bot.scheduler import Scheduler
from pacsbot.bot.server import BoundedCheck, Health, outbox_check, serve_health
from pacsbot.bot.simulate import SignedRequest, Simulator
from pacsbot.bot.slack_client import make_web_client
from pacsbot.bot.slackmock import MockSlack
from pacsbot.commands.demo import DemoNetwork
from tests.dicom_support import demo_network, node_dicts  # noqa: F401 - fixtures
from tests.harness import ADMIN, CLINICIAN, TECH, TOKEN, Harness
from tests.metrics_support import Scrape

ACKS = "pacsbot_acks_total"
LATENCY = "pacsbot_ack_duration_seconds"


def scrape(h: Harness) -> Scrape:
    response = h.get("/metrics")
    assert response.status == 200
    return Scrape.of(response.body)


def test_acks_are_counted_by_command_and_outcome_with_their_latency(harness: Harness) -> None:
    h = harness
    before = scrape(h)
    for _ in range(3):
        assert h.command(ADMIN, "help").status == 200
    assert h.command(CLINICIAN, "audit").status == 200                   # an admin command: refused in the ack
    assert h.command(CLINICIAN, "frobnicate the Smith study").status == 200  # no such subcommand
    forged = Simulator("not-the-secret").slash_command(ADMIN, "help")
    assert h.send(forged).status == 401                                    # Bolt's signature check
    malformed = h.sim.slash_command(ADMIN, "help")
    assert h.send(SignedRequest(malformed.body, {**malformed.headers, "X-Slack-Signature": "nope"})).status == 401  # ours
    h.drain()
    after = scrape(h)

    assert after.delta(before, ACKS, kind="command", name="help", outcome="ok") == 3
    assert after.delta(before, ACKS, kind="command", name="audit", outcome="refused") == 1
    assert after.delta(before, ACKS, kind="command", name="unknown", outcome="ok") == 1
    assert after.delta(before, ACKS, kind="unknown", name="unknown", outcome="rejected") == 2
    # one latency per ack, from the request's arrival to the ack
    assert after.delta(before, f"{LATENCY}_count", kind="command", name="help") == 3
    assert after.delta(before, f"{LATENCY}_bucket", kind="command", name="help", le="+Inf") == 3
    took = after.delta(before, f"{LATENCY}_sum", kind="command", name="help")
    assert 0 < took < 3 * 3.0
    assert after.delta(before, f"{LATENCY}_bucket", kind="command", name="help", le="3.0") == 3
    # what the user typed is not a label
    assert "frobnicate" not in after.words() and "Smith" not in after.words()


def test_buttons_are_counted_by_their_declared_id(harness: Harness) -> None:
    h = harness
    before = scrape(h)
    # a button nobody declared (a link button): acked, counted under "other"
    assert h.send(h.sim.block_action(ADMIN, {"action_id": "open-the-link-1234", "url": "https://example.invalid"})).status == 200
    after = scrape(h)
    assert after.delta(before, ACKS, kind="action", name="other", outcome="ok") == 1
    assert "open-the-link" not in after.words()


def test_web_api_calls_and_each_429_are_counted(mock_slack: MockSlack) -> None:
    before = Scrape.of(metrics_text())
    client = make_web_client(TOKEN, mock_slack.api_url)
    mock_slack.fail("chat.postMessage", status=429, retry_after=1, times=1)
    assert client.chat_postMessage(channel="C0GENERAL", text="hello")["ok"]   # waited out, then sent
    mock_slack.fail("chat.postMessage", error="channel_not_found", times=1)
    with pytest.raises(Exception, match="channel_not_found"):
        client.chat_postMessage(channel="C0NOWHERE", text="hello")
    impatient = make_web_client(TOKEN, mock_slack.api_url, patient=False)  # before an ack: no waiting on Retry-After
    mock_slack.fail("chat.postEphemeral", status=429, retry_after=30, times=1)
    with pytest.raises(Exception, match="ratelimited"):
        impatient.chat_postEphemeral(channel="C0GENERAL", user=ADMIN, text="hello")
    after = Scrape.of(metrics_text())
    assert after.delta(before, "pacsbot_slack_rate_limited_total", method="chat.postMessage") == 1
    assert after.delta(before, "pacsbot_slack_rate_limited_total", method="chat.postEphemeral") == 1
    assert after.delta(before, "pacsbot_slack_api_calls_total", method="chat.postMessage", result="ok") == 1
    assert after.delta(before, "pacsbot_slack_api_calls_total", method="chat.postMessage", result="error") == 1
    assert after.delta(before, "pacsbot_slack_api_calls_total", method="chat.postEphemeral", result="ratelimited") == 1


def metrics_text() -> str:
    data, _ = MetricsPage().render()
    return data.decode()


def test_the_outbox_backlog_and_its_oldest_message(harness: Harness) -> None:
    h = harness
    assert scrape(h).value("pacsbot_outbox_backlog_messages") == 0
    now = h.services.clock.now()
    with h.db.session() as s:
        s.add(OutboxMessage(key="k1", origin="tickets", method="chat.postMessage", payload={"channel": "C1", "text": "x"},
                            status="pending", attempts=3, created_at=now - timedelta(minutes=20), next_attempt_at=now + timedelta(hours=1)))
    # the backlog is read at most every 10 s (as for /healthz): a fresh check reads it now
    fresh = Scrape.of(MetricsPage(outbox=outbox_check(h.services, wait=5).get).render()[0].decode())
    assert fresh.value("pacsbot_outbox_query_success") == 1
    assert fresh.value("pacsbot_outbox_backlog_messages") == 1
    assert 20 * 60 <= fresh.value("pacsbot_outbox_oldest_message_age_seconds") < 21 * 60


def test_a_hung_database_does_not_hang_the_scrape() -> None:
    release = threading.Event()

    def hung() -> dict[str, Any]:
        release.wait(30)
        return {"ok": True, "backlog": 0, "oldest_seconds": 0}

    page = MetricsPage(outbox=BoundedCheck("outbox", hung, ttl=10, wait=0.3).get)
    try:
        started = time.monotonic()
        page_now = Scrape.of(page.render()[0].decode())
        assert time.monotonic() - started < 2
        assert page_now.value("pacsbot_outbox_query_success") == 0
        assert "pacsbot_outbox_backlog_messages" not in page_now.families
        assert page_now.value("pacsbot_build_info", version=page.version) == 1
    finally:
        release.set()


def test_scheduler_runs_by_job_and_result_and_its_heartbeat(harness: Harness) -> None:
    h = harness
    scheduler = Scheduler(h.services, tick_seconds=60)

    def broken(services: Any) -> None:
        raise RuntimeError("the job failed")

    before = scrape(h)
    assert scheduler._run_one(Job("metrics-test-ok", timedelta(minutes=1), lambda services: None))
    assert scheduler._run_one(Job("metrics-test-ok", timedelta(minutes=1), lambda services: None))
    assert not scheduler._run_one(Job("metrics-test-broken", timedelta(minutes=1), broken))
    scheduler.start()
    try:
        after = scrape(h)
    finally:
        scheduler.stop()
    assert after.delta(before, "pacsbot_scheduler_job_runs_total", job="metrics-test-ok", result="ok") == 2
    assert after.delta(before, "pacsbot_scheduler_job_runs_total", job="metrics-test-broken", result="failed") == 1
    assert after.delta(before, "pacsbot_scheduler_job_duration_seconds_count", job="metrics-test-ok") == 2
    assert abs(after.value("pacsbot_scheduler_last_tick_timestamp_seconds") - time.time()) < 30
    assert 0 <= after.value("pacsbot_scheduler_heartbeat_age_seconds") < 30


def test_audit_rows_are_counted_once_committed(harness: Harness) -> None:
    audit = Audit(harness.db)
    before = scrape(harness)
    with harness.db.session() as s:
        audit.record("U0ADMIN01", "dicom.echo", target="node:pacs", outcome="failed", session=s)
        audit.record("U0ADMIN01", "ticket.resolved", target="PACS-1", session=s)
    with pytest.raises(RuntimeError), harness.db.session() as s:
        audit.record("U0ADMIN01", "dicom.echo", target="node:pacs", outcome="failed", session=s)
        raise RuntimeError("rolled back")
    audit.record("U0ADMIN01", "dicom.echo", target="node:vna", outcome="ok")
    after = scrape(harness)
    assert after.delta(before, "pacsbot_dicom_checks_total", check="echo", node="pacs", result="failed") == 1
    assert after.delta(before, "pacsbot_dicom_checks_total", check="echo", node="vna", result="ok") == 1
    assert after.delta(before, "pacsbot_audit_events_total", action="dicom.echo", outcome="failed") == 1
    assert after.delta(before, "pacsbot_ticket_events_total", event="resolved") == 1


class TestDicom:
    @pytest.fixture
    def settings_overrides(self, demo_network: DemoNetwork) -> dict[str, Any]:  # noqa: F811
        return {"dicom": {"nodes": node_dicts(demo_network)}}

    def test_checks_are_counted_by_node_and_result(self, harness: Harness) -> None:
        h = harness
        before = scrape(h)
        h.command(ADMIN, "echo all")
        h.drain()
        h.command(ADMIN, "locate A1002")
        h.drain()
        h.command(ADMIN, "echo nowhere")  # not a configured node: refused, and not a label
        h.drain()
        after = scrape(h)
        for node in ("pacs", "vna"):
            assert after.delta(before, "pacsbot_dicom_checks_total", check="echo", node=node, result="ok") == 1
            assert after.delta(before, "pacsbot_dicom_checks_total", check="locate", node=node, result="ok") == 1
        assert after.delta(before, ACKS, kind="command", name="echo", outcome="ok") == 1
        assert after.delta(before, ACKS, kind="command", name="echo", outcome="invalid") == 1
        assert after.delta(before, "pacsbot_audit_events_total", action="dicom.echo", outcome="refused") == 1
        assert "nowhere" not in after.words() and "A1002" not in after.words()


class TestTickets:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"tickets": {"default_queue": "C0PACSQUE", "queues": [{"name": "pacs", "channel": "C0PACSQUE"}]}}

    def test_tickets_opened_acknowledged_resolved_and_no_phi_in_the_metrics(self, harness: Harness) -> None:
        h = harness
        before = scrape(h)
        h.command(TECH, "report images missing for John Smithers DOB 02/03/1961 MRN 778812, acc A7788123")
        h.drain()
        from sqlalchemy import select

        from pacsbot.tickets.models import Ticket

        with h.db.session() as s:
            [ticket] = list(s.scalars(select(Ticket)))
            number = ticket.id
        for action in ("ticket_ack", "ticket_resolve"):
            h.send(h.sim.block_action(ADMIN, {"action_id": f"{action}:{number}", "value": str(number)}, channel_id="C0PACSQUE"))
            h.drain()
        form = h.mock.calls_to("views.open")[-1].params["view"]  # resolving asks what was done
        values = {"resolution": {"resolution": {"type": "plain_text_input", "value": "Resent for Smithers"}}}
        assert h.send(h.sim.view_submission(ADMIN, {**form, "id": "V0RES0001"}, values)).status == 200
        h.drain()
        after = scrape(h)
        assert after.delta(before, "pacsbot_ticket_events_total", event="opened") == 1
        assert after.delta(before, "pacsbot_ticket_events_total", event="acknowledged") == 1
        assert after.delta(before, "pacsbot_ticket_events_total", event="resolved") == 1
        assert after.delta(before, ACKS, kind="command", name="report", outcome="ok") == 1
        assert after.delta(before, ACKS, kind="action", name="ticket_ack", outcome="ok") == 1
        # nothing a patient or a person could be recognised by
        said = after.words()  # the values' digits could hold "1961" by chance: only the words are looked at
        assert "pacsbot_ticket_events_total" in said and 'event="opened"' in said
        for secret in ("Smithers", "John", "1961", "778812", "A7788123", TECH, ADMIN, "PACS-"):
            assert secret not in said, secret
        assert not re.search(r"\bU0[A-Z0-9]{7}\b", said)


def test_answers_from_the_manuals_by_mode(harness: Harness) -> None:
    h = harness
    before = scrape(h)
    h.command(TECH, "ask how do i resend a series from the CT")
    h.command(TECH, "ask zxqv wibble florp")
    h.drain()
    after = scrape(h)
    assert after.delta(before, "pacsbot_kb_answers_total", mode="answer", surface="command") == 1
    assert after.delta(before, "pacsbot_kb_answers_total", mode="unknown", surface="command") == 1
    assert "wibble" not in after.words()


def test_the_socket_mode_health_server_answers_metrics(harness: Harness) -> None:
    health = Health(harness.services, outbox=True, live={"socket_mode": lambda: {"ok": True}}, wait=5)
    server = serve_health(health, ("127.0.0.1", 0))
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
        conn.request("GET", "/metrics")
        response = conn.getresponse()
        body = response.read().decode()
        conn.close()
        assert response.status == 200 and response.getheader("Content-Type", "").startswith("text/plain")
        page = Scrape.of(body)
        assert page.value("pacsbot_outbox_query_success") == 1 and page.value("pacsbot_outbox_backlog_messages") == 0
        assert "pacsbot_acks" in page.families and "pacsbot_dicom_checks" in page.families
        conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
        conn.request("HEAD", "/metrics")
        head = conn.getresponse()
        assert head.status == 200 and head.read() == b""
        conn.close()
    finally:
        server.shutdown()
        server.server_close()


def test_a_metric_that_cannot_be_counted_never_fails_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> Any:
        raise OSError("no space left for the metrics files")

    monkeypatch.setattr(metrics, "metrics", broken)
    metrics.count_ack("command", "help", 200, time.perf_counter())
    metrics.count_audit("dicom.echo", "node:pacs", "ok")
    metrics.count_slack_call("chat.postMessage", "ok")


def test_a_scrape_while_a_worker_creates_its_file_skips_that_file(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker that has just started makes its metrics file empty, then sizes it; a scrape in
    between must not fail (CI saw a 500 right after gunicorn replaced its workers)."""
    from prometheus_client.mmap_dict import MmapedDict, mmap_key

    from pacsbot.bot.metrics_http import MetricsPage
    from tests.metrics_support import Scrape

    written = MmapedDict(str(tmp_path / "counter_101.db"))
    written.write_value(mmap_key("pacsbot_acks", "pacsbot_acks_total", ["kind", "name", "outcome"], ["command", "help", "ok"],
                                 "acks"), 3.0, 0.0)
    written.close()
    (tmp_path / "counter_102.db").write_bytes(b"")  # the new worker's, being created
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    text, _ = MetricsPage().render()
    assert Scrape.of(text.decode()).value("pacsbot_acks_total", kind="command", name="help", outcome="ok") == 3.0
