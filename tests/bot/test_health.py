"""/healthz's parts: a live check that fails makes the answer 503 "degraded"; the outbox
backlog turns unhealthy when a message has waited too long; the Socket Mode health server
answers on its own port, and stands aside when the port is taken."""

from __future__ import annotations

import http.client
import json
import socket
from datetime import timedelta

from pacsbot.bot.models import OutboxMessage
from pacsbot.bot.server import OUTBOX_STUCK_SECONDS, Health, serve_health
from tests.harness import Harness


def get(port: int, path: str = "/healthz") -> tuple[int, dict[str, object]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_a_live_check_that_fails_degrades_the_answer(harness: Harness) -> None:
    connected = {"ok": True}
    health = Health(harness.services, outbox=True, live={"socket_mode": lambda: dict(connected)}, wait=5)
    status, body = health.get()
    assert status == 200 and body["status"] == "ok" and body["outbox"] == {"ok": True, "backlog": 0, "oldest_seconds": 0}
    connected["ok"] = False
    status, body = health.get()
    assert status == 503 and body["status"] == "degraded" and body["socket_mode"] == {"ok": False}


def test_an_old_outbox_message_means_sending_is_stuck(harness: Harness) -> None:
    now = harness.services.clock.now()
    with harness.db.session() as s:
        s.add(OutboxMessage(key="k1", origin="tickets", method="chat.postMessage", payload={"channel": "C1", "text": "x"},
                            status="pending", attempts=3, created_at=now - timedelta(seconds=OUTBOX_STUCK_SECONDS + 60),
                            next_attempt_at=now))
    status, body = Health(harness.services, outbox=True, wait=5).get()
    assert status == 503 and body["outbox"]["ok"] is False and body["outbox"]["backlog"] == 1


def test_the_socket_mode_health_server_answers_and_stands_aside_when_the_port_is_taken(harness: Harness) -> None:
    health = Health(harness.services, live={"socket_mode": lambda: {"ok": True}}, wait=5)
    server = serve_health(health, ("127.0.0.1", 0))
    try:
        status, body = get(server.server_port)
        assert status == 200 and body["socket_mode"] == {"ok": True}
        assert get(server.server_port, "/other")[0] == 404
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            assert serve_health(health, ("127.0.0.1", taken.getsockname()[1])) is None
    finally:
        server.shutdown()
        server.server_close()
