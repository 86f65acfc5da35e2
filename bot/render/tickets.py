"""Tickets -> Block Kit: the queue card, the report form, confirmations, lists."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from bot.render.blocks import (
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
from tickets.config import TicketSettings
from tickets.intake import CATEGORY_LABELS, URGENCY_LABELS
from tickets.service import TicketView

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


def when(dt: datetime | None) -> str:
    """A time every reader sees in their own time zone."""
    if dt is None:
        return "—"
    return f"<!date^{int(dt.timestamp())}^{{date_short_pretty}} {{time}}|{dt:%Y-%m-%d %H:%M} UTC>"


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
    urgency = {
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
            f"problem* ({outage.ref}, {outage.reports} reports, since {when(outage.created_at)}). "
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
    urgency = URGENCY_LABELS.get(ticket.urgency, ticket.urgency)
    accession = ticket.accession or "—"
    if settings.phi.mask_accession_in_channel and ticket.accession:
        accession = "(hidden)"
    where = " · ".join(x for x in (ticket.modality, ticket.location) if x) or "—"
    title = f"{ticket.ref} · {category} · {ticket.priority} {urgency}"
    if ticket.is_incident:
        title = ":rotating_light: " + title
    text = f"{ticket.ref}: {category} ({ticket.priority} {urgency}) — {escape(ticket.masked_summary)}"
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
        buttons.append(button("Assign to me", f"ticket_assign:{n}", str(n)))
        buttons.append(button("Resolve", f"ticket_resolve:{n}", str(n)))
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
        section(f"*{ticket.ref}* · {category} · {ticket.priority} {URGENCY_LABELS.get(ticket.urgency, ticket.urgency)} · "
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
            label += f" to <@{event.details['assignee']}>"
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


def filed_reply(ticket: TicketView, *, created: bool, linked: bool, position: int, phi_kinds: tuple[str, ...]) -> tuple[str, list[Block]]:
    if linked:
        text = (f":link: You're the {ordinal(position)} to report this — it's the same problem as *{ticket.ref}*, "
                "which the PACS team is already working on. You're now following it and will get its updates.")
    elif created:
        text = (f":white_check_mark: Filed *{ticket.ref}* ({CATEGORY_LABELS.get(ticket.category, ticket.category)}, "
                f"{ticket.priority}). The PACS team has it; I'll message you when someone picks it up and when it's resolved.")
    else:
        text = f"That was already filed as *{ticket.ref}*; nothing new was created. You'll get its updates."
    blocks = [section(text)]
    if phi_kinds:
        blocks.append(context(
            f":lock: Your report seems to include patient details ({', '.join(phi_kinds)}). The PACS team can see them on the "
            "ticket, but the channel card shows them hidden. Next time the accession number is enough."))
    return text, blocks


def reporter_label(reporter: str) -> str:
    """A person as a mention; the bot's own monitoring (outage tickets) in words."""
    if reporter == MONITORING_REPORTER:
        return "_pacsbot node watch_"
    return f"<@{reporter}>"
