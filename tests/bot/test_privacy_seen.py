"""Identifiers the archive returned are masked wherever they appear, on every replica; the
outage alert, the weekly report and the gate's own building blocks. SQLite, and PostgreSQL
when configured (CI)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from pacsbot.bot.models import SeenIdentifier
from pacsbot.bot.privacy_gate import PrivacyGate, build_gate, scrub_incoming
from pacsbot.bot.services import build_services
from pacsbot.bot.settings import Secrets
from pacsbot.bot.slack_client import make_web_client
from pacsbot.commands.demo import DemoNetwork
from pacsbot.core.privacy import vouch
from tests.dicom_support import demo_network, node_dicts  # noqa: F401 - fixtures
from tests.harness import ADMIN, CLINICIAN, TECH, TOKEN, Harness, texts_of

QUEUE = "C0PACSQUE"
ADMIN_CHANNEL = "C0PACSADM"


@pytest.fixture
def settings_overrides(demo_network: DemoNetwork) -> dict[str, Any]:  # noqa: F811
    return {
        "dicom": {"nodes": node_dicts(demo_network)},
        "tickets": {"default_queue": QUEUE, "admin_channel": ADMIN_CHANNEL, "locate_on_intake": False,
                    "queues": [{"name": "pacs", "channel": QUEUE}], "outage": {"reports": 3, "minutes": 15}},
    }


def public(h: Harness, since: int = 0) -> str:
    out = []
    for call in h.mock.calls[since:]:
        if call.method in ("chat.postMessage", "chat.update") or (call.method == "response_url" and call.params.get("response_type") == "in_channel"):
            out.append(json.dumps(call.params, ensure_ascii=False))
    return "\n".join(out)


def a1002(network: DemoNetwork) -> tuple[str, str]:
    study = next(s for s in network.vna.studies if s.accession == "A1002")
    return study.patient_id, study.patient_name


def test_what_a_locate_returned_is_masked_in_later_posts_in_any_form(harness: Harness, demo_network: DemoNetwork) -> None:  # noqa: F811
    h = harness
    pid, name = a1002(demo_network)
    family, given = name.split("^")[:2]
    # before anyone looked the patient up, a bare ID and a name without a cue are not recognised
    h.command(TECH, f"report images missing for {family} {given} {pid}")
    h.drain()
    assert f"{family} {given}" in public(h) and pid in public(h)
    # an admin looks the study up, with patient details (privately)
    h.command(ADMIN, "locate A1002")
    h.drain()
    private = h.mock.calls_to("response_url")[-1].params
    assert given.title() in texts_of(private["blocks"]) or given in texts_of(private["blocks"])  # the admin saw the name
    with h.db.session() as s:
        stored = [r.digest for r in s.scalars(select(SeenIdentifier))]
    assert stored and not any(pid in d or family in d for d in stored)  # keyed hashes only
    # from now on the same identifiers are masked in channel posts, however they are typed
    for text in (f"{family} {given} CT still missing", f"{given.title()} {family.title()}'s CT", f"{family}, {given} again",
                 f"ID {pid} MR", f"{pid} from ward 4"):
        since = len(h.mock.calls)
        h.command(CLINICIAN, f"report acc A2{len(text)} {text}")
        h.drain()
        out = public(h, since)
        assert out and pid not in out and f"{family} {given}".lower() not in out.lower(), (text, out)
        assert given.lower() not in out.lower(), (text, out)


def test_another_replica_masks_what_this_one_saw(harness: Harness, demo_network: DemoNetwork) -> None:  # noqa: F811
    h = harness
    pid, name = a1002(demo_network)
    h.command(ADMIN, "locate A1002")
    h.drain()
    other = build_services(h.services.settings, Secrets(TOKEN, None, "s", h.mock.api_url), db=h.db,
                           client=make_web_client(TOKEN, h.mock.api_url), register_features=False)
    try:
        masked = other.privacy.text(f"CT for {name.replace('^', ' ')} ({pid}) is missing")
    finally:
        other.close()
    assert pid not in masked and name.split("^")[0] not in masked and masked.count("[hidden]") >= 1


def test_the_outage_alert_and_linked_reports_carry_no_patient_data(harness: Harness) -> None:
    h = harness
    reports = ["PACS viewer is down, cannot open ZZTEST^FAKE0101 DOB 19940101",
               "viewer down on ward 3, patient Jane Doe MRN 4455667",
               "PACS viewer is down for Mary Jones in reading room 5",
               "viewer is down again, pt id LAB-99887766"]
    for i, text in enumerate(reports):
        h.command(("U0RAD0011", "U0RAD0012", "U0RAD0013", "U0RAD0014")[i], f"report {text}")
        h.drain()
    alerts = [c.params for c in h.mock.calls_to("chat.postMessage") if c.params.get("channel") == ADMIN_CHANNEL]
    assert alerts and "Possible outage" in alerts[0]["text"]
    out = public(h)
    for secret in ("FAKE0101", "19940101", "Jane Doe", "4455667", "Mary Jones", "99887766"):
        assert secret not in out


def test_incoming_text_cannot_vouch_for_itself(harness: Harness) -> None:
    h = harness
    sneaky = vouch("DOB 03/04/1955 ZZTEST^FAKE0102")
    h.command(TECH, f"report images missing {sneaky}")
    h.drain()
    out = public(h)
    assert "03/04/1955" not in out and "FAKE0102" not in out and "\ue000" not in out
    body = {"event": {"text": "a\x00b\ue000c", "blocks": [{"text": "x\x07y"}]}}
    assert scrub_incoming(body) == {"event": {"text": "abc", "blocks": [{"text": "xy"}]}}


def test_the_gate_leaves_slack_tokens_and_neutralises_broadcasts() -> None:
    gate = PrivacyGate.default()
    text = ("<@U0ADMIN01> took PACS-12 · <#C0PACSQUE> · <!date^1796288259^{date_short}|2026-12-03> · "
            "<https://pacs.example/manual#2024-01-02|see the manual> <!channel> <!here|here> <!subteam^S0X|@all-staff> "
            "DOB 03/04/1955")
    out = gate.text(text)
    assert "<@U0ADMIN01>" in out and "PACS-12" in out and "<#C0PACSQUE>" in out and "|2026-12-03>" in out
    assert "<https://pacs.example/manual#2024-01-02|see the manual>" in out
    assert "<!channel>" not in out and "@channel" in out and "<!here" not in out and "<!subteam" not in out
    assert "@all-staff" in out and "03/04/1955" not in out
    # a private reply keeps its words; only the markers go
    assert gate.reply({"text": vouch("DOB 03/04/1955")}) == {"text": "DOB 03/04/1955"}
    assert gate.reply({"text": "DOB 03/04/1955", "response_type": "in_channel"})["text"] == "DOB [hidden]"


def test_the_gate_uses_the_site_patterns(harness: Harness) -> None:
    settings = harness.services.settings.model_copy(update={"privacy": harness.services.settings.privacy.model_copy(
        update={"identifier_patterns": [r"\bH\d{7}\b"]})})
    gate = build_gate(settings, harness.db, harness.services.clock.now)
    assert gate.text("CT for H2586960 missing, acc A1002") == "CT for [hidden] missing, acc A1002"
    assert gate.fields({"summary": "H2586960 CT", "created_at": "2026-12-03T08:00:00+00:00"}) == {
        "summary": "[hidden] CT", "created_at": "2026-12-03T08:00:00+00:00"}
