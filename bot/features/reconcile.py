"""Daily reconciliation in Slack: the scheduled audit of PACS against VNA, and ``/pacs reconcile``.

* **Scheduled**: every five minutes the ``reconcile`` job looks at each configured pair
  (``dicom.reconcile.pairs``); once the pair's time (``at``, in the top-level ``timezone``)
  has passed today, it reconciles *yesterday* — once: a row in ``scheduler_claims`` keyed
  ``reconcile:<source>><archive>`` / the day is inserted first, and only the replica whose
  insert succeeds runs it. The summary goes to the pair's channel (default
  ``tickets.admin_channel``), the CSV into its thread.
* **On demand**: ``/pacs reconcile <day> [<source> <archive>]`` for admins. The input is
  checked inline (the ack says what is being compared), the work runs after the ack, and the
  summary and CSV go privately to the admin who asked.

Every run writes one audit row per pair (``dicom.reconcile``, target ``node:<source>><archive>``)
with counts only — no accession numbers, no patient data.
"""

from __future__ import annotations

import functools
import logging
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from pacsbot.bot.access import Role
from pacsbot.bot.context import Ctx
from pacsbot.bot.features.diagnostics import LIMIT, diagnostics_of, rate_limit
from pacsbot.bot.registry import Registry
from pacsbot.bot.render.blocks import Block, context, escape, section
from pacsbot.bot.scheduler import claim_done, claim_once
from pacsbot.commands.reconcile import (
    RECONCILE_USAGE,
    ReconcileReport,
    choose_pairs,
    csv_filename,
    csv_text,
    parse_request,
    summary,
)
from pacsbot.commands.service import Diagnostics, new_run_id
from pacsbot.core.errors import UserError
from pacsbot.core.privacy import vouch

if TYPE_CHECKING:
    from pacsbot.bot.services import Services

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "pacsbot"
CHECK_EVERY = timedelta(minutes=5)
# A day's run claimed but not posted this long after (it failed, or its replica died) runs again.
RETRY_AFTER = timedelta(hours=1)


def _diag(services: "Services") -> Diagnostics:
    return diagnostics_of(services)


def report_blocks(report: ReconcileReport, *, where: str) -> tuple[str, list[Block]]:
    text = summary(report)
    seconds = report.ms / 1000
    facts = [f"Read-only C-FIND, {report.source.queries + report.archive.queries} queries, {seconds:.1f} s"]
    for listing in (report.source, report.archive):
        if listing.paged_by:
            facts.append(f"{escape(listing.node.name)} listed in pages (by {' and '.join(listing.paged_by)})")
    if report.rows:
        facts.append(where)
    return text, [section(escape(text)), context(" · ".join(facts))]


def audit_details(report: ReconcileReport, *, run: str, via: str) -> dict[str, Any]:
    # The audit outcome is whether the check ran ("ok"/"failed"); what it found is "result".
    details: dict[str, Any] = {"run": run, "via": via, "result": report.outcome, **report.counts()}
    for role, listing in (("source", report.source), ("archive", report.archive)):
        if listing.failure is not None:
            details[f"{role}_failure"] = listing.failure.code
    return details


def register(services: "Services") -> None:
    services.registry.include(TABLE)


# What the reconcile feature handles in Slack, declared once (module-level handlers; register() adds them)
TABLE = Registry()


@TABLE.subcommand(
    "reconcile", role=Role.ADMIN, group="Diagnostics", inline=True, limit=LIMIT,
    summary="Compare a day's studies on PACS and VNA: what is missing from the archive, what is incomplete.",
    usage=RECONCILE_USAGE,
    details=(
        "Lists the day's studies on both nodes (read-only STUDY-level C-FIND by study date), compares them by "
        "study UID and image counts, and sends you the summary and a CSV (accession numbers, no patient details). "
        "Without node names it runs the configured pairs (dicom.reconcile.pairs), else pacs against vna."
    ),
)
def reconcile_cmd(ctx: Ctx) -> None:
    diag = _diag(ctx.services)
    try:
        request = parse_request(ctx.args, today=ctx.services.today())
        pairs = choose_pairs(request.source, request.archive,
                             configured=[(p.source, p.archive) for p in ctx.settings.dicom.reconcile.pairs], known=diag.node_names())
    except UserError:
        ctx.defer(ctx.audit, "dicom.reconcile", outcome="refused", details={"reason": "bad input", "via": "slack"},
                  what="the audit")
        raise
    names = " and ".join(f"{s} → {a}" for s, a in pairs)
    ctx.reply(f":hourglass_flowing_sand: Reconciling {escape(names)} for {vouch(request.day.isoformat())}…")
    ctx.defer(run_on_demand, ctx, pairs, request.day, what="the reconciliation")


@TABLE.job("reconcile", every=CHECK_EVERY)
def daily(services: "Services") -> list[str]:
    """Start each configured pair whose time has passed today and that has not run for yesterday."""
    return start_due(services)


def _log_failure(key: str, exc: BaseException) -> None:
    log.error("reconcile: %s failed: %s", key, type(exc).__name__, exc_info=(type(exc), exc, exc.__traceback__))


def start_due(services: "Services") -> list[str]:
    settings = services.settings.dicom.reconcile
    if not settings.enabled or not settings.pairs:
        return []
    now = services.clock.now().astimezone(ZoneInfo(services.settings.timezone))
    day = now.date() - timedelta(days=1)
    started = []
    for pair in settings.pairs:
        if (now.hour, now.minute) < pair.hour_minute:
            continue
        job = f"reconcile:{pair.key}"
        if not claim_once(services, job, day.isoformat(), lease=RETRY_AFTER):
            continue
        channel = pair.channel or services.settings.tickets.admin_channel
        services.background.submit(
            _run_claimed, services, job, pair.source, pair.archive, day, channel,
            on_error=functools.partial(_log_failure, pair.key),
        )
        started.append(pair.key)
    return started


def _run_claimed(services: "Services", job: str, source: str, archive: str, day: date, channel: str | None) -> None:
    """The daily run: once it is posted nobody runs it again; if it fails (or this replica
    dies) before that, the claim is taken over after RETRY_AFTER and it runs again."""
    run_scheduled(services, source, archive, day, channel)
    claim_done(services, job, day.isoformat())


def run_scheduled(services: "Services", source: str, archive: str, day: date, channel: str | None) -> ReconcileReport:
    report = _diag(services).reconcile(source, archive, day)
    services.audit.record(SYSTEM_ACTOR, "dicom.reconcile", target=f"node:{source}>{archive}", outcome="ok" if report.compared else "failed",
                          details=audit_details(report, run=new_run_id(), via="schedule"))
    if channel is None:  # settings validation prevents it; never lose the result silently
        log.warning("reconcile: %s>%s for %s has no channel to post to (%s)", source, archive, day, report.outcome)
        return report
    text, blocks = report_blocks(report, where="CSV of every study in the thread")
    posted = services.client.chat_postMessage(channel=channel, text=text, blocks=blocks)
    if report.rows:
        services.client.files_upload_v2(
            channel=channel, thread_ts=posted["ts"], content=vouch(csv_text(report)), filename=csv_filename(report),
            title=f"Reconciliation {source} → {archive}, {vouch(day.isoformat())}",
            initial_comment=f"One row per study ({len(report.rows)}), problems first. Accession numbers only, no patient details.",
        )
    return report


def run_on_demand(ctx: Ctx, pairs: list[tuple[str, str]], day: date) -> None:
    if not rate_limit(ctx, "reconcile"):  # the same per-user brake as echo and locate
        return
    diag = _diag(ctx.services)
    run = new_run_id()
    for source, archive in pairs:
        report = diag.reconcile(source, archive, day)
        ctx.audit("dicom.reconcile", target=f"node:{source}>{archive}", outcome="ok" if report.compared else "failed",
                  details=audit_details(report, run=run, via="slack"))
        text, blocks = report_blocks(report, where="CSV sent to our DM")
        ctx.reply(text, blocks)
        if report.rows:
            dm = ctx.client.conversations_open(users=ctx.user_id)["channel"]["id"]
            ctx.client.files_upload_v2(
                channel=dm, content=vouch(csv_text(report)), filename=csv_filename(report),
                title=f"Reconciliation {source} → {archive}, {vouch(day.isoformat())}",
                initial_comment=f"{source} → {archive}, {vouch(day.isoformat())}: one row per study ({len(report.rows)}), "
                                "problems first. Accession numbers only, no patient details.",
            )
