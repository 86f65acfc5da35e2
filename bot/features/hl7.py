"""``/pacs hl7``: paste an HL7 v2 message into a form, read it decoded in plain words.

The form and the result are modals: only the admin who opened them sees them. Patient data is
masked unless the admin ticks "Show patient details" (and ``dicom.show_phi`` allows it); the
audit row says which. The message's accession numbers are then looked up on the DICOM nodes
(the worklist when one is configured, else the archives) after the ack, and the window is
updated with what they hold. Nothing is sent anywhere: read-only, like every diagnostic.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from slack_sdk.errors import SlackApiError

from pacsbot.bot.access import Role
from pacsbot.bot.context import Ctx
from pacsbot.bot.features.diagnostics import diagnostics_of
from pacsbot.bot.registry import Registry
from pacsbot.bot.render import hl7 as render
from pacsbot.commands.hl7 import Hl7Report, audit_details, decode
from pacsbot.commands.service import accession_check_audit, new_run_id, worklist_check_audit
from pacsbot.commands.store import take_run
from pacsbot.commands.worklist import WorklistQuery
from pacsbot.core.errors import Refused, UserError

if TYPE_CHECKING:
    from pacsbot.bot.services import Services

log = logging.getLogger(__name__)

MAX_LOOKUPS = 3  # accessions looked up per message (an order message rarely has more)


def register(services: "Services") -> None:
    services.registry.include(TABLE)


TABLE = Registry()


def phi_allowed(services: "Services") -> bool:
    return services.settings.dicom.show_phi == "ephemeral"


@TABLE.subcommand(
    "hl7", role=Role.ADMIN, group="Diagnostics",
    summary="Decode an HL7 v2 message in plain words and find what breaks the imaging workflow.",
    usage="/pacs hl7",
    details=(
        "Opens a form: paste one ORM, OMI, ORU, ADT or SIU message (from the interface engine's log). pacsbot names "
        "every segment and field, flags a missing or duplicate accession, placer/filler mismatches, a missing "
        "procedure code, a PID without an MRN, wrong encoding characters and segments out of order, and looks the "
        "accession up on the worklist and the archives. Patient details stay hidden unless you ask. Longer messages: "
        "`pacsbot hl7 decode FILE` on the server."
    ),
)
def hl7_cmd(ctx: Ctx) -> None:
    ctx.open_modal(render.paste_form(phi_allowed=phi_allowed(ctx.services)))


@TABLE.view(render.PASTE_FORM, role=Role.ADMIN, label="Decode HL7", inline=True)
def paste_submitted(ctx: Ctx) -> None:
    values = ctx.view_values()
    show_phi = "yes" in (values.get(render.SHOW_PHI) or []) and phi_allowed(ctx.services)
    try:
        report = decode(str(values.get("message") or ""))
    except UserError as exc:
        ctx.ack_errors({"message": str(exc)})
        ctx.defer(ctx.audit, "hl7.decode", outcome="refused", details={"reason": "bad input", "via": "slack"}, what="the audit")
        return
    lookups = report.accessions[:MAX_LOOKUPS] if ctx.services.features.dicom is not None else ()
    ctx.ack_update(render.result_view(report, show_phi=show_phi, lookup=None if lookups else ()))
    ctx.defer(ctx.audit, "hl7.decode", target=f"hl7:{report.kind or 'unknown'}",
              details=audit_details(report, via="slack", source="paste", phi_shown=show_phi), what="the audit")
    if lookups:
        view_id = str((ctx.view or {}).get("id") or "")
        ctx.defer(cross_check, ctx, report, view_id, show_phi, what="the accession lookup")


def cross_check(ctx: Ctx, report: Hl7Report, view_id: str, show_phi: bool) -> None:
    """Each accession on the worklist (when one is configured) or the archives; the window
    is updated with one line per accession. Counted against the DICOM rate limit, audited."""
    lookups = report.accessions[:MAX_LOOKUPS]
    if rate_limit_reached(ctx):
        lines = render.lookup_lines([], note=":hourglass: Not looked up: you have run the most DICOM checks allowed "
                                              "for now. Try `/pacs locate <accession>` in a minute.")
    else:
        lines = render.lookup_lines([(a, headline(ctx, a)) for a in lookups],
                                    skipped=len(report.accessions) - len(lookups))
    try:
        ctx.client.views_update(view_id=view_id, view=render.result_view(report, show_phi=show_phi, lookup=lines))
    except SlackApiError as exc:  # the window was closed meanwhile: the lookup is audited all the same
        log.info("hl7: could not show the accession lookup (%s)", exc.response.get("error"))


def rate_limit_reached(ctx: Ctx) -> bool:
    """Counted in the DICOM checks' ledger (dicom.rate_limit); over it, the window says so."""
    try:
        with ctx.services.db.session() as session:
            take_run(session, actor=ctx.user_id, command="hl7", now=ctx.services.clock.now(), limit=ctx.settings.dicom.rate_limit)
    except Refused:
        ctx.refused("rate limit")
        return True
    return False


def headline(ctx: Ctx, accession: str) -> str:
    """What the DICOM nodes say about one accession, in one line (no patient details)."""
    diag = diagnostics_of(ctx.services)
    run = new_run_id()
    located = diag.locate_in_archives(accession)
    if not diag.worklist_node_names():
        rows = [] if located is None else accession_check_audit(located, accession, run=run, via="slack:hl7")
        answer = located.verdict.headline if located is not None else "no DICOM node to look it up on"
    else:
        query = WorklistQuery(accession=accession)
        report = diag.worklist(query, diag.select([], command="worklist"), today=ctx.services.today(), performed=located)
        rows = worklist_check_audit(report, query, located, run=run, via="slack:hl7", phi_shown=False)
        answer = report.verdict.headline
    with ctx.services.db.session() as session:  # after the DICOM work: no session held open on the network
        for action, item in rows:
            ctx.audit(action, target=item.target, outcome=item.outcome, details=item.details, session=session)
    return answer

