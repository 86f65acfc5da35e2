"""Answers from the manuals, in Slack: ``/pacs ask``, mentions, DMs, feedback, ``/pacs kb``.

* ``/pacs ask <question>`` answers privately, in the ack itself (the search takes a
  millisecond or two), with a "Share in channel" button.
* A mention is answered in its thread; a DM in the DM. Messages in channels listed in
  ``knowledge.answer_channels`` are answered (in a thread) only when they look like a
  question and the manuals have a confident answer; other chatter is never answered.
  ``bot/features/messages.py`` owns the event listeners and calls :func:`answer_message`.
* Below the confidence threshold the bot says it doesn't know, offers a ticket and records
  the question as a knowledge gap (masked, see ``knowledge.privacy``).
* Helpful / Not helpful are stored; Not helpful opens a short form asking what was wrong.
* "Open a ticket" hands the question to the tickets feature when it is installed
  (``services.features.tickets.open_from_question(ctx, question, section_key)``);
  until then it tells the user how to reach the PACS team, with their question quoted.
* ``/pacs kb gaps | reload | check`` for PACS admins.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pacsbot.bot import metrics
from pacsbot.bot.access import Role
from pacsbot.bot.context import Ctx
from pacsbot.bot.features.admin import parse_since
from pacsbot.bot.registry import Registry
from pacsbot.bot.render import knowledge as render
from pacsbot.bot.render.blocks import context, escape, section
from pacsbot.bot.slack_client import make_webhook_client
from pacsbot.core.errors import UserError
from pacsbot.knowledge import store
from pacsbot.knowledge.base import Answer, KnowledgeBase
from pacsbot.knowledge.lint import check as lint_check
from pacsbot.knowledge.search import SearchResult
from pacsbot.knowledge.smalltalk import GREETING, small_talk

if TYPE_CHECKING:
    from pacsbot.bot.services import Services
    from pacsbot.bot.settings import Settings

log = logging.getLogger(__name__)


# Which front-matter audiences fit each pacsbot role (for the audience boost), after the words
# roles.audiences gives a user (see audience_for).
AUDIENCES = {
    Role.ADMIN: ("admin", "administrator", "pacs admin", "all"),
    Role.TRAINER: ("trainer", "technologist", "radiologist", "all"),
    Role.CLINICIAN: ("radiologist", "technologist", "clinician", "resident", "all"),
}

_MENTION = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>")
_QUESTION_START = re.compile(
    r"^(how|what|why|where|when|which|who|can|could|is|are|does|do|should|will|would|anyone|any idea|help)\b", re.I)
MAX_QUESTION = 1000
USAGE = "Ask me a question after `/pacs ask`, for example `/pacs ask how do I hang a prior for comparison`."


def knowledge_base(services: "Services") -> KnowledgeBase:
    kb = services.features.knowledge
    if kb is None:
        raise UserError("The manuals are not loaded on this server. Ask the PACS team.")
    return kb


def audience_of(role: Role) -> tuple[str, ...]:
    return AUDIENCES.get(role, AUDIENCES[Role.CLINICIAN])


def audience_for(services: "Services", user_id: str | None, role: Role, *, wait: bool = True) -> tuple[str, ...]:
    """A user's audience words: those ``roles.audiences`` gives them first (a radiologist,
    a technologist), then their role's defaults. ``wait=False`` before an ack (cached groups only)."""
    configured = services.access.audiences_of(user_id, wait=wait) if user_id else ()
    return tuple(dict.fromkeys((*configured, *audience_of(role))))


def clean_question(text: str) -> str:
    text = _MENTION.sub(" ", text or "")
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return " ".join(text.split())[:MAX_QUESTION]


def looks_like_question(text: str) -> bool:
    return text.rstrip().endswith("?") or bool(_QUESTION_START.match(text.strip()))


# --------------------------------------------------------------------------------------
# answering

def ask(services: "Services", question: str, role: Role, user_id: str | None = None, *, wait: bool = True) -> Answer:
    return knowledge_base(services).answer(question, audience=audience_for(services, user_id, role, wait=wait))


def render_answer(services: "Services", answer: Answer, *, surface: str, shareable: bool = False,
                  shared_by: str | None = None) -> tuple[str, list[dict[str, Any]]]:
    settings = services.settings
    if answer.answered and answer.section is not None:
        # A shared answer names the question only when it holds no patient data at all.
        show_question = shared_by is None or not services.privacy.masked_kinds(answer.question)
        return render.answer_blocks(answer, surface=surface, base_url=settings.knowledge.base_url,
                                    limit=settings.knowledge.answer_chars, shareable=shareable, shared_by=shared_by,
                                    show_question=show_question)
    if answer.choices:
        return render.choices_blocks(answer, surface=surface, base_url=settings.knowledge.base_url)
    return render.unknown_blocks(answer, surface=surface, help_channel=settings.slack.help_channel,
                                 base_url=settings.knowledge.base_url)


def record_outcome(services: "Services", user_id: str, answer: Answer, surface: str) -> None:
    """After the reply: a knowledge gap for an unanswered question; a log line either way."""
    best = answer.section.key if answer.section else None
    metrics.count_kb_answer(answer.mode, surface)
    # DEBUG, not INFO: /metrics counts answers by mode, and a line per question made the request
    # threads queue for the log handler under load (~25% of ask throughput, measured)
    log.debug("kb.answer surface=%s mode=%s confidence=%.2f section=%s took_ms=%.1f words=%d",
             surface, answer.mode, answer.confidence, best or "-", answer.result.took_ms, len(answer.question.split()))
    if answer.answered:
        return
    with services.db.session() as session:
        store.record_gap(session, at=services.clock.now(), user_id=user_id, question=answer.question,
                         best_section=best, confidence=answer.confidence, surface=surface,
                         detector=services.privacy.detector)  # masked as channel posts are


def outage_notice_for(services: "Services", question: str, role: Role, user: str | None = None) -> Any:
    """"PACS is down since 14:02, the team is on it" when the question is about a system that is
    down or in planned downtime (the node watch's hook), else None. ``user`` picks the downtime
    procedure written for them."""
    outages = services.features.outages
    if outages is None:
        return None
    try:
        return outages.notice(services, text=question, role=role, user=user)
    except Exception:  # noqa: BLE001 - the answer matters more than the notice
        log.exception("knowledge: the outage check failed")
        return None


def may_concern_outage(services: "Services", question: str) -> bool:
    """Whether an outage notice is possible at all for ``question`` (no database): only then
    is the check queued after the ack. Queuing it for every question cost more than the search."""
    outages = services.features.outages
    return outages is not None and outages.may_concern(services, question)


def _tell_outage(ctx: Ctx, question: str) -> None:
    notice = outage_notice_for(ctx.services, question, ctx.role, ctx.user_id)
    if notice is not None:
        ctx.reply(notice.text, notice.blocks)


def answer_message(ctx: Ctx, event: dict[str, Any], surface: str) -> None:
    """Answer a mention (in its thread), a DM, or a question in a listed channel."""
    services = ctx.services
    channel = event.get("channel") or ""
    text = clean_question(event.get("text") or "")
    if surface == "channel":
        bot_ids = {a.get("user_id") for a in ctx.body.get("authorizations") or [] if a.get("user_id")}
        if channel not in services.settings.knowledge.answer_channels:
            return
        if any(f"<@{b}" in (event.get("text") or "") for b in bot_ids):
            return  # a mention: the app_mention event answers it
        if not looks_like_question(text) or len(text.split()) < 3:
            return
    thread_ts = None if surface == "dm" else (event.get("thread_ts") or event.get("ts"))
    chat = GREETING if (not text or text.lower() in ("help", "?")) else small_talk(text)
    if chat is not None:
        if surface != "channel":  # small talk in a channel is people talking to each other
            ctx.post(channel, chat, thread_ts=thread_ts)
        return
    notice = outage_notice_for(services, text, ctx.role, ctx.user_id)
    if notice is not None:
        ctx.post(channel, notice.text, notice.blocks, thread_ts=thread_ts)
    answer = ask(services, text, ctx.role, ctx.user_id)
    if surface == "channel" and not answer.answered:  # choices included: only a confident answer speaks up
        record_outcome(services, ctx.user_id, answer, surface)
        return  # never butt into a channel conversation just to say "I don't know"
    reply_text, blocks = render_answer(services, answer, surface=surface)
    ctx.post(channel, reply_text, blocks, thread_ts=thread_ts)
    record_outcome(services, ctx.user_id, answer, surface)


# --------------------------------------------------------------------------------------

def _section_for(ctx: Ctx, key: str, question: str) -> tuple[Answer | None, Any]:
    """The answer a button refers to, even after a reload (then re-searched by question)."""
    kb = knowledge_base(ctx.services)
    found = kb.section(key) if key else None
    if found is not None:
        s, manual = found
        return Answer(question, True, 1.0, s, manual, (), _empty(question)), found
    if question:
        answer = kb.answer(question, audience=audience_for(ctx.services, ctx.user_id, ctx.role))
        return answer, None
    return None, None


def _empty(question: str) -> Any:

    return SearchResult(question, (), False, 0.0, 0.0)


def warm_up(settings: "Settings") -> None:
    """In the server's master, before it forks the workers: parse the manuals and build the
    index :func:`register` then finds in the cache (starts no thread, opens no connection)."""
    s = settings.knowledge
    KnowledgeBase.prebuild(s.manual_dirs(), synonyms_path=s.synonyms_file, ranking=s.ranking(), vectors_in_background=True)


def register(services: "Services") -> None:
    settings = services.settings.knowledge
    kb = KnowledgeBase(settings.manual_dirs(), synonyms_path=settings.synonyms_file, ranking=settings.ranking(),
                       reload_seconds=settings.reload_seconds, vectors_in_background=True)
    services.features.knowledge = kb
    services.features.answer_message = answer_message
    # every section rendered once in the background: no answer pays a first rendering in its ack
    threading.Thread(target=render.warm, args=(kb.snapshot,), name="kb-render", daemon=True,
                     kwargs={"base_url": settings.base_url, "limit": settings.answer_chars}).start()
    if settings.answer_channels:
        log.info("knowledge: answering questions in %d channel(s); the app needs the message.channels event "
                 "(and message.groups for private channels) for this", len(settings.answer_channels))
    services.registry.include(TABLE)


# What the knowledge feature handles in Slack, declared once (module-level handlers; register() adds them)
TABLE = Registry()


@TABLE.subcommand(
    "ask", role=Role.CLINICIAN, inline=True, group="Answers",
    summary="Ask a question; I answer from the PACS manuals (only you see it first).",
    usage="/pacs ask <question>", aliases=("q", "question"),
)
def ask_cmd(ctx: Ctx) -> None:
    """Searches the PACS manuals and shows the best section, privately, with a button to share it.
    You can also mention @pacsbot in a channel or write to it in a direct message."""
    question = clean_question(ctx.args)
    if not question:
        ctx.reply(USAGE)
        return
    chat = small_talk(question)
    if chat is not None:
        ctx.reply(chat)  # "thanks!" is not a question the manuals failed to answer
        return
    answer = ask(ctx.services, question, ctx.role, ctx.user_id, wait=False)  # inline: cached groups only
    text, blocks = render_answer(ctx.services, answer, surface="command", shareable=answer.answered)
    ctx.reply(text, blocks)
    if may_concern_outage(ctx.services, question):
        ctx.defer(_tell_outage, ctx, question, what="checking for outages")
    if answer.answered:
        record_outcome(ctx.services, ctx.user_id, answer, "command")  # a log line; nothing to store
    else:
        ctx.defer(record_outcome, ctx.services, ctx.user_id, answer, "command", what="saving your question")


@TABLE.subcommand(
    "kb", role=Role.ADMIN, group="Administration", ack_text="Working on it…", audit="kb.check",
    summary="Manuals: unanswered questions, reload after edits, check for problems.",
    usage="/pacs kb gaps [7d|DATE] | reload | check",
)
def kb_cmd(ctx: Ctx) -> None:
    """`gaps` lists the most frequent questions the manuals could not answer and the answers
    marked not helpful; `reload` re-reads the manual files now; `check` lists problems
    (broken links, duplicate headings, stale review dates)."""
    word, _, rest = ctx.args.partition(" ")
    word = word.lower()
    if word == "gaps":
        _kb_gaps(ctx, rest.strip())
    elif word == "reload":
        _kb_reload(ctx)
    elif word == "check":
        _kb_check(ctx)
    else:
        raise UserError("Use `/pacs kb gaps [7d]`, `/pacs kb reload` or `/pacs kb check`.")


def _kb_gaps(ctx: Ctx, rest: str) -> None:
    since = parse_since(rest, ctx.services.clock.now()) if rest else ctx.services.clock.now() - timedelta(days=30)
    with ctx.services.db.session() as session:
        report = store.gaps_report(session, since=since)
    ctx.audit("kb.gaps", details={"gaps": report.gap_count, "unhelpful": report.unhelpful_count})
    text, blocks = render.gaps_blocks(report, base_url=ctx.settings.knowledge.base_url)
    ctx.reply(text, blocks)


def _kb_reload(ctx: Ctx) -> None:
    report = knowledge_base(ctx.services).reload(force=True)
    ctx.audit("kb.reload", outcome="ok" if not report.problems else "failed",
              details={"manuals": report.manuals, "sections": report.sections, "problems": len(report.problems)})
    msg = f":white_check_mark: Reloaded {report.manuals} manuals ({report.sections} sections) in {report.took_ms:.0f} ms."
    blocks = [section(msg)]
    if report.problems:
        msg += f" {len(report.problems)} problem(s): files with errors were skipped."
        blocks = [section(msg), section(render.problems_text(report.problems))]
    ctx.reply(msg, blocks)


def _kb_check(ctx: Ctx) -> None:
    s = ctx.settings.knowledge
    problems = lint_check(s.manual_dirs(), today=ctx.services.clock.now().date(), max_age_days=s.review_max_age_days)
    errors = [p for p in problems if p.severity == "error"]
    if not problems:
        ctx.reply(":white_check_mark: The manuals look fine: no broken links, duplicate headings or stale reviews.")
        return
    head = f"{len(errors)} error(s) and {len(problems) - len(errors)} warning(s) in the manuals:"
    ctx.reply(head, [section(head), section(render.problems_text(problems)),
                     context("Fix them in the manual files, then `/pacs kb reload`.")])


@TABLE.action(render.HELPFUL, role=Role.CLINICIAN, label="Helpful")
def helpful(ctx: Ctx) -> None:
    _feedback(ctx, helpful=True)
    ctx.reply(":+1: Thanks — glad it helped.")


@TABLE.action(render.NOT_HELPFUL, role=Role.CLINICIAN, label="Not helpful")
def not_helpful(ctx: Ctx) -> None:
    feedback_id, name = _feedback(ctx, helpful=False)
    try:
        ctx.open_modal(render.reason_modal(feedback_id, ctx.channel_id, name))
    except Exception:  # noqa: BLE001 - the click is recorded either way
        log.info("knowledge: could not open the reason form; feedback %s kept without a reason", feedback_id)
        ctx.reply("Thanks — recorded as not helpful. The PACS team reviews these to fix the manuals.")


def _feedback(ctx: Ctx, *, helpful: bool) -> tuple[int, str]:
    value = render.parse_value(ctx.action_value)
    key, question = value.get("s", ""), value.get("q", "")
    if not key:
        raise UserError("That button has lost its answer; please ask again.")
    found = knowledge_base(ctx.services).section(key)
    manual_title = found[0].manual_title if found else ""
    heading = found[0].heading if found else ""
    with ctx.services.db.session() as session:
        row = store.record_feedback(session, at=ctx.services.clock.now(), user_id=ctx.user_id, question=question,
                                    section=key, manual_title=manual_title, heading=heading, helpful=helpful,
                                    surface=value.get("v", ""), detector=ctx.services.privacy.detector)
        feedback_id = int(row.id)
    return feedback_id, (f"{manual_title} › {heading}" if heading else key)


@TABLE.view(render.REASON_VIEW, role=Role.CLINICIAN, label="Feedback")
def reason_submitted(ctx: Ctx) -> None:
    try:
        meta = json.loads((ctx.view or {}).get("private_metadata") or "{}")
        feedback_id = int(meta.get("id"))
    except (TypeError, ValueError):
        raise UserError("That form has expired; thanks anyway.") from None
    values = ctx.view_values()
    with ctx.services.db.session() as session:
        saved = store.add_reason(session, feedback_id, ctx.user_id, values.get("reason"), values.get("comment"),
                                 detector=ctx.services.privacy.detector)
    channel = meta.get("c") or None
    if channel and not str(channel).startswith("D"):
        ctx.channel_id = channel
    if saved:
        ctx.reply(":memo: Thanks — the PACS team will use that to fix the manual.")


@TABLE.action(render.OPEN_TICKET, role=Role.CLINICIAN, label="Open a ticket")
def open_ticket(ctx: Ctx) -> None:
    value = render.parse_value(ctx.action_value)
    question = value.get("q", "")
    tickets = ctx.services.features.tickets
    if tickets is not None:
        tickets.open_from_question(ctx, question, value.get("s") or None)
        return
    help_at = ctx.settings.slack.help_channel
    where = f"post in {help_at}" if help_at else "message the PACS team"
    text = (":ticket: Tickets aren't switched on here yet. To get a person on it, "
            f"{where} with your question:\n> {escape(question)}\n"
            "Add the accession number and what you see, but no patient names, birth dates or record numbers. "
            "If patient care is waiting, call the PACS on-call.")
    ctx.reply(text)


@TABLE.action(render.SHARE, role=Role.CLINICIAN, label="Share in channel")
def share(ctx: Ctx) -> None:
    value = render.parse_value(ctx.action_value)
    answer, _ = _section_for(ctx, value.get("s", ""), value.get("q", ""))
    if answer is None or answer.section is None:
        raise UserError("That answer is no longer in the manuals; please ask again.")
    text, blocks = render_answer(ctx.services, answer, surface="shared", shared_by=ctx.user_id)
    ctx.reply(text, blocks, in_channel=True)
    if ctx.response_url:
        try:
            make_webhook_client(ctx.response_url, gate=ctx.services.privacy).send_dict({"delete_original": True})
        except Exception:  # noqa: BLE001 - the private copy staying is harmless
            log.info("knowledge: could not remove the private copy after sharing")


@TABLE.action(render.MORE, role=Role.CLINICIAN, label="Read more")
def more(ctx: Ctx) -> None:
    if not ctx.action_value:  # a link button: Slack opens the page itself
        return
    value = render.parse_value(ctx.action_value)
    found = knowledge_base(ctx.services).section(value.get("s", ""))
    if found is None:
        raise UserError("That section is no longer in the manuals; please ask again.")
    s, manual = found
    text, blocks = render.full_section_blocks(s, manual, base_url=ctx.settings.knowledge.base_url)
    ctx.reply(text, blocks)


@TABLE.action(render.PICK, role=Role.CLINICIAN, label="Is it one of these?")
def pick(ctx: Ctx) -> None:
    """A pick from "Is it one of these?": the section, and a note for the gap report that the
    manual is missing the asker's words (the question is then no longer an unanswered one)."""
    value = render.parse_value(ctx.action_value)
    key, question = value.get("s", ""), value.get("q", "")
    found = knowledge_base(ctx.services).section(key)
    if found is None:
        raise UserError("That section is no longer in the manuals; please ask again.")
    s, manual = found
    with ctx.services.db.session() as session:
        store.record_pick(session, at=ctx.services.clock.now(), user_id=ctx.user_id, question=question, section=key,
                          manual_title=s.manual_title, heading=s.heading, surface=value.get("v", ""),
                          detector=ctx.services.privacy.detector)
    answer = Answer(question, True, 1.0, s, manual, (), _empty(question))
    text, blocks = render_answer(ctx.services, answer, surface=value.get("v") or "command")
    ctx.reply(text, blocks)


@TABLE.home(order=20)
def home_section(services: "Services", user_id: str, role: Role) -> list[dict[str, Any]]:
    snap = knowledge_base(services).snapshot
    return [section("*Ask the manuals*\nType `/pacs ask` and your question, mention @pacsbot in a channel, "
                    f"or write to me here. I search {len(snap.library.manuals)} PACS manuals.")]
