"""/pacs nodes, echo and locate end to end: signed Slack requests over HTTP -> the real app
-> real demo DICOM nodes -> mock Slack. On SQLite, and on PostgreSQL when configured."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

import pacsbot.bot.features.diagnostics as diagnostics_feature
from pacsbot.bot.models import AuditEntry
from pacsbot.commands.demo import DemoNetwork
from pacsbot.commands.models import NodeStatus
from tests.dicom_support import SilentServer, demo_network, node_dicts, production_logging  # noqa: F401 - fixtures
from tests.harness import ADMIN, CLINICIAN, TECH, Harness, texts_of


@pytest.fixture
def settings_overrides(demo_network: DemoNetwork) -> dict[str, Any]:  # noqa: F811
    return {"dicom": {"nodes": node_dicts(demo_network)}}


def replies(harness: Harness) -> list[dict[str, Any]]:
    return [c.params for c in harness.mock.calls_to("response_url")]


def last_reply(harness: Harness) -> tuple[str, str]:
    """(fallback text, all visible text of the blocks) of the last private reply."""
    reply = replies(harness)[-1]
    return reply.get("text", ""), texts_of(reply.get("blocks") or [])


def audit_rows(harness: Harness, prefix: str = "dicom.") -> list[AuditEntry]:
    with harness.db.session() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action.startswith(prefix)).order_by(AuditEntry.id)))


def test_echo_all_acks_at_once_then_answers_and_remembers(harness: Harness) -> None:
    ack = harness.command(ADMIN, "echo all")
    assert ack.status == 200 and ack.text == ":hourglass_flowing_sand: Checking 2 nodes…"
    harness.drain()
    text, shown = last_reply(harness)
    assert "vna ok" in text and "pacs ok" in text
    assert "*vna* ok in" in shown and "*pacs* ok in" in shown and "Both nodes answered." in shown
    rows = audit_rows(harness)
    assert [(r.action, r.target, r.outcome, r.actor) for r in rows] == [
        ("dicom.echo", "node:vna", "ok", ADMIN), ("dicom.echo", "node:pacs", "ok", ADMIN)]
    assert rows[0].details["run"] == rows[1].details["run"] and rows[0].details["ms"] >= 0
    with harness.db.session() as session:
        assert {s.node: s.ok for s in session.scalars(select(NodeStatus))} == {"vna": True, "pacs": True}
    harness.command(ADMIN, "nodes")
    harness.drain()
    _, shown = last_reply(harness)
    assert shown.count("last echo: :large_green_circle: ok in") == 2 and "DEMO_VNA@127.0.0.1:" in shown


def test_nodes_before_any_echo(harness: Harness) -> None:
    harness.command(ADMIN, "nodes")
    harness.drain()
    _, shown = last_reply(harness)
    assert shown.count("never checked") == 2 and "`/pacs echo all`" in shown


def test_locate_incomplete_study_with_phi_only_in_the_private_blocks(harness: Harness, production_logging: pytest.LogCaptureFixture) -> None:  # noqa: F811 - the fixture
    ack = harness.command(ADMIN, "locate A1002")
    assert ack.text == ":mag: Checking 2 nodes for accession A1002…"
    harness.drain()
    reply = replies(harness)[-1]
    text, shown = last_reply(harness)
    assert text == "A1002: on vna with 412 images, on pacs with 300 — 112 missing on pacs"
    assert "Missing on pacs: series 3 (CT CORONAL MPR, 112 images)." in shown
    assert reply.get("response_type", "ephemeral") == "ephemeral"
    # Patient details: in the admin's private blocks, never in the notification text...
    assert "DEMO, BRAVO" in shown and "DEMO-0002" in shown and "visible only to you" in shown
    assert "DEMO" not in text
    # ...never in a channel post, a log line or the audit log.
    assert not harness.mock.calls_to("chat_postMessage")
    logged = production_logging.text
    assert "DEMO^BRAVO" not in logged and "DEMO-0002" not in logged and "BRAVO" not in logged
    rows = audit_rows(harness)
    assert [(r.target, r.outcome) for r in rows] == [("node:vna", "ok"), ("node:pacs", "ok")]
    details = json.dumps([r.details for r in rows])
    assert "BRAVO" not in details and "DEMO-0002" not in details
    assert rows[1].details["query"] == {"accession": "A1002"} and rows[1].details["images"] == 300
    assert rows[1].details["phi_shown"] is True and rows[1].details["verdict"] == "bad"


def test_locate_found_complete_not_found_misidentified_split(harness: Harness) -> None:
    expectations = {
        "A1001": "A1001: on vna and pacs, complete on each: 242 images in 3 series",
        "A9999": "A9999: not found on any node",
        "A1004": "A1004: on vna with 2 images — not on pacs; pacs has the same patient and date under another accession (A1005) — possibly mis-identified",
    }
    for accession, headline in expectations.items():
        harness.command(ADMIN, f"locate {accession}")
        harness.drain()
        assert last_reply(harness)[0] == headline
    harness.command(ADMIN, "locate A1006 --node pacs")
    harness.drain()
    text, shown = last_reply(harness)
    assert "Split study: pacs holds it under 2 study UIDs" in shown and "*vna*" not in shown


@pytest.mark.parametrize("text, message", [
    ("locate A*", "Wildcards (* and ?) are not allowed in the accession number"),
    ("locate", "What should I look for?"),
    ("locate A1\\A2", "A backslash is not allowed"),
    ("locate 12345678901234567", "an accession number has at most 16"),
    ("locate --patient DEMO-0002 --date 20260230", "not a real date"),
    ("locate A1002 --node 10.0.0.5", "There is no node called “10.0.0.5”. Configured nodes: vna, pacs."),
    ("echo ct9", "There is no node called “ct9”"),
])
def test_refused_input_is_answered_in_the_ack_and_audited(harness: Harness, text: str, message: str) -> None:
    ack = harness.command(ADMIN, text)
    assert ack.status == 200 and message in ack.text and ack.text.startswith(":warning:")
    harness.drain()
    assert replies(harness) == []  # nothing went to a node
    rows = audit_rows(harness)
    assert len(rows) == 1 and rows[0].outcome == "refused" and rows[0].target == ""
    assert text.split(" ", 1)[-1] not in json.dumps(rows[0].details)  # the input itself is not kept


def test_the_not_found_tip_is_a_slack_command_and_only_for_who_may_use_it(harness: Harness) -> None:
    harness.command(ADMIN, "locate A9999")
    harness.drain()
    assert "To search by patient instead: `/pacs locate --patient <id> --date YYYYMMDD`." in last_reply(harness)[1]
    harness.command(CLINICIAN, "locate A9999")  # clinicians cannot search by patient: no tip
    harness.drain()
    _, shown = last_reply(harness)
    assert "A9999: not found on any node" in shown and "--patient" not in shown


def test_node_checks_are_for_admins_by_default(harness: Harness) -> None:
    for command in ("nodes", "echo all"):
        ack = harness.command(CLINICIAN, command)
        assert "only for PACS admins" in ack.text
    help_text = harness.command(CLINICIAN, "help").text
    assert "/pacs echo" not in help_text and "/pacs nodes" not in help_text and "/pacs locate" in help_text


class TestLocateKeptForAdmins:
    @pytest.fixture
    def settings_overrides(self, demo_network: DemoNetwork) -> dict[str, Any]:  # noqa: F811
        return {"dicom": {"nodes": node_dicts(demo_network), "accession_locate_role": "admin"}}

    def test_a_site_may_keep_locate_for_admins(self, harness: Harness) -> None:
        assert "only for PACS admins" in harness.command(CLINICIAN, "locate A1002").text
        assert "/pacs locate" not in harness.command(CLINICIAN, "help").text


class TestTechniciansMayLocateByAccession:
    """The default: the technologists' manual tells them to run `/pacs locate <accession>`."""

    def test_phi_free_answer(self, harness: Harness) -> None:
        ack = harness.command(TECH, "locate A1002")
        assert ack.text.startswith(":mag: Checking 2 nodes")
        harness.drain()
        text, shown = last_reply(harness)
        assert text.startswith("A1002: on vna with 412 images")
        assert "DEMO" not in shown.replace("DEMO_VNA", "").replace("DEMO_PACS", "").replace("demo node", "")
        assert "Patient details are shown to PACS admins only." in shown
        assert audit_rows(harness)[0].details["phi_shown"] is False

    def test_but_not_by_patient_and_not_echo(self, harness: Harness) -> None:
        ack = harness.command(TECH, "locate --patient DEMO-0002")
        assert "Searching by patient ID is for PACS admins" in ack.text
        assert "only for PACS admins" in harness.command(TECH, "echo all").text
        assert "/pacs locate" in harness.command(TECH, "help").text


class TestPhiNever:
    @pytest.fixture
    def settings_overrides(self, demo_network: DemoNetwork) -> dict[str, Any]:  # noqa: F811
        return {"dicom": {"nodes": node_dicts(demo_network), "show_phi": "never"}}

    def test_admin_sees_no_patient_details(self, harness: Harness) -> None:
        harness.command(ADMIN, "locate --patient DEMO-0002")
        harness.drain()
        text, shown = last_reply(harness)
        assert text == "2 studies for this patient: 1 with problems"
        assert "BRAVO" not in shown and "DEMO-0002" not in shown and "the patient ID you gave" in shown


def test_patient_search_audits_a_pseudonym_not_the_id(harness: Harness) -> None:
    harness.command(ADMIN, "locate --patient DEMO-0002 --date 20260105")
    harness.drain()
    rows = audit_rows(harness)
    assert len(rows) == 2
    query = rows[0].details["query"]
    assert query["pid_pseudonym"].startswith("pid:") and len(query["pid_pseudonym"]) == 20
    assert query["study_date"] == "20260105"
    assert "DEMO-0002" not in json.dumps([r.details for r in rows])
    harness.command(ADMIN, "locate --patient DEMO-0002")
    harness.drain()
    assert audit_rows(harness)[-1].details["query"]["pid_pseudonym"] == query["pid_pseudonym"]  # stable: searchable


class TestRateLimit:
    @pytest.fixture
    def settings_overrides(self, demo_network: DemoNetwork) -> dict[str, Any]:  # noqa: F811
        return {"dicom": {"nodes": node_dicts(demo_network), "rate_limit": {"runs": 2, "per_seconds": 60}}}

    def test_third_run_in_a_minute_is_refused_in_the_ack_with_when_to_retry(self, harness: Harness) -> None:
        for _ in range(2):
            harness.command(ADMIN, "echo vna")
            harness.drain()
        before = len(replies(harness))
        ack = harness.command(ADMIN, "locate A1001")
        harness.drain()
        # refused by the policy before the ack: never "Checking…" first, nothing sent to a node
        assert ack.text.startswith(":hourglass: You have run 2 DICOM checks in the last 60 s, the most allowed. Try again in ")
        seconds = int(ack.text.rsplit("in ", 1)[1].split(" s")[0])
        assert 1 <= seconds <= 60
        assert len(replies(harness)) == before
        [denied] = audit_rows(harness, "access.denied")
        assert (denied.actor, denied.target, denied.outcome) == (ADMIN, "command:locate", "denied")
        assert denied.details == {"reason": "rate limit", "role": "admin"}
        assert [r.action for r in audit_rows(harness)] == ["dicom.echo", "dicom.echo"]  # the refused run left no dicom row
        harness.command("U0ADMIN02", "echo vna")  # another admin is not held up
        harness.drain()
        assert "ok in" in last_reply(harness)[1]


class TestSlowNode:
    @pytest.fixture
    def silent(self) -> Any:
        server = SilentServer()
        yield server
        server.close()

    @pytest.fixture
    def settings_overrides(self, demo_network: DemoNetwork, silent: SilentServer) -> dict[str, Any]:  # noqa: F811
        stuck = {"name": "stuck", "ae_title": "STUCK", "host": "127.0.0.1", "port": silent.port,
                 "timeouts": {"association": 5, "total": 7}}
        return {"dicom": {"nodes": [*node_dicts(demo_network), stuck]}}

    def test_answers_that_are_in_are_shown_first(self, harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
        # The interim goes out after 2 s: long enough for the demo nodes to answer on a loaded
        # 2-core machine (they take well under 0.5 s when it is quiet), well before the stuck
        # node's 5 s association timeout.
        monkeypatch.setattr(diagnostics_feature, "INTERIM_AFTER_SECONDS", 2.0)
        harness.command(ADMIN, "locate A1002")
        harness.drain()
        first, final = replies(harness)[-2:]
        first_text = texts_of(first["blocks"])
        assert "*vna*" in first_text and "*pacs*" in first_text and "still waiting for *stuck*" in first_text
        assert final["text"] == ("A1002: on vna with 412 images, on pacs with 300 — 112 missing on pacs "
                                 "(stuck could not be checked)")
        assert "connected, but no answer to the association request within 5 s" in texts_of(final["blocks"])
        rows = audit_rows(harness)
        assert [(r.target, r.outcome) for r in rows] == [("node:vna", "ok"), ("node:pacs", "ok"), ("node:stuck", "failed")]
        assert rows[2].details["failure"] == "timeout"


def test_app_home_shows_node_health_to_admins(harness: Harness) -> None:
    from pacsbot.bot.features.home import home_view

    view = home_view(harness.services, ADMIN, harness.services.access.role_of(ADMIN))
    assert "*DICOM nodes* — 2 nodes\n:white_circle: not checked yet: vna, pacs" in texts_of(view["blocks"])
    harness.services.registry.jobs["dicom-watch"].run(harness.services)  # the node watch's first round
    view = home_view(harness.services, ADMIN, harness.services.access.role_of(ADMIN))
    assert ":large_green_circle: every node is answering" in texts_of(view["blocks"])
    clinician = home_view(harness.services, CLINICIAN, harness.services.access.role_of(CLINICIAN))
    assert "*DICOM nodes* —" not in texts_of(clinician["blocks"])  # the health section; locate is listed


def test_housekeeping_forgets_old_rate_limit_entries(harness: Harness) -> None:
    from datetime import timedelta

    from pacsbot.commands.models import DicomRun

    harness.command(ADMIN, "echo vna")
    harness.drain()
    job = harness.services.registry.jobs["dicom-housekeeping"]
    assert job.run(harness.services) == 0  # still fresh
    with harness.db.session() as session:
        for run in session.scalars(select(DicomRun)):
            run.at = run.at - timedelta(days=3)
    assert job.run(harness.services) == 1
