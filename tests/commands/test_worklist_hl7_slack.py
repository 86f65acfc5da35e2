"""/pacs worklist and /pacs hl7 end to end: signed Slack requests -> the real app -> the demo
worklist and archive SCPs -> mock Slack. On SQLite, and on PostgreSQL when configured."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from pacsbot.bot.models import AuditEntry
from pacsbot.commands.demo import DemoNetwork
from tests.harness import ADMIN, CLINICIAN, TECH, Harness, texts_of

CORPUS = Path(__file__).parent / "hl7_corpus"
PHI = ("ZZTEST", "4455667", "19700101")
QUEUE = "C0PACSQ01"


@pytest.fixture
def network() -> Iterator[DemoNetwork]:
    # the worklist's orders are for the site's today (the harness's site runs on UTC)
    with DemoNetwork(worklist_day=datetime.now(timezone.utc).date()) as net:
        yield net


@pytest.fixture
def settings_overrides(network: DemoNetwork) -> dict[str, Any]:
    nodes = [{**n.model_dump(mode="json", exclude_none=True)} for n in network.node_configs(with_worklist=True)]
    return {"dicom": {"nodes": nodes},
            "tickets": {"default_queue": QUEUE, "queues": [{"name": "pacs", "channel": QUEUE}]}}


def replies(harness: Harness) -> list[dict[str, Any]]:
    return [c.params for c in harness.mock.calls_to("response_url")]


def audit_rows(harness: Harness, prefix: str) -> list[AuditEntry]:
    with harness.db.session() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action.startswith(prefix)).order_by(AuditEntry.id)))


class TestWorklist:
    def test_a_technologist_asks_about_an_accession_and_gets_the_verdict_without_patient_details(self, harness: Harness) -> None:
        ack = harness.command(TECH, "worklist A1102 on CT2")
        assert ack.text == ":clipboard: Checking *ris* for accession A1102 on CT2…"
        harness.drain()
        reply = replies(harness)[-1]
        shown = texts_of(reply["blocks"])
        assert reply["text"] == "A1102: scheduled for CT1, not CT2"
        assert "`A1102`" in shown and "DEMO^WORKLIST" not in shown and "Patient details are shown to PACS admins only." in shown
        rows = audit_rows(harness, "dicom.")
        assert [(r.action, r.target, r.outcome) for r in rows if r.action == "dicom.worklist"] == [("dicom.worklist", "node:ris", "ok")]
        assert all("DEMO^WORKLIST" not in str(r.details) for r in rows)

    def test_an_admin_sees_patient_details_privately(self, harness: Harness) -> None:
        harness.command(ADMIN, "worklist CT2")
        harness.drain()
        reply = replies(harness)[-1]
        assert reply["response_type"] == "ephemeral" and "DEMO^WORKLIST1" in texts_of(reply["blocks"])

    def test_already_performed_comes_from_the_archives(self, harness: Harness) -> None:
        harness.command(TECH, "worklist A1001")
        harness.drain()
        assert replies(harness)[-1]["text"] == "A1001: already performed — 242 images in the archive (vna, pacs)"
        assert [r.target for r in audit_rows(harness, "dicom.locate")] == ["node:vna", "node:pacs"]

    def test_bad_input_and_archives_are_refused_in_the_ack(self, harness: Harness) -> None:
        assert "Which worklist?" in harness.command(TECH, "worklist").text
        assert "“vna” is not a worklist node" in harness.command(TECH, "worklist CT2 --node vna").text
        harness.drain()
        assert [r.outcome for r in audit_rows(harness, "dicom.worklist")] == ["refused", "refused"]

    def test_locate_never_asks_the_worklist_node(self, harness: Harness) -> None:
        assert harness.command(ADMIN, "locate A1002").text == ":mag: Checking 2 nodes for accession A1002…"


class TestHl7:
    def open_form(self, harness: Harness, user: str) -> dict[str, Any]:
        harness.command(user, "hl7")
        harness.drain()
        return harness.mock.calls_to("views.open")[-1].params["view"]

    def submit(self, harness: Harness, view: dict[str, Any], message: str, *, show_phi: bool = False) -> dict[str, Any]:
        values: dict[str, Any] = {"message": {"message": {"type": "plain_text_input", "value": message}}}
        if show_phi:
            values["show_phi"] = {"show_phi": {"type": "checkboxes", "selected_options": [{"value": "yes"}]}}
        return harness.send(harness.sim.view_submission(ADMIN, {**view, "id": "V0HL7"}, values)).json()

    def test_a_message_is_decoded_masked_then_its_accession_looked_up(self, harness: Harness) -> None:
        body = self.submit(harness, self.open_form(harness, ADMIN), (CORPUS / "orm_o01_valid.hl7").read_text())
        assert body["response_action"] == "update"
        shown = texts_of(body["view"]["blocks"])
        assert "*ORM^O01* · General order" in shown and "No problems found." in shown
        assert "Looking it up on the DICOM nodes…" in shown and not any(p in shown for p in PHI)
        harness.drain()
        [update] = harness.mock.calls_to("views.update")
        assert update.params["view_id"] == "V0HL7"
        looked_up = texts_of(update.params["view"]["blocks"])
        assert "`A1001`: A1001: already performed — 242 images in the archive (vna, pacs)" in looked_up
        [decoded] = audit_rows(harness, "hl7.")
        assert (decoded.target, decoded.details["phi_shown"], decoded.details["accessions"]) == ("hl7:ORM^O01", False, 1)
        assert {r.action for r in audit_rows(harness, "dicom.")} == {"dicom.locate", "dicom.worklist"}

    def test_patient_details_only_when_ticked(self, harness: Harness) -> None:
        body = self.submit(harness, self.open_form(harness, ADMIN), (CORPUS / "orm_o01_valid.hl7").read_text(), show_phi=True)
        assert "ZZTEST" in texts_of(body["view"]["blocks"])
        harness.drain()
        assert audit_rows(harness, "hl7.")[0].details["phi_shown"] is True

    def test_not_hl7_keeps_the_form_open_with_the_reason(self, harness: Harness) -> None:
        body = self.submit(harness, self.open_form(harness, ADMIN), "hello, the worklist is broken")
        assert body["response_action"] == "errors" and "does not start with MSH" in body["errors"]["message"]
        harness.drain()
        assert [r.outcome for r in audit_rows(harness, "hl7.")] == ["refused"]

    def test_only_admins(self, harness: Harness) -> None:
        assert "only for PACS admins" in harness.command(CLINICIAN, "hl7").text
        view = {"id": "V1", "type": "modal", "callback_id": "hl7_paste", "blocks": []}
        values = {"message": {"message": {"type": "plain_text_input", "value": "MSH|^~\\&|"}}}
        body = harness.send(harness.sim.view_submission(TECH, view, values)).json()
        assert body["response_action"] == "update" and "only for PACS admins" in texts_of(body["view"]["blocks"])


def test_a_worklist_report_is_checked_on_the_worklist_when_it_comes_in(harness: Harness) -> None:
    harness.command(TECH, "report patient not on the worklist at CT2, acc A1102")
    harness.drain()
    posts = [c.params for c in harness.mock.calls_to("chat.postMessage") if c.params.get("channel") == QUEUE]
    thread = [p for p in posts if p.get("thread_ts")]
    assert thread, posts
    shown = texts_of(thread[-1]["blocks"])
    assert "What the worklist holds, checked when the report came in" in shown
    assert thread[-1]["text"] == "A1102: on the CT1 worklist for 10:15"
    assert "DEMO^WORKLIST" not in shown  # the team's channel: never patient details
    rows = audit_rows(harness, "dicom.worklist")
    assert [(r.actor, r.target, r.details["via"]) for r in rows] == [("pacsbot", "node:ris", "ticket:PACS-1")]
