"""Answers from the manuals through the real Bolt app, with signed requests (harness)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from pacsbot.bot.models import AuditEntry
from pacsbot.knowledge.models import Feedback, Gap
from tests.harness import ADMIN, CLINICIAN, TECH, Harness, texts_of

PRIORS = "viewer/hanging-priors.md#open-a-prior-next-to-the-current-study"


def buttons(blocks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["action_id"]: e for b in blocks if b.get("type") == "actions" for e in b["elements"]}


def rows(h: Harness, model: Any) -> list[Any]:
    with h.services.db.session() as s:
        return list(s.scalars(select(model).order_by(model.id)))


def click(h: Harness, user: str, element: dict[str, Any], channel: str = "C0GENERAL", message: dict[str, Any] | None = None) -> None:
    action = {"action_id": element["action_id"], "value": element.get("value"), "type": "button"}
    assert h.send(h.sim.block_action(user, action, channel_id=channel, message=message)).status == 200
    h.drain()


# /pacs ask ------------------------------------------------------------------------------

def test_ask_answers_privately_in_the_ack(harness: Harness) -> None:
    response = harness.command(CLINICIAN, "ask how do i get the old CT up next to todays")
    body = response.json()
    assert response.status == 200 and body.get("response_type") is None  # private
    text = texts_of(body["blocks"])
    assert "Open a prior next to the current study" in text
    assert "Hanging priors for comparison › Open a prior next to the current study" in text
    assert "last reviewed" in text
    assert {"kb_helpful", "kb_not_helpful", "kb_open_ticket", "kb_share"} <= set(buttons(body["blocks"]))
    harness.drain()
    assert rows(harness, Gap) == []  # answered: no gap


def test_ask_without_a_question_explains(harness: Harness) -> None:
    assert "Ask me a question after `/pacs ask`" in harness.command(CLINICIAN, "ask").text


def test_unanswerable_question_is_declined_and_recorded_as_a_gap(harness: Harness) -> None:
    body = harness.command(TECH, "ask whats the guest wifi password for MRN 12345678").json()
    text = texts_of(body["blocks"])
    assert "couldn't find an answer" in text and "#pacs-help" in text
    assert set(buttons(body["blocks"])) == {"kb_open_ticket"}
    harness.drain()
    gaps = rows(harness, Gap)
    assert [(g.user_id, g.surface) for g in gaps] == [(TECH, "command")]
    assert "12345678" not in gaps[0].question and "[hidden]" in gaps[0].question


def test_share_in_channel_posts_publicly_and_removes_the_private_copy(harness: Harness) -> None:
    body = harness.command(CLINICIAN, "ask cobb angle").json()
    click(harness, CLINICIAN, buttons(body["blocks"])["kb_share"])
    replies = harness.mock.calls_to("response_url")
    shared = [r.params for r in replies if r.params.get("response_type") == "in_channel"]
    assert len(shared) == 1
    text = texts_of(shared[0]["blocks"])
    assert "Measure an angle" in text and f"Shared by <@{CLINICIAN}>" in text
    assert "kb_share" not in buttons(shared[0]["blocks"])
    assert any(r.params.get("delete_original") for r in replies)


# mentions and DMs -----------------------------------------------------------------------

def test_mention_is_answered_in_its_thread(harness: Harness) -> None:
    event = harness.sim.mention_event(CLINICIAN, "how do i hang a prior next to the current study", channel_id="C0RADIOLO", thread_ts="1700000000.000100")
    assert harness.send(event).status == 200
    harness.drain()
    post = harness.mock.calls_to("chat.postMessage")[-1].params
    assert post["channel"] == "C0RADIOLO" and post["thread_ts"] == "1700000000.000100"
    assert "Open a prior next to the current study" in texts_of(post["blocks"])
    assert "kb_share" not in buttons(post["blocks"])  # already public


def test_mention_without_a_thread_starts_one(harness: Harness) -> None:
    request = harness.sim.mention_event(CLINICIAN, "mpr button is greyed out", channel_id="C0RADIOLO")
    ts = json.loads(request.body)["event"]["ts"]
    harness.send(request)
    harness.drain()
    assert harness.mock.calls_to("chat.postMessage")[-1].params["thread_ts"] == ts


def test_dm_is_answered_in_the_dm(harness: Harness) -> None:
    harness.send(harness.sim.message_event(TECH, "patient not on the modality worklist", channel_id="D0TECH001", channel_type="im"))
    harness.drain()
    post = harness.mock.calls_to("chat.postMessage")[-1].params
    assert post["channel"] == "D0TECH001" and not post.get("thread_ts")
    assert "The patient is not on the worklist" in texts_of(post["blocks"])


def test_dm_unknown_question_offers_a_ticket_and_records_a_gap(harness: Harness) -> None:
    harness.send(harness.sim.message_event(TECH, "how do i renew my parking permit", channel_id="D0TECH001", channel_type="im"))
    harness.drain()
    post = harness.mock.calls_to("chat.postMessage")[-1].params
    assert "couldn't find" in texts_of(post["blocks"]) and "kb_open_ticket" in buttons(post["blocks"])
    assert [g.surface for g in rows(harness, Gap)] == ["dm"]


def test_channel_chatter_is_never_answered_by_default(harness: Harness) -> None:
    harness.send(harness.sim.message_event(CLINICIAN, "how do i hang a prior?", channel_id="C0RADIOLO", channel_type="channel"))
    harness.drain()
    assert harness.mock.calls_to("chat.postMessage") == []
    assert rows(harness, Gap) == []


class TestAnswerChannels:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"knowledge": {"answer_channels": ["C0PACSHLP"]}}

    def test_questions_in_a_listed_channel_are_answered_in_a_thread(self, harness: Harness) -> None:
        harness.send(harness.sim.message_event(CLINICIAN, "how do i hang a prior next to the current study?", channel_id="C0PACSHLP", channel_type="channel"))
        harness.send(harness.sim.message_event(CLINICIAN, "lunch anyone?", channel_id="C0PACSHLP", channel_type="channel"))
        harness.send(harness.sim.message_event(CLINICIAN, "how do i hang a prior?", channel_id="C0RADIOLO", channel_type="channel"))
        harness.send(harness.sim.message_event(CLINICIAN, "what is the cafeteria menu today?", channel_id="C0PACSHLP", channel_type="channel"))
        harness.drain()
        posts = harness.mock.calls_to("chat.postMessage")
        assert len(posts) == 1 and posts[0].params["channel"] == "C0PACSHLP" and posts[0].params["thread_ts"]

    def test_a_mention_in_a_listed_channel_is_answered_once(self, harness: Harness) -> None:
        text = "<@U0PACSBOT> how do i hang a prior?"
        harness.send(harness.sim.message_event(CLINICIAN, text, channel_id="C0PACSHLP", channel_type="channel"))
        harness.send(harness.sim.mention_event(CLINICIAN, "how do i hang a prior?", channel_id="C0PACSHLP"))
        harness.drain()
        assert len(harness.mock.calls_to("chat.postMessage")) == 1


# feedback -------------------------------------------------------------------------------

def test_helpful_click_is_stored_and_thanked(harness: Harness) -> None:
    body = harness.command(CLINICIAN, "ask how do i get the old CT up next to todays").json()
    click(harness, CLINICIAN, buttons(body["blocks"])["kb_helpful"])
    fb = rows(harness, Feedback)
    assert [(f.user_id, f.section, f.helpful, f.surface) for f in fb] == [(CLINICIAN, PRIORS, True, "command")]
    assert "glad it helped" in harness.mock.calls_to("response_url")[-1].params["text"]


def test_not_helpful_asks_for_a_reason_in_a_modal(harness: Harness) -> None:
    body = harness.command(CLINICIAN, "ask how do i get the old CT up next to todays").json()
    click(harness, CLINICIAN, buttons(body["blocks"])["kb_not_helpful"])
    fb = rows(harness, Feedback)
    assert len(fb) == 1 and fb[0].helpful is False and fb[0].reason is None
    view = harness.mock.calls_to("views.open")[-1].params["view"]
    assert view["callback_id"] == "kb_feedback_reason"
    values = {"reason": {"reason": {"type": "radio_buttons", "selected_option": {"value": "outdated"}}},
              "comment": {"comment": {"type": "plain_text_input", "value": "The Timeline button moved"}}}
    response = harness.send(harness.sim.view_submission(CLINICIAN, {**view, "id": "V1"}, values))
    assert response.status == 200
    harness.drain()
    fb = rows(harness, Feedback)
    assert (fb[0].reason, fb[0].comment) == ("outdated", "The Timeline button moved")
    thanks = harness.mock.calls_to("chat.postEphemeral")[-1].params
    assert thanks["channel"] == "C0GENERAL" and "Thanks" in thanks["text"]


def test_someone_else_cannot_change_my_reason(harness: Harness) -> None:
    body = harness.command(CLINICIAN, "ask cobb angle").json()
    click(harness, CLINICIAN, buttons(body["blocks"])["kb_not_helpful"])
    view = harness.mock.calls_to("views.open")[-1].params["view"]
    values = {"reason": {"reason": {"type": "radio_buttons", "selected_option": {"value": "wrong"}}}}
    harness.send(harness.sim.view_submission(TECH, {**view, "id": "V1"}, values))
    harness.drain()
    assert rows(harness, Feedback)[0].reason is None


def test_open_a_ticket_without_tickets_tells_how_to_reach_the_team(harness: Harness) -> None:
    harness.services.features.tickets = None  # a deployment without the tickets feature
    body = harness.command(TECH, "ask whats the guest wifi password").json()
    click(harness, TECH, buttons(body["blocks"])["kb_open_ticket"])
    reply = harness.mock.calls_to("response_url")[-1].params["text"]
    assert "#pacs-help" in reply and "whats the guest wifi password" in reply and "on-call" in reply


def test_open_a_ticket_hands_the_question_to_the_tickets_feature(harness: Harness) -> None:
    seen: list[tuple[str, str | None]] = []

    class Tickets:
        def open_from_question(self, ctx: Any, question: str, section: str | None) -> None:
            seen.append((question, section))

    harness.services.features.tickets = Tickets()
    body = harness.command(CLINICIAN, "ask cobb angle").json()
    click(harness, CLINICIAN, buttons(body["blocks"])["kb_open_ticket"])
    assert seen == [("cobb angle", "viewer/measurements.md#measure-an-angle")]


def test_read_more_shows_the_whole_section(harness: Harness) -> None:
    body = harness.command(CLINICIAN, "ask images of two patients in one study").json()
    see_also = [e for k, e in buttons(body["blocks"]).items() if k.startswith("kb_more:")]
    assert see_also
    click(harness, CLINICIAN, see_also[0])
    assert harness.mock.calls_to("response_url")[-1].params["blocks"]


# admin subcommands and roles --------------------------------------------------------------

def test_kb_subcommands_are_for_admins_only(harness: Harness) -> None:
    for words in ("kb gaps", "kb reload", "kb check"):
        response = harness.command(CLINICIAN, words)
        assert "only for PACS admins" in response.text
    harness.drain()
    denied = [r.target for r in rows(harness, AuditEntry) if r.action == "access.denied"]
    assert denied == ["command:kb"] * 3


def test_kb_gaps_lists_unanswered_and_unhelpful(harness: Harness) -> None:
    harness.command(TECH, "ask whats the guest wifi password")
    harness.command(CLINICIAN, "ask what is the guest wifi password?")
    body = harness.command(CLINICIAN, "ask cobb angle").json()
    harness.drain()
    click(harness, CLINICIAN, buttons(body["blocks"])["kb_not_helpful"])
    harness.command(ADMIN, "kb gaps 7d")
    harness.drain()
    text = texts_of(harness.mock.calls_to("response_url")[-1].params["blocks"])
    assert "×2" in text and "wifi password" in text
    assert "viewer/measurements.md#measure-an-angle" in text


def test_kb_reload_and_check(harness: Harness) -> None:
    harness.command(ADMIN, "kb reload")
    harness.drain()
    assert "Reloaded 26 manuals" in harness.mock.calls_to("response_url")[-1].params["text"]
    assert [r.action for r in rows(harness, AuditEntry) if r.action.startswith("kb.")] == ["kb.reload"]
    harness.command(ADMIN, "kb check")
    harness.drain()
    assert "look fine" in harness.mock.calls_to("response_url")[-1].params["text"]
    harness.command(ADMIN, "kb frobnicate")
    harness.drain()
    assert "/pacs kb gaps" in harness.mock.calls_to("response_url")[-1].params["text"]


def test_help_lists_ask_for_everyone_and_kb_for_admins(harness: Harness) -> None:
    clinician = texts_of(harness.command(CLINICIAN, "help").json()["blocks"])
    admin = texts_of(harness.command(ADMIN, "help").json()["blocks"])
    assert "/pacs ask &lt;question&gt;" in clinician and "/pacs kb" not in clinician
    assert "/pacs kb gaps" in admin


# "Is it one of these?" and small talk ------------------------------------------------------

def test_unsure_offers_three_choices_and_a_pick_is_feedback_not_a_gap(harness: Harness) -> None:
    body = harness.command(TECH, "ask images not showing up in pacs").json()
    text = texts_of(body["blocks"])
    assert "Is it one of these?" in text
    picks = {k: v for k, v in buttons(body["blocks"]).items() if k.startswith("kb_pick")}
    assert 1 <= len(picks) <= 3 and "kb_open_ticket" in buttons(body["blocks"])  # "None of these" opens a ticket
    harness.drain()
    assert [g.surface for g in rows(harness, Gap)] == ["command"]  # unsure, until a pick says otherwise
    chosen = next(v for v in picks.values() if "missing-images" in v["value"])
    click(harness, TECH, chosen)
    shown = harness.mock.calls_to("response_url")[-1].params
    assert "Reporting missing or incomplete images" in texts_of(shown["blocks"])
    assert rows(harness, Gap) == []  # answered after all, by the pick
    [pick] = rows(harness, Feedback)
    assert (pick.surface, pick.helpful, pick.user_id) == ("pick", True, TECH) and pick.section.startswith("technologist/missing-images.md")
    harness.command(ADMIN, "kb gaps 7d")
    harness.drain()
    report = texts_of(harness.mock.calls_to("response_url")[-1].params["blocks"])
    assert "Found only by picking" in report and "images not showing up in pacs" in report


@pytest.mark.parametrize("words", ["thanks!", "thank you so much", "hi", "ok 👍", "cheers"])
def test_small_talk_gets_a_kind_word_and_no_gap(harness: Harness, words: str) -> None:
    harness.send(harness.sim.message_event(TECH, words, channel_id="D0TECH001", channel_type="im"))
    harness.drain()
    post = harness.mock.calls_to("chat.postMessage")[-1].params
    assert post["channel"] == "D0TECH001" and "couldn't find" not in post["text"]
    assert any(w in post["text"] for w in ("welcome", "Hi!", "Good.", "Bye"))
    reply = harness.command(CLINICIAN, f"ask {words}").text
    assert "couldn't find" not in reply
    harness.drain()
    assert rows(harness, Gap) == []
