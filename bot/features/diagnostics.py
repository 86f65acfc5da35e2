"""``/pacs nodes``, ``/pacs echo``, ``/pacs locate`` and ``/pacs worklist``: safe DICOM diagnostics in Slack.

The input is checked inline, before the ack, so a mistake is answered at once and the ack
itself says what is happening ("Checking 2 nodes for accession A123…"). The DICOM work runs
after the ack; every selected node is asked at once, and if one is slow the answers that are
in are shown after a few seconds, then the verdict when all have answered or given up.
Everything is a private reply to the person who asked. Patient name and birth date appear
only for admins, only there, and only if ``dicom.show_phi`` allows it.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from pacsbot.bot.access import Role
from pacsbot.bot.context import Ctx
from pacsbot.bot.registry import Registry
from pacsbot.bot.render.blocks import context, escape
from pacsbot.bot.render.diagnostics import echo_blocks, echo_interim_blocks, locate_blocks, locate_interim_blocks, nodes_blocks
from pacsbot.bot.render.diagnostics_worklist import worklist_blocks
from pacsbot.commands.demo import DemoNetwork, demo_wanted
from pacsbot.commands.query import LOCATE_USAGE, LocateQuery, parse_echo, parse_locate
from pacsbot.commands.results import EchoResult, NodeLocate
from pacsbot.commands.scu import Target
from pacsbot.commands.service import Diagnostics, echo_audit, locate_audit, new_run_id, worklist_check_audit
from pacsbot.commands.store import last_echoes, over_limit, prune_runs, pseudonym, pseudonym_key, record_echoes, take_run
from pacsbot.commands.verdict import plural
from pacsbot.commands.worklist import WORKLIST_USAGE, WorklistQuery, parse_worklist
from pacsbot.core.errors import Refused, UserError

if TYPE_CHECKING:
    from pacsbot.bot.services import Services

log = logging.getLogger(__name__)

# After this long, show the answers that are in while a slow node is still being waited for.
INTERIM_AFTER_SECONDS = 3.0
LIMIT = "dicom"  # the per-user brake on DICOM checks (dicom.rate_limit)


def diagnostics_of(services: "Services") -> Diagnostics:
    diag = services.features.dicom
    if diag is None:
        raise RuntimeError("the DICOM diagnostics feature is not registered")
    return diag


def register(services: "Services") -> None:
    settings = services.settings.dicom
    extra = []
    if demo_wanted(settings, interactive=False):  # dicom.demo: true
        network = DemoNetwork(worklist_day=services.today()).start()
        services.features.dicom_demo = network
        extra = network.node_configs(with_worklist=True)
    services.features.dicom = Diagnostics(settings, extra_nodes=extra, on_identifiers=services.privacy.remember)
    # who may locate by accession and check the worklist is the site's choice
    services.registry.include(TABLE, roles={"locate": Role.parse(settings.accession_locate_role),
                                            "worklist": Role.parse(settings.worklist_role)})


# What the diagnostics feature handles in Slack, declared once (module-level handlers; register() adds them)
TABLE = Registry()
# echo, locate and reconcile count against one per-user brake, refused in the ack when over it
TABLE.limit(LIMIT, lambda s: s.dicom.rate_limit, lambda numbers, wait: f":hourglass: {over_limit(numbers, wait)}")


def refuse_and_audit(ctx: Ctx, command: str, reason: str) -> None:
    """Audit a refused request after the ack (the input is not kept: it may hold PHI)."""
    ctx.defer(ctx.audit, f"dicom.{command}", outcome="refused", details={"reason": reason, "via": "slack"}, what="the audit")


@TABLE.subcommand(
    "nodes", role=Role.ADMIN, group="Diagnostics", audit="dicom.nodes",
    summary="List the DICOM nodes pacsbot may check, with each one's last echo.",
    usage="/pacs nodes",
    details="Nodes come only from the pacsbot configuration (dicom.nodes); nothing typed in chat is used as an address.",
)
def nodes(ctx: Ctx) -> None:
    diag = diagnostics_of(ctx.services)
    with ctx.services.db.session() as session:
        last = last_echoes(session)
    text, blocks = nodes_blocks(diag.node_refs(), last, now=ctx.services.clock.now(), calling_ae=ctx.settings.dicom.ae_title,
                                demo=ctx.services.features.dicom_demo is not None or _is_demo(diag))
    ctx.reply(text, blocks)


@TABLE.subcommand(
    "echo", role=Role.ADMIN, group="Diagnostics", inline=True, limit=LIMIT,
    summary="Check that DICOM nodes answer (C-ECHO): `ok in 12 ms` or why not.",
    usage="/pacs echo <node>|all",
    details="Sends a DICOM C-ECHO (the DICOM ping) to each node at once. It changes nothing on the node.",
)
def echo_cmd(ctx: Ctx) -> None:
    try:
        targets = diagnostics_of(ctx.services).select(parse_echo(ctx.args).nodes, command="echo")
    except UserError as exc:
        refuse_and_audit(ctx, "echo", "unknown node" if "no node called" in str(exc).lower() else "bad input")
        raise
    what = f"*{escape(targets[0].name)}*" if len(targets) == 1 else plural(len(targets), "node")
    ctx.reply(f":hourglass_flowing_sand: Checking {what}…")
    ctx.defer(run_echo, ctx, targets, what="the echo")


@TABLE.subcommand(
    "locate", role=Role.ADMIN, group="Diagnostics", inline=True, limit=LIMIT,  # register() sets the configured role
    summary="Find a study on the DICOM nodes and compare them: is it there, is it complete?",
    usage=LOCATE_USAGE,
    details=(
        "Searches every node at once (read-only C-FIND) by accession number, or, for PACS admins, by patient ID "
        "and date, and says what to act on: images missing on a node, a study not found anywhere, the same patient "
        "and date under another accession, a study split in two. Matching is exact and case-sensitive; wildcards "
        "are not allowed."
    ),
)
def locate_cmd(ctx: Ctx) -> None:
    try:
        query = parse_locate(ctx.args, today=ctx.services.clock.now().date() + timedelta(days=1))
        if query.by_patient and ctx.role < Role.ADMIN:
            raise Refused("Searching by patient ID is for PACS admins. You can look up an accession number: "
                          "`/pacs locate A123456`.")
        targets = diagnostics_of(ctx.services).select(query.nodes, command="locate")
    except UserError as exc:
        refuse_and_audit(ctx, "locate", "not allowed" if isinstance(exc, Refused) else "bad input")
        raise
    what = plural(len(targets), "node") if len(targets) > 1 else f"*{escape(targets[0].name)}*"
    ctx.reply(f":mag: Checking {what} for {escape(query.describe())}…")
    ctx.defer(run_locate, ctx, query, targets, what="the search")


@TABLE.subcommand(
    "worklist", role=Role.ADMIN, group="Diagnostics", inline=True, limit=LIMIT,  # register() sets the configured role
    summary="Is an order on the Modality Worklist? What is scheduled on a station today?",
    usage=WORKLIST_USAGE,
    details=(
        "Asks the worklist nodes (the RIS or worklist broker; read-only Modality Worklist C-FIND). With an accession "
        "it says where and when the order is scheduled, or that it is on another station, on another day, already "
        "performed (the archives are checked too) or on no worklist at all: then the order has not reached the "
        "RIS/broker. With a station AE title or a modality it lists that day's orders (today unless you name "
        "`tomorrow` or a date)."
    ),
)
def worklist_cmd(ctx: Ctx) -> None:
    diag = diagnostics_of(ctx.services)
    try:
        query = parse_worklist(ctx.args, today=ctx.services.today())
        targets = diag.select(query.nodes, command="worklist")
    except UserError:
        refuse_and_audit(ctx, "worklist", "bad input")
        raise
    what = plural(len(targets), "worklist node") if len(targets) > 1 else f"*{escape(targets[0].name)}*"
    ctx.reply(f":clipboard: Checking {what} for {escape(query.describe())}…")
    ctx.defer(run_worklist, ctx, query, targets, what="the worklist check")


@TABLE.job("dicom-housekeeping", every=timedelta(hours=1))
def housekeeping(services: "Services") -> int:
    """Forget rate-limit entries older than two days."""
    with services.db.session() as session:
        return prune_runs(session, now=services.clock.now())


# App Home's node section is the watch's (bot/features/watch.py): state, not just the last echo.


def _is_demo(diag: Diagnostics) -> bool:
    return bool(diag.nodes) and all(n.description.startswith("demo node") for n in diag.nodes)


def rate_limit(ctx: Ctx, command: str) -> bool:
    """Count this run against the user's limit; False (and a reply, and an audit row) if over it."""
    settings = ctx.settings.dicom
    try:
        with ctx.services.db.session() as session:
            take_run(session, actor=ctx.user_id, command=command, now=ctx.services.clock.now(), limit=settings.rate_limit)
    except Refused as exc:  # other replicas' runs made up the rest (this one's were counted before the ack)
        ctx.refused("rate limit")
        ctx.reply(f":hourglass: {exc}")
        return False
    return True


def run_echo(ctx: Ctx, targets: list[Target]) -> None:
    if not rate_limit(ctx, "echo"):
        return
    diag = diagnostics_of(ctx.services)
    settings = ctx.settings.dicom

    def interim(done: list[EchoResult], pending: list[Target]) -> None:
        ctx.reply(*echo_interim_blocks(done, [t.name for t in pending], max(t.total_timeout for t in pending)))

    results = diag.echo(targets, interim_after=INTERIM_AFTER_SECONDS, on_interim=interim)
    run = new_run_id()
    with ctx.services.db.session() as session:
        record_echoes(session, results, actor=ctx.user_id, at=ctx.services.clock.now())
        for item in echo_audit(results, run=run, via="slack"):
            ctx.audit("dicom.echo", target=item.target, outcome=item.outcome, details=item.details, session=session)
    ctx.reply(*echo_blocks(results, calling_ae=settings.ae_title))


def run_worklist(ctx: Ctx, query: WorklistQuery, targets: list[Target]) -> None:
    if not rate_limit(ctx, "worklist"):
        return
    diag = diagnostics_of(ctx.services)
    settings = ctx.settings.dicom
    show_phi = settings.show_phi == "ephemeral" and ctx.role >= Role.ADMIN
    located = diag.locate_in_archives(query.accession) if query.accession is not None else None
    report = diag.worklist(query, targets, today=ctx.services.today(), want_phi=show_phi, performed=located)
    run = new_run_id()
    with ctx.services.db.session() as session:
        for action, item in worklist_check_audit(report, query, located, run=run, via="slack", phi_shown=show_phi,
                                                 locate_via="slack:worklist"):
            ctx.audit(action, target=item.target, outcome=item.outcome, details=item.details, session=session)
    text, blocks = worklist_blocks(report, calling_ae=settings.ae_title, phi=show_phi)
    if ctx.role < Role.ADMIN and report.items:
        blocks.append(context("Patient details are shown to PACS admins only."))
    ctx.reply(text, blocks)


def run_locate(ctx: Ctx, query: LocateQuery, targets: list[Target]) -> None:
    if not rate_limit(ctx, "locate"):
        return
    diag = diagnostics_of(ctx.services)
    settings = ctx.settings.dicom
    show_phi = settings.show_phi == "ephemeral" and ctx.role >= Role.ADMIN

    def interim(done: list[NodeLocate], pending: list[Target]) -> None:
        ctx.reply(*locate_interim_blocks(done, [t.name for t in pending], max(t.total_timeout for t in pending),
                                         by_patient=query.by_patient))

    report = diag.locate(query, targets, want_phi=show_phi, interim_after=INTERIM_AFTER_SECONDS, on_interim=interim)
    run = new_run_id()
    with ctx.services.db.session() as session:
        pid = None
        if query.patient_id is not None:
            pid = pseudonym(query.patient_id, pseudonym_key(session, now=ctx.services.clock.now()))
        for item in locate_audit(report, query, run=run, via="slack", pid_pseudonym=pid, phi_shown=show_phi):
            ctx.audit("dicom.locate", target=item.target, outcome=item.outcome, details=item.details, session=session)
    text, blocks = locate_blocks(report, calling_ae=settings.ae_title, phi=show_phi,
                                 patient_id=query.patient_id if show_phi else None, patient_search=ctx.role >= Role.ADMIN)
    if ctx.role < Role.ADMIN:
        blocks.append(context("Patient details are shown to PACS admins only."))
    ctx.reply(text, blocks)

