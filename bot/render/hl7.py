"""``/pacs hl7``: the paste form and the decoded message, both in a modal (a private view).

Patient data is masked unless the admin ticked "Show patient details" (and the site allows
it, ``dicom.show_phi``); the modal is seen by that admin only, and the choice is audited.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pacsbot.bot.render.blocks import (
    MAX_BLOCKS_MODAL,
    MAX_SECTION_TEXT,
    Block,
    clip,
    context,
    divider,
    escape,
    modal,
    plain,
    section,
)
from pacsbot.commands.hl7 import Hl7Report, full_view, masked_view

PASTE_FORM = "hl7_paste"
RESULT_VIEW = "hl7_result"
MAX_PASTE = 3000  # Slack's limit for a text input
SEVERITY_ICON = {"bad": ":red_circle:", "warn": ":warning:", "info": ":information_source:"}
SEVERITY_ORDER = ("bad", "warn", "info")
SHOW_PHI = "show_phi"
# what follows the segments when some had to be left out (a modal holds 100 blocks)
RESERVED_BLOCKS = 3


def paste_form(*, phi_allowed: bool) -> dict[str, Any]:
    message = {"type": "plain_text_input", "action_id": "message", "multiline": True, "max_length": MAX_PASTE,
               "placeholder": plain("MSH|^~\\&|RIS|HOSP|PACS|HOSP|20261203143000||ORM^O01|…")}
    blocks: list[Block] = [
        {"type": "input", "block_id": "message", "label": plain("HL7 v2 message"), "element": message,
         "hint": plain("One message (ORM, OMI, ORU, ADT or SIU), as copied from the interface engine's log. "
                       "Longer than 3,000 characters? Use `pacsbot hl7 decode FILE` on the server.")},
    ]
    if phi_allowed:
        blocks.append({"type": "input", "block_id": SHOW_PHI, "optional": True, "label": plain("Patient details"),
                       "element": {"type": "checkboxes", "action_id": SHOW_PHI, "options": [
                           {"text": plain("Show them (only you see this window; recorded in the audit log)"), "value": "yes"}]}})
    blocks.append(context("Read-only: the message is decoded and checked here, and its accession numbers looked up "
                          "on the DICOM nodes. Nothing is sent to the RIS or the interface engine."))
    return modal("HL7 message", blocks, callback_id=PASTE_FORM, submit="Decode")


def result_view(report: Hl7Report, *, show_phi: bool, lookup: Sequence[str] | None = None) -> dict[str, Any]:
    """The decoded message: what it is, its problems, its accessions (with ``lookup``, the
    lines of the DICOM cross-check; None while it runs), then every segment and field."""
    view = full_view(report) if show_phi else masked_view(report)
    head = [f"*{escape(report.kind or '(no message type)')}*" + (f" · {escape(report.event)}" if report.event else "")]
    facts = []
    if report.control_id:
        facts.append(f"control ID `{escape(report.control_id)}`")
    if report.version:
        facts.append(f"HL7 {escape(report.version)}")
    if report.sending or report.receiving:
        facts.append(f"{escape(report.sending or '?')} → {escape(report.receiving or '?')}")
    if facts:
        head.append(" · ".join(facts))
    blocks: list[Block] = [section("\n".join(head)), section(_findings_text(report))]
    if report.accessions:
        names = ", ".join(f"`{escape(a)}`" for a in report.accessions)
        if lookup is None:
            blocks.append(section(f"*Accession{'s' if len(report.accessions) > 1 else ''}:* {names}\n"
                                  ":hourglass_flowing_sand: Looking it up on the DICOM nodes…"))
        else:
            blocks.append(section(clip(f"*Accession{'s' if len(report.accessions) > 1 else ''}:* {names}\n" + "\n".join(lookup),
                                       MAX_SECTION_TEXT)))
    blocks.append(divider())
    hidden = False
    segments = view["segments"]
    room = MAX_BLOCKS_MODAL - len(blocks) - RESERVED_BLOCKS
    for shown, segment in enumerate(segments):
        if shown == room:
            blocks.append(context(f"{len(segments) - shown} more segments are not shown here; "
                                  "`pacsbot hl7 decode FILE` on the server shows them all."))
            break
        lines = [f"*{escape(segment['segment'])}* {escape(segment['description'])}"]
        for fld in segment["fields"]:
            hidden = hidden or (fld["phi"] and not show_phi)
            label = f" {escape(fld['name'])}" if fld["name"] else ""
            meaning = f" _({escape(fld['meaning'])})_" if fld["meaning"] else ""
            lines.append(f"`{escape(fld['field'])}`{label}: {escape(clip(fld['value'], 300))}{meaning}")
        blocks.append(section(clip("\n".join(lines), MAX_SECTION_TEXT)))
    if hidden:
        blocks.append(context("[hidden]: patient data and people's names. Decode again with *Show patient details* "
                              "ticked to see them (recorded in the audit log)."))
    return modal("HL7 message", blocks, callback_id=RESULT_VIEW, submit=None, close="Close")


def _findings_text(report: Hl7Report) -> str:
    problems = len(report.problems)
    if not report.findings:
        return ":white_check_mark: No problems found."
    lines = [f"*{problems} problem{'' if problems == 1 else 's'}*" if problems else "*Notes*"]
    for finding in sorted(report.findings, key=lambda f: SEVERITY_ORDER.index(f.severity)):
        where = f"`{escape(finding.where)}` " if finding.where else ""
        line = f"{SEVERITY_ICON[finding.severity]} {where}{escape(finding.text)}"
        if finding.hint:
            line += f"\n      _{escape(finding.hint)}_"
        lines.append(line)
    return clip("\n".join(lines), MAX_SECTION_TEXT)


def lookup_lines(verdicts: Sequence[tuple[str, str]], *, skipped: int = 0, note: str = "") -> list[str]:
    """``(accession, verdict headline)`` pairs as lines for :func:`result_view`."""
    lines = [f"• `{escape(accession)}`: {escape(headline)}" for accession, headline in verdicts]
    if skipped:
        lines.append(f"• {skipped} more not looked up (the first {len(verdicts)} were).")
    if note:
        lines.append(note)
    return lines

