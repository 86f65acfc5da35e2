"""/pacs reconcile and the daily job end to end: signed Slack requests -> the real app -> the
demo DICOM nodes (pacs lacks nothing; vna lacks some of yesterday's studies and has one
incomplete) -> mock Slack, including the CSV uploads (files v2)."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, time, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select

from pacsbot.bot.models import AuditEntry
from pacsbot.commands.demo import DAILY_INCOMPLETE, DAILY_MISSING, DemoNetwork
from pacsbot.core.clock import ManualClock
from tests.dicom_support import demo_network, node_dicts  # noqa: F401 - fixture
from tests.harness import ADMIN, CLINICIAN, Harness

ADMIN_CHANNEL = "C0PACSADM"


@pytest.fixture
def settings_overrides(demo_network: DemoNetwork) -> dict[str, Any]:  # noqa: F811
    return {
        "dicom": {"nodes": node_dicts(demo_network),
                  "reconcile": {"pairs": [{"source": "pacs", "archive": "vna", "at": "06:30"}]}},
        "tickets": {"admin_channel": ADMIN_CHANNEL},
    }


def replies(harness: Harness) -> list[dict[str, Any]]:
    return [c.params for c in harness.mock.calls_to("response_url")]


def audit_rows(harness: Harness) -> list[AuditEntry]:
    with harness.db.session() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action.in_(["dicom.reconcile", "access.denied"]))
                                    .order_by(AuditEntry.id)))


def csv_rows(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode())))


def test_on_demand_acks_then_replies_privately_with_the_csv_in_a_dm(harness: Harness, demo_network: DemoNetwork) -> None:  # noqa: F811
    day = demo_network.daily_day.isoformat()
    ack = harness.command(ADMIN, f"reconcile {day}")
    assert ack.status == 200 and ack.text == f":hourglass_flowing_sand: Reconciling pacs → vna for {day}…"
    harness.drain()
    reply = replies(harness)[-1]
    assert reply.get("response_type", "ephemeral") == "ephemeral"
    missing = ", ".join(s.accession for s in sorted(demo_network.daily, key=lambda s: s.study_time) if s.accession in DAILY_MISSING)
    assert reply["text"].startswith(f":warning: pacs → vna, {day}: {len(demo_network.daily)} studies on pacs")
    assert f"{len(DAILY_MISSING)} missing from vna: {missing}; 1 incomplete: {DAILY_INCOMPLETE} (" in reply["text"]
    assert "DEMO^" not in json.dumps(reply) and "DEMO-D" not in json.dumps(reply)
    assert not harness.mock.calls_to("chat.postMessage")  # nothing in a channel
    [upload] = harness.mock.files
    assert upload["channel"].startswith("D") and upload["filename"] == f"reconcile-pacs-vna-{day}.csv"
    rows = csv_rows(upload["content"])
    assert sorted(r["accession"] for r in rows if r["status"] == "missing_on_archive") == sorted(DAILY_MISSING)
    assert [r["accession"] for r in rows if r["status"] == "incomplete"] == [DAILY_INCOMPLETE]
    assert b"DEMO^" not in upload["content"] and b"DEMO-D" not in upload["content"]
    [row] = audit_rows(harness)
    assert (row.actor, row.action, row.target, row.outcome) == (ADMIN, "dicom.reconcile", "node:pacs>vna", "ok")
    assert row.details["result"] == "differences" and row.details["missing_on_archive"] == len(DAILY_MISSING)
    assert row.details["via"] == "slack" and not any(a in json.dumps(row.details) for a in DAILY_MISSING)


class TestRateLimit:
    @pytest.fixture
    def settings_overrides(self, demo_network: DemoNetwork) -> dict[str, Any]:  # noqa: F811
        return {"dicom": {"nodes": node_dicts(demo_network), "rate_limit": {"runs": 1, "per_seconds": 60}},
                "tickets": {"admin_channel": ADMIN_CHANNEL}}

    def test_reconcile_counts_against_the_dicom_rate_limit(self, harness: Harness, demo_network: DemoNetwork) -> None:  # noqa: F811
        day = demo_network.daily_day.isoformat()
        harness.command(ADMIN, f"reconcile {day}")
        harness.drain()
        ack = harness.command(ADMIN, f"reconcile {day}")
        harness.drain()
        assert "You have run 1 DICOM check in the last 60 s" in ack.text  # in the ack: the policy's limit
        assert len(harness.mock.files) == 1  # the second run never started
        with harness.db.session() as session:
            refused = session.scalars(select(AuditEntry).where(AuditEntry.action == "access.denied")).all()
        assert [(r.target, r.details["reason"]) for r in refused] == [("command:reconcile", "rate limit")]


@pytest.mark.parametrize("text, message", [
    ("reconcile", "Which day?"),
    ("reconcile 2999-01-01", "is in the future"),
    ("reconcile 2020-01-01", "more than 366 days ago"),
    ("reconcile last-week", "is not a day I understand"),
    ("reconcile yesterday pacs", "Give a day, and optionally the two nodes"),
    ("reconcile yesterday pacs ct9", "There is no node called “ct9”"),
    ("reconcile yesterday pacs pacs", "Name two different nodes"),
])
def test_bad_input_is_answered_in_the_ack_and_audited(harness: Harness, text: str, message: str) -> None:
    ack = harness.command(ADMIN, text)
    assert ack.status == 200 and ack.text.startswith(":warning:") and message in ack.text
    harness.drain()
    assert replies(harness) == [] and harness.mock.files == []
    [row] = audit_rows(harness)
    assert row.outcome == "refused" and row.details == {"reason": "bad input", "via": "slack"}


def test_non_admins_are_refused_and_audited(harness: Harness) -> None:
    ack = harness.command(CLINICIAN, "reconcile yesterday")
    assert "only for PACS admins" in ack.text
    harness.drain()
    rows = audit_rows(harness)
    assert [(r.actor, r.action, r.outcome) for r in rows] == [(CLINICIAN, "access.denied", "denied")]
    assert harness.mock.files == [] and "/pacs reconcile" not in harness.command(CLINICIAN, "help").text
    assert "/pacs reconcile" in harness.command(ADMIN, "help").text


def test_the_daily_job_posts_once_with_the_csv_in_the_thread(harness: Harness, demo_network: DemoNetwork) -> None:  # noqa: F811
    day = demo_network.daily_day
    clock = ManualClock(datetime.combine(day + timedelta(days=1), time(6, 0), tzinfo=timezone.utc))
    harness.services.clock = clock
    job = harness.services.registry.jobs["reconcile"]
    assert job.run(harness.services) == []  # 06:00: not yet
    clock.advance(minutes=35)
    assert job.run(harness.services) == ["pacs>vna"]
    clock.advance(minutes=5)
    assert job.run(harness.services) == []  # claimed for this day already (any replica)
    harness.drain()
    [post] = harness.mock.calls_to("chat.postMessage")
    assert post.params["channel"] == ADMIN_CHANNEL
    assert post.params["text"].startswith(f":warning: pacs → vna, {day.isoformat()}: ")
    assert f"{len(DAILY_MISSING)} missing from vna" in post.params["text"]
    [upload] = harness.mock.files
    [message] = harness.mock.messages[ADMIN_CHANNEL]
    assert upload["channel"] == ADMIN_CHANNEL and upload["thread_ts"] == message["ts"]
    assert sorted(r["accession"] for r in csv_rows(upload["content"]) if r["status"] == "missing_on_archive") == sorted(DAILY_MISSING)
    [row] = audit_rows(harness)
    assert (row.actor, row.target, row.details["via"]) == ("pacsbot", "node:pacs>vna", "schedule")
    # The next day runs again, once.
    clock.advance(days=1)
    assert job.run(harness.services) == ["pacs>vna"]
    harness.drain()
    assert len(harness.mock.calls_to("chat.postMessage")) == 2


def test_a_daily_run_that_could_not_be_posted_runs_again_an_hour_later(harness: Harness, demo_network: DemoNetwork) -> None:  # noqa: F811
    day = demo_network.daily_day
    clock = ManualClock(datetime.combine(day + timedelta(days=1), time(6, 35), tzinfo=timezone.utc))
    harness.services.clock = clock
    job = harness.services.registry.jobs["reconcile"]
    harness.mock.fail("chat.postMessage", error="channel_not_found")
    assert job.run(harness.services) == ["pacs>vna"]
    harness.drain()
    assert harness.mock.messages.get(ADMIN_CHANNEL, []) == []
    clock.advance(minutes=30)
    assert job.run(harness.services) == []  # still within the first attempt's hour
    clock.advance(minutes=35)
    assert job.run(harness.services) == ["pacs>vna"]
    harness.drain()
    [message] = harness.mock.messages[ADMIN_CHANNEL]
    assert message["text"].startswith(f":warning: pacs → vna, {day.isoformat()}: ")
    clock.advance(hours=2)
    assert job.run(harness.services) == []  # posted: done for the day


class TestTimezone:
    @pytest.fixture
    def settings_overrides(self, demo_network: DemoNetwork) -> dict[str, Any]:  # noqa: F811
        return {
            "timezone": "America/Chicago",
            "dicom": {"nodes": node_dicts(demo_network),
                      "reconcile": {"pairs": [{"source": "pacs", "archive": "vna", "at": "06:30", "channel": "C0OTHER"}]}},
        }

    def test_the_time_is_local_and_the_channel_is_the_pairs(self, harness: Harness, demo_network: DemoNetwork) -> None:  # noqa: F811
        day = demo_network.daily_day + timedelta(days=1)
        # 11:00 UTC is 05:00 in Chicago (winter) or 06:00 (summer): before 06:30 either way.
        clock = ManualClock(datetime.combine(day, time(11, 0), tzinfo=timezone.utc))
        harness.services.clock = clock
        job = harness.services.registry.jobs["reconcile"]
        assert job.run(harness.services) == []
        clock.advance(hours=2)  # 07:00 or 08:00 in Chicago
        assert job.run(harness.services) == ["pacs>vna"]
        harness.drain()
        [post] = harness.mock.calls_to("chat.postMessage")
        assert post.params["channel"] == "C0OTHER"
