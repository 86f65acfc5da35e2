"""Tickets -> Block Kit: the queue card, the report form, confirmations, lists."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pacsbot.bot.render.blocks import (
    Block,
    actions,
    button,
    confirm_dialog,
    context,
    divider,
    escape,
    header,
    modal,
    plain,
    section,
)
from pacsbot.bot.render.mrkdwn import split_for_blocks
from pacsbot.commands.verdict import plural
from pacsbot.commands.watch import duration_words
from pacsbot.tickets.config import TicketSettings
from pacsbot.tickets.intake import CATEGORY_LABELS, PRIORITY_OF_URGENCY, URGENCY_LABELS
from pacsbot.tickets.reminders import DigestEntry, Step
from pacsbot.tickets.service import Listener, TicketView

# Who files the tickets the node watch opens (bot.features.watch uses the same name).
MONITORING_REPORTER = "pacsbot"

STATUS_LABELS = {"new": ":red_circle: New", "acknowledged": ":large_yellow_circle: Acknowledged",
                 "resolved": ":white_check_mark: Resolved", "duplicate": ":link: Linked"}
MODALITY_OPTIONS = (("CT", "CT"), ("MR", "MR / MRI"), ("US", "Ultrasound"), ("DX", "X-ray (DX)"), ("CR", "CR"),
                    ("MG", "Mammography"), ("NM", "Nuclear medicine"), ("PT", "PET"), ("XA", "Angio (XA)"),
                    ("RF", "Fluoroscopy"), ("OT", "Other"))

REPORT_FORM = "ticket_report"
REPORT_CONFIRM = "ticket_report_confirm"
RESOLVE_FORM = "ticket_resolve_form"
NOTE_FORM = "ticket_note_form"
MERGE_FORM = "ticket_merge_form"


def when(dt: datetime | None) -> str:
    """A time every reader sees in their own time zone."""
    if dt is None:
        return "—"
    return f"<!date^{int(dt.timestamp())}^{{date_short_pretty}} {{time}}|{dt:%Y-%m-%d %H:%M} UTC>"


# The word for a priority, whatever the reporter chose: P1 is worked as STAT, P2 as urgent.
PRIORITY_WORDS = {"P1": "STAT", "P2": "Urgent", "P3": "Routine", "P4": "Low"}


def priority_label(ticket: TicketView) -> str:
    """``P2 Urgent``: the word follows the priority the team works to. When that is not the
    one the reporter's urgency gives (an outage, a routing rule), what they reported is named
    as such — ``P1 outage``, ``P2 Urgent (reported as routine)`` — never ``P1 Routine``."""
    word = PRIORITY_WORDS.get(ticket.priority, "")
    label = f"{ticket.priority} {word}".strip()
    if PRIORITY_OF_URGENCY.get(ticket.urgency) == ticket.priority:
        return label
    if ticket.is_incident:
        return f"{ticket.priority} outage"
    urgency = URGENCY_LABELS.get(ticket.urgency, ticket.urgency)
    return f"{label} (reported as {urgency if urgency == 'STAT' else urgency.lower()})"


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _option(value: str, text: str) -> dict[str, Any]:
    return {"text": plain(text), "value": value}


# -- the report form --------------------------------------------------------------------------

def report_form(initial: dict[str, Any] | None = None, *, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    initial = initial or {}
    category = {
        "type": "static_select", "action_id": "category", "placeholder": plain("What kind of problem?"),
        "options": [_option(k, v) for k, v in CATEGORY_LABELS.items()],
    }
    if initial.get("category") in CATEGORY_LABELS:
        category["initial_option"] = _option(initial["category"], CATEGORY_LABELS[initial["category"]])
    urgency_value = initial.get("urgency") or "routine"
    urgency: dict[str, Any] = {
        "type": "radio_buttons", "action_id": "urgency",
        "options": [_option("stat", "STAT — a patient is waiting now"), _option("urgent", "Urgent — within the hour"),
                    _option("routine", "Routine")],
    }
    urgency["initial_option"] = next(o for o in urgency["options"] if o["value"] == urgency_value)
    modality = {"type": "static_select", "action_id": "modality", "placeholder": plain("Modality"),
                "options": [_option(v, t) for v, t in MODALITY_OPTIONS]}
    if initial.get("modality") in dict(MODALITY_OPTIONS):
        modality["initial_option"] = _option(initial["modality"], dict(MODALITY_OPTIONS)[initial["modality"]])
    description = {"type": "plain_text_input", "action_id": "description", "multiline": True, "max_length": 3000,
                   "placeholder": plain("What happened, what you expected, what you tried")}
    if initial.get("description"):
        description["initial_value"] = str(initial["description"])[:3000]
    accession = {"type": "plain_text_input", "action_id": "accession", "max_length": 16, "placeholder": plain("e.g. A123456")}
    if initial.get("accession"):
        accession["initial_value"] = str(initial["accession"])[:16]
    location = {"type": "plain_text_input", "action_id": "location", "max_length": 100, "placeholder": plain("e.g. CT2, reading room 3, ED")}
    if initial.get("location"):
        location["initial_value"] = str(initial["location"])[:100]
    blocks: list[Block] = [
        {"type": "input", "block_id": "category", "label": plain("Problem"), "element": category},
        {"type": "input", "block_id": "urgency", "label": plain("How urgent?"), "element": urgency},
        {"type": "input", "block_id": "accession", "optional": True, "label": plain("Accession number"), "element": accession,
         "hint": plain("The accession number is enough to find the study — please no patient names or birth dates.")},
        {"type": "input", "block_id": "modality", "optional": True, "label": plain("Modality"), "element": modality},
        {"type": "input", "block_id": "location", "optional": True, "label": plain("Where"), "element": location},
        {"type": "input", "block_id": "description", "label": plain("Describe the problem"), "element": description},
    ]
    return modal("Report a PACS problem", blocks, callback_id=REPORT_FORM, submit="Next",
                 private_metadata=json.dumps(meta or {})[:3000])


def confirm_view(draft_id: str, suggestions: list[tuple[str, str | None, str]], outages: list[TicketView]) -> dict[str, Any]:
    """Before filing: manual sections that may solve it, and an outage already being handled.
    The report itself waits on the server (``bot.drafts``); the view carries its id."""
    blocks: list[Block] = []
    for outage in outages:
        blocks.append(section(
            f":rotating_light: *The PACS team already knows about a {CATEGORY_LABELS.get(outage.category, outage.category).lower()} "
            f"problem* ({outage.ref}, {plural(outage.reports, 'report')}, since {when(outage.created_at)}). "
            f"If yours is the same, you can stop here — or file it and it will be linked to {outage.ref} so you get its updates."))
    if suggestions:
        blocks.append(section(":books: *Does this solve it?* From the PACS manuals:"))
        for title, url, excerpt in suggestions:
            name = f"<{url}|{escape(title)}>" if url else f"*{escape(title)}*"
            blocks.append(section(f"{name}\n{excerpt}"))
    blocks.append(divider())
    blocks.append(context("Press *File the ticket* to send your report to the PACS team, or *Cancel* if it's solved."))
    return modal("Before you file", blocks, callback_id=REPORT_CONFIRM, submit="File the ticket", close="Cancel",
                 private_metadata=json.dumps({"draft": draft_id}))


def resolve_form(ticket: TicketView) -> dict[str, Any]:
    blocks = [
        section(f"*{ticket.ref}* — {escape(ticket.masked_summary)}"),
        {"type": "input", "block_id": "resolution", "label": plain("How was it resolved?"),
         "element": {"type": "plain_text_input", "action_id": "resolution", "multiline": True, "max_length": 2000,
                     "placeholder": plain("The reporter will read this, e.g. 'Resent series 3 from CT2; all 412 images are on PACS.'")}},
    ]
    return modal(f"Resolve {ticket.ref}", blocks, callback_id=RESOLVE_FORM, submit="Resolve", private_metadata=str(ticket.id))


def note_form(ticket: TicketView) -> dict[str, Any]:
    blocks = [
        section(f"*{ticket.ref}* — {escape(ticket.masked_summary)}"),
        {"type": "input", "block_id": "note", "label": plain("Note"),
         "element": {"type": "plain_text_input", "action_id": "note", "multiline": True, "max_length": 2000}},
        {"type": "input", "block_id": "visibility", "label": plain("Who sees it?"),
         "element": {"type": "radio_buttons", "action_id": "visibility",
                     "initial_option": _option("private", "The PACS team only"),
                     "options": [_option("private", "The PACS team only"), _option("public", "Also send it to the reporter")]}},
    ]
    return modal(f"Note on {ticket.ref}", blocks, callback_id=NOTE_FORM, submit="Add note", private_metadata=str(ticket.id))


# -- the card -------------------------------------------------------------------------------

def card(ticket: TicketView, settings: TicketSettings, *, oncall_mention: str | None = None) -> tuple[str, list[Block]]:
    category = CATEGORY_LABELS.get(ticket.category, ticket.category)
    accession = ticket.accession or "—"
    if settings.phi.mask_accession_in_channel and ticket.accession:
        accession = "(hidden)"
    where = " · ".join(x for x in (ticket.modality, ticket.location) if x) or "—"
    title = f"{ticket.ref} · {category} · {priority_label(ticket)}"
    if ticket.is_incident:
        title = ":rotating_light: " + title
    text = f"{ticket.ref}: {category} ({priority_label(ticket)}) — {escape(ticket.masked_summary)}"
    fields = [
        f"*Status*\n{STATUS_LABELS.get(ticket.status, ticket.status)}",
        f"*Reporter*\n{reporter_label(ticket.reporter)}",
        f"*Assignee*\n{f'<@{ticket.assignee}>' if ticket.assignee else '_nobody yet_'}",
        f"*Accession*\n{escape(accession)}",
        f"*Modality · where*\n{escape(where)}",
        f"*Reports*\n{ticket.reports}",
    ]
    blocks: list[Block] = [header(title)]
    summary = escape(ticket.masked_summary)
    if oncall_mention and ticket.status == "new":
        summary = f"{oncall_mention} {summary}"
    blocks.append(section(summary, fields=fields))
    if ticket.is_incident and ticket.is_open:
        blocks.append(context(incident_state(ticket, settings)))
    if ticket.status == "resolved":
        blocks.append(section(f"*Resolution* ({when(ticket.resolved_at)}, <@{ticket.resolved_by}>): {escape(ticket.resolution or '')}"))
    facts = [f"Filed {when(ticket.created_at)}"]
    if ticket.acknowledged_at:
        facts.append(f"acknowledged {when(ticket.acknowledged_at)}")
    if ticket.permalink:
        facts.append(f"<{ticket.permalink}|original message>")
    if ticket.phi_suspected:
        facts.append("patient details hidden here; the full report is on the ticket")
    blocks.append(context(" · ".join(facts)))
    n = ticket.id
    if ticket.status == "duplicate":
        blocks.append(context(f":link: Linked to *{ticket.parent_ref}*: act on that ticket; this report's reporter follows it."))
        return text, blocks
    buttons = []
    if ticket.status == "new":
        buttons.append(button("Acknowledge", f"ticket_ack:{n}", str(n), style="primary"))
    if ticket.status != "resolved":
        # one card for the whole team: "Take over" once someone has it
        buttons.append(button("Take over" if ticket.assignee else "Assign to me", f"ticket_assign:{n}", str(n)))
        buttons.append(button("Resolve", f"ticket_resolve:{n}", str(n)))
        if not ticket.is_incident:
            buttons.append(button("Merge into…", f"ticket_merge:{n}", str(n)))
    else:
        buttons.append(button("Reopen", f"ticket_reopen:{n}", str(n),
                              confirm=confirm_dialog(f"Reopen {ticket.ref}?", "The reporter will be told it is being looked at again.")))
    buttons.append(button("Add note", f"ticket_note:{n}", str(n)))
    blocks.append(actions(*buttons, block_id=f"ticket_actions_{n}"))
    return text, blocks


def detail(ticket: TicketView, history: list[Any], *, full: bool) -> tuple[str, list[Block]]:
    """``/pacs ticket 123``: the ticket and its history (team notes only when ``full``)."""
    category = CATEGORY_LABELS.get(ticket.category, ticket.category)
    text = ticket.description if full else ticket.masked_summary
    blocks: list[Block] = [
        section(f"*{ticket.ref}* · {category} · {priority_label(ticket)} · "
                f"{STATUS_LABELS.get(ticket.status, ticket.status)}\n{escape(text)}"),
    ]
    if ticket.parent_ref:
        blocks.append(context(f"Linked to {ticket.parent_ref}: follow that ticket for updates."))
    lines = []
    for event in history[-15:]:
        note = f": {escape(event.text[:200])}" if event.text and event.kind not in ("created",) else ""
        who = f"<@{event.actor}>" if event.actor.startswith(("U", "W")) else event.actor
        label = {"note": "team note", "note_public": "note", "linked": "also reported", "reply": "reply"}.get(event.kind, event.kind)
        if event.kind == "assigned" and (event.details or {}).get("assignee"):
            label = "took it" if event.details["assignee"] == event.actor else f"{label} to <@{event.details['assignee']}>"
        lines.append(f"• {when(event.at)} {who} — {label}{note}")
    if lines:
        blocks.append(section("\n".join(lines)))
    return f"{ticket.ref}: {escape(ticket.masked_summary)}", blocks


def listing(title: str, tickets: list[TicketView], *, empty: str) -> tuple[str, list[Block]]:
    if not tickets:
        return empty, [section(empty)]
    lines = []
    for t in tickets:
        who = f"<@{t.assignee}>" if t.assignee else "_unassigned_"
        lines.append(f"• *{t.ref}* {t.priority} {STATUS_LABELS.get(t.status, t.status)} — {escape(t.masked_summary[:90])} · {who} · {when(t.created_at)}")
    return f"{title}: {len(tickets)}", [section(f"*{title}*"), section("\n".join(lines))]


def filed_reply(ticket: TicketView, *, created: bool, linked: bool, position: int, phi_kinds: tuple[str, ...],
                own: TicketView | None = None, oncall: str | None = None, phone: str | None = None) -> tuple[str, list[Block]]:
    """What the reporter is told. ``own`` is their report; a STAT one names the on-call
    (``oncall``: mentions of the people paged) and the phone, because a patient may be waiting."""
    stat = own is not None and own.urgency == "stat" and created
    if linked and ticket.is_incident:
        own_ref = f" (your report is *{own.ref}*)" if own is not None and own.id != ticket.id else ""
        text = (f":link: This looks like part of the outage *{ticket.ref}*, which the PACS team is already working on{own_ref}. "
                "You'll hear when it is back and when it is resolved.")
        if own is not None and own.accession:
            text += f" I'm also checking {escape(own.accession)} on its own."
    elif linked:
        text = (f":link: You're the {ordinal(position)} to report this — it's the same problem as *{ticket.ref}*, "
                "which the PACS team is already working on. You're now following it and will get its updates.")
    elif created:
        text = (f":white_check_mark: Filed *{ticket.ref}* ({CATEGORY_LABELS.get(ticket.category, ticket.category)}, "
                f"{ticket.priority}). The PACS team has it; I'll message you when someone picks it up and when it's resolved.")
    else:
        text = f"That was already filed as *{ticket.ref}*; nothing new was created. You'll get its updates."
    if stat:
        ref = own.ref if own is not None else ticket.ref
        who = f"the PACS on-call ({oncall})" if oncall else "the PACS team"
        call = f"call the PACS on-call now on *{escape(phone)}*" if phone else "call the PACS on-call now"
        text = (f":rotating_light: *STAT — filed {ref}* and paged {who}. If a patient is waiting, {call}; "
                "don't wait for a message here.\n" + text)
    blocks = [section(text)]
    if phi_kinds:
        blocks.append(context(
            f":lock: Your report seems to include patient details ({', '.join(phi_kinds)}). The PACS team can see them on the "
            "ticket, but the channel card shows them hidden. Next time the accession number is enough."))
    return text, blocks


def thread_line(kind: str, actor: str, ticket: TicketView, text: str = "") -> str:
    """What the card's thread says about a change someone on the team made."""
    if kind == "assigned":
        if ticket.assignee == actor:
            return f":bust_in_silhouette: <@{actor}> took this."
        return f":bust_in_silhouette: <@{actor}> assigned this to <@{ticket.assignee}>."
    return {
        "acknowledged": f":eyes: <@{actor}> acknowledged this.",
        "resolved": f":white_check_mark: <@{actor}> resolved this: {escape(text)}",
        "reopened": f":arrows_counterclockwise: <@{actor}> reopened this." + (f" {escape(text)}" if text else ""),
        "note": f":lock: Team note from <@{actor}>: {escape(text)}",
        "note_public": f":speech_balloon: Note from <@{actor}> (sent to the reporter): {escape(text)}",
    }[kind]


def split_line(actor: str, moved: TicketView) -> str:
    """The line in the old ticket's thread when a report is split off it."""
    now = f" It is *{moved.ref}* now, a ticket of its own." if moved.former_ref else " It is a ticket of its own now."
    return f":scissors: <@{actor}> split *{moved.former_ref or moved.ref}* off: not part of this.{now}"


def reporter_label(reporter: str) -> str:
    """A person as a mention; the bot's own monitoring (outage tickets) in words."""
    if reporter == MONITORING_REPORTER:
        return "_pacsbot node watch_"
    return f"<@{reporter}>"


# -- SLA reminders and the daily digest ------------------------------------------------------

DIGEST_MAX_LINES = 40


def reminder_text(ticket: TicketView, step: Step, now: datetime, *, oncall_mention: str | None = None) -> str:
    """One SLA reminder in the card's thread: what is overdue and since when, no patient data."""
    overdue = f"overdue since {when(step.target_at)} ({duration_words(now - step.target_at)})"
    if step.phase == "acknowledge":
        icon = ":rotating_light:" if oncall_mention else ":alarm_clock:"
        ask = " Please acknowledge it on the card." if oncall_mention else ""
        state = f"is not acknowledged yet — {overdue}.{ask}"
    else:
        who = f" by <@{ticket.acknowledged_by}>" if ticket.acknowledged_by else ""
        icon, state = ":hourglass_flowing_sand:", f"was acknowledged{who} but is not resolved — {overdue}."
    mention = f"{oncall_mention} " if oncall_mention else ""
    return f"{icon} {mention}*{ticket.ref}* ({ticket.priority}) {state} {escape(ticket.masked_summary[:120])}"


def digest(entries: list[tuple[TicketView, DigestEntry]]) -> tuple[str, list[Block]]:
    """The daily digest of one queue channel: overdue tickets no longer reminded one by one, and stale ones."""
    title = f"Daily ticket digest: {plural(len(entries), 'open ticket')} past a target or without updates"
    reasons = {"acknowledge": "not acknowledged, overdue since", "resolve": "not resolved, overdue since",
               "stale": "no update since"}
    lines = []
    for ticket, entry in entries[:DIGEST_MAX_LINES]:
        who = f"<@{ticket.assignee}>" if ticket.assignee else "_unassigned_"
        lines.append(f"• *{ticket.ref}* {ticket.priority} — {reasons[entry.reason]} {when(entry.since)} · "
                     f"{escape(ticket.masked_summary[:80])} · {who}")
    if len(entries) > DIGEST_MAX_LINES:
        lines.append(f"…and {len(entries) - DIGEST_MAX_LINES} more.")
    blocks: list[Block] = [section(f":clipboard: *{title}*")]
    blocks.extend(section(chunk) for chunk in split_for_blocks("\n".join(lines)))  # a section holds 3,000 characters
    blocks.append(context("`/pacs tickets open` lists every open ticket, `/pacs tickets stale` the stale ones."))
    return f":clipboard: {title}", blocks


def incident_state(ticket: TicketView, settings: TicketSettings) -> str:
    """One line on an outage card: does it still take new reports, and why (not)."""
    what = ticket.node or "the system"
    if ticket.recovered_at is not None:
        return (f":large_green_circle: {what} back up {when(ticket.recovered_at)}: new reports are tickets of their own. "
                "Resolve this when everything is confirmed; everyone who reported it hears.")
    if ticket.node is not None:
        return f":rotating_light: New reports about {what} are linked here while the node watch sees it down."
    return (f":rotating_light: New {CATEGORY_LABELS.get(ticket.category, ticket.category).lower()} reports are linked here "
            f"while they keep coming (within {settings.outage.minutes} min of the last one).")


def also_reported(root: TicketView, own: TicketView, position: int, *, merged_by: str | None = None) -> tuple[str, list[Block]]:
    """The thread line for a report linked to ``root``, with the button to undo the link."""
    if merged_by == MONITORING_REPORTER:
        how = "gathered when the outage was declared"
    else:
        how = f"merged by <@{merged_by}>" if merged_by else f"{ordinal(position)} report"
    text = f"Also reported by {reporter_label(own.reporter)} ({how}, {own.ref}): {escape(own.masked_summary)}"
    label = "Not part of this outage" if root.is_incident else "Not the same problem"
    undo = button(label, f"ticket_split:{own.id}", str(own.id),
                  confirm=confirm_dialog(f"Split {own.ref} off?", f"{own.ref} becomes a ticket of its own, is checked on its "
                                         "own, and its reporter follows it instead."))
    return text, [section(text), actions(undo, block_id=f"ticket_split_{own.id}")]


def merge_form(ticket: TicketView, candidates: list[TicketView]) -> dict[str, Any]:
    """Pick the ticket (an outage first) that ``ticket`` is part of."""
    blocks: list[Block] = [section(f"*{ticket.ref}* — {escape(ticket.masked_summary)}")]
    if not candidates:
        blocks.append(section("There is no other open ticket to merge it into."))
        return modal(f"Merge {ticket.ref}", blocks, callback_id=MERGE_FORM, private_metadata=str(ticket.id))
    options = []
    for t in candidates[:100]:
        kind = "outage · " if t.is_incident else ""
        label = f"{t.ref} · {kind}{CATEGORY_LABELS.get(t.category, t.category)} · {t.masked_summary}"
        options.append(_option(str(t.id), label[:75]))
    blocks.append({"type": "input", "block_id": "into", "label": plain("Part of which ticket?"),
                   "element": {"type": "static_select", "action_id": "into", "options": options,
                               "placeholder": plain("An outage or the same problem")}})
    blocks.append(context(f"{ticket.ref} becomes a report of that ticket; its reporter follows that ticket instead."))
    return modal(f"Merge {ticket.ref}", blocks, callback_id=MERGE_FORM, submit="Merge", private_metadata=str(ticket.id))


def _own(listener: Listener | None, root: TicketView) -> list[TicketView]:
    """The listener's own reports under ``root`` (not ``root`` itself)."""
    return [r for r in listener.reports if r.id != root.id] if listener is not None else []


def _yours(own: list[TicketView], *, summaries: bool = False) -> str:
    """``your report *PACS-4*`` / ``your reports *PACS-1* and *PACS-2*`` (at most three named)."""
    names = " and ".join(f"*{r.ref}*" + (f" (_{escape(r.masked_summary[:80])}_)" if summaries else "") for r in own[:3])
    more = f" and {len(own) - 3} more" if len(own) > 3 else ""
    return f"your report{'s' if len(own) > 1 else ''} {names}{more}"


def _your_reports(listener: Listener | None, root: TicketView) -> str:
    own = _own(listener, root)
    if not own:
        return ""
    return "Y" + _yours(own, summaries=True)[1:] + (" was part of it. " if len(own) == 1 else " were part of it. ")


def follower_message(kind: str, ticket: TicketView, actor: str, text: str, listener: Listener | None = None) -> str | None:
    """What a follower is told about a change, in words that fit their own report."""
    if kind == "acknowledged":
        own = _own(listener, ticket)
        if own:
            what = "the outage" if ticket.is_incident else "the problem"
            return (f":eyes: *{ticket.ref}* — <@{actor}> from the PACS team is working on {what} {_yours(own)} "
                    f"{'is' if len(own) == 1 else 'are'} part of.")
        return f":eyes: *{ticket.ref}* — <@{actor}> from the PACS team is looking at your report: _{escape(ticket.masked_summary)}_"
    if kind == "resolved":
        yours = _your_reports(listener, ticket)
        if listener is not None and listener.via == "told":
            what = "the outage" if ticket.is_incident else "the problem"
            return f":white_check_mark: *{ticket.ref}*, {what} you were told about, is resolved: {escape(text)}"
        return (f":white_check_mark: *{ticket.ref}* is resolved: {escape(text)}\n{yours}If it still isn't right for you, "
                f"report it again with `/pacs report` and mention {ticket.ref}.")
    if kind == "reopened":
        return f":arrows_counterclockwise: *{ticket.ref}* was reopened; the PACS team is looking at it again."
    if kind == "note_public":
        return f":speech_balloon: *{ticket.ref}* — note from <@{actor}>: {escape(text)}"
    return None


def back_message(label: str, ticket: TicketView, listener: Listener, *, down_for: str) -> str:
    """The node watch saw the system back: one DM to each person who reported it or was told it was down."""
    head = f":large_green_circle: *{escape(label)}* is answering again (it was down {down_for})."
    own = _own(listener, ticket)
    if listener.via == "told" or not own:
        return (f"{head} You were told about this outage ({ticket.ref}); no need to do anything. "
                "I'll message you once more when the team has confirmed everything is back.")
    yours = "Y" + _yours(own)[1:] + (" is" if len(own) == 1 else " are")
    return (f"{head} {yours} part of outage *{ticket.ref}*, which stays open until the team has checked "
            f"everything. If your problem is still there now, report it with `/pacs report` — it will be a ticket of its own.")


def moved_message(kind: str, moved: TicketView, other: TicketView) -> str:
    """The reporter of a report split off or merged into another ticket."""
    if kind == "split":
        if moved.former_ref:  # PACS-12.1 is PACS-15 now
            return (f":scissors: Your report *{moved.former_ref}* (_{escape(moved.masked_summary[:80])}_) is not part of "
                    f"*{other.ref}* after all: it is now ticket *{moved.ref}*, and the PACS team is checking it. "
                    "You'll get its updates.")
        return (f":scissors: Your report *{moved.ref}* (_{escape(moved.masked_summary[:80])}_) is not part of *{other.ref}* after all: "
                "it is now a ticket of its own, and the PACS team is checking it. You'll get its updates.")
    what = f"the outage *{other.ref}*" if other.is_incident else f"*{other.ref}*"
    return (f":link: Your report *{moved.ref}* (_{escape(moved.masked_summary[:80])}_) is part of {what}, "
            "which the PACS team is working on. You'll get its updates from now on.")
