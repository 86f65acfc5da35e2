"""`pacsbot serve` as a real process: gunicorn, signed requests, 401s, health, clean exit."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pacsbot.bot.simulate import Simulator
from pacsbot.bot.slackmock import MockSlack

pytestmark = pytest.mark.integration

SECRET = "0123456789abcdef0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def request(port: int, method: str, path: str, body: str = "", headers: dict[str, str] | None = None) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body.encode(), headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def get_health(port: int) -> tuple[int, dict[str, Any]]:
    """GET /healthz, again while a check says it is still checking (it answers within 0.9 s)."""
    for _ in range(50):
        status, body = request(port, "GET", "/healthz")
        if "still checking" not in body:
            break
        time.sleep(0.1)
    return status, json.loads(body)


@contextlib.contextmanager
def serving(tmp_path: Path, mock_slack: MockSlack, env: dict[str, str | None] | None = None,
            ready: Callable[[subprocess.Popen[str]], bool] = lambda proc: True) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """``pacsbot serve`` (2 workers x 4 threads, SQLite) against ``mock_slack``, with ``env``
    over this process's environment (a value of None removes it); yielded once /healthz
    answers 200 and ``ready(proc)``; stopped with SIGTERM afterwards."""
    port = free_port()
    cfg = tmp_path / "pacsbot.yml"
    cfg.write_text(f"database:\n  url: sqlite:///{tmp_path}/serve.db\nroles:\n  admins: [U0ADMIN01]\n")
    merged: dict[str, str | None] = {**os.environ, "SLACK_BOT_TOKEN": "xoxb-test-token", "SLACK_SIGNING_SECRET": SECRET,
                                     "SLACK_API_URL": mock_slack.api_url, "SLACK_APP_TOKEN": None, **(env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pacsbot.bot", "--config", str(cfg), "serve", "--port", str(port), "--workers", "2", "--threads", "4"],
        env={k: v for k, v in merged.items() if v is not None}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            if request(port, "GET", "/healthz")[0] == 200 and ready(proc):
                break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"pacsbot serve did not start: {proc.communicate()[1][-2000:]}")
        time.sleep(0.2)
    try:
        yield port, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture
def served(tmp_path: Path, mock_slack: MockSlack) -> Iterator[tuple[int, Any, MockSlack]]:
    with serving(tmp_path, mock_slack) as (port, proc):
        yield port, proc, mock_slack


def test_good_bad_and_stale_requests(served: tuple[int, Any, MockSlack]) -> None:
    port, _proc, mock = served
    sim = Simulator(SECRET, response_url_base=mock.respond_base)
    good = sim.slash_command("U0ADMIN01", "help")
    status, body = request(port, "POST", "/slack/events", good.body, good.headers)
    assert status == 200 and "/pacs audit" in body

    forged = Simulator("not-the-secret").slash_command("U0ADMIN01", "help")
    assert request(port, "POST", "/slack/events", forged.body, forged.headers)[0] == 401

    stale = sim.slash_command("U0ADMIN01", "help", timestamp=int(time.time()) - 600)
    assert request(port, "POST", "/slack/events", stale.body, stale.headers)[0] == 401

    for _ in range(50):  # a check that has not answered within 0.9 s says "still checking"
        status, body = request(port, "GET", "/healthz")
        if b"still checking" not in (body if isinstance(body, bytes) else body.encode()):
            break
        time.sleep(0.1)
    health = json.loads(body)
    assert status == 200 and health["database"]["ok"] and health["slack"]["ok"]


def test_terminates_cleanly_on_sigterm(served: tuple[int, Any, MockSlack]) -> None:
    _port, proc, _mock = served
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0


def test_socket_mode_when_an_app_token_is_set(tmp_path: Path, mock_slack: MockSlack) -> None:
    from urllib.parse import parse_qsl

    from tests.socket_mode_server import SocketModeServer

    server = SocketModeServer()
    mock_slack.socket_mode_url = server.url
    cfg = tmp_path / "pacsbot.yml"
    port = free_port()
    cfg.write_text(f"database:\n  url: sqlite:///{tmp_path}/socket.db\nroles:\n  admins: [U0ADMIN01]\nserver:\n  port: {port}\n")
    env = {**os.environ, "SLACK_BOT_TOKEN": "xoxb-test-token", "SLACK_APP_TOKEN": "xapp-1-test", "SLACK_API_URL": mock_slack.api_url}
    env.pop("SLACK_SIGNING_SECRET", None)
    proc = subprocess.Popen([sys.executable, "-m", "pacsbot.bot", "--config", str(cfg), "serve"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        if not server.connected.wait(60):
            proc.kill()
            pytest.fail(f"no Socket Mode connection: {proc.communicate()[1][-2000:]}")
        command = dict(parse_qsl(Simulator("unused").slash_command("U0ADMIN01", "help").body))
        server.send({"envelope_id": "env-1", "type": "slash_commands", "accepts_response_payload": True, "payload": command})
        ack = server.ack("env-1", timeout=20)
        assert "/pacs audit" in json.dumps(ack["payload"])  # the help, in the envelope's ack
        event = json.loads(Simulator("unused").mention_event("U0RAD0001", "hello", channel_id="C0GENERAL").body)
        server.send({"envelope_id": "env-2", "type": "events_api", "accepts_response_payload": False,
                     "retry_attempt": 0, "retry_reason": "", "payload": event})
        assert server.ack("env-2", timeout=20)["envelope_id"] == "env-2"
        mock_slack.wait_for("chat.postMessage", 1, timeout=20)
        # Socket Mode has no web server for Slack, but a /healthz for a container or a monitor
        status, health = get_health(port)
        assert status == 200, health
        assert health["socket_mode"] == {"ok": True} and health["database"]["ok"] and health["slack"]["ok"]
        assert health["outbox"]["ok"] and health["outbox"]["oldest_seconds"] < 900
        assert health["scheduler"]["ok"] and health["scheduler"]["seconds_since_tick"] >= 0
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(30) == 0
        finally:
            server.close()
