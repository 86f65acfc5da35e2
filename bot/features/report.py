"""The weekly report in Slack: posted once a week to the admin channel, and ``/pacs weekly``.

The figures, chart and text come from ``reports`` (no Slack there); this module decides when
and where they go. The job ticks every few minutes on every replica; once the configured
day and time of a week have passed it claims ``(weekly-report, <ISO week reported>)`` in the
scheduler's claim table, so exactly one replica posts each week's report, once.
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from pacsbot.bot.access import Role
from pacsbot.bot.context import Ctx
from pacsbot.bot.features.training import feature
from pacsbot.bot.registry import Registry
from pacsbot.bot.scheduler import claim_done, claim_once
from pacsbot.core.privacy import vouch
from pacsbot.reports.chart import CHARTS_HINT, ChartsUnavailable, render_png
from pacsbot.reports.export import png_name, summary
from pacsbot.reports.weekly import Week, WeeklyReport, gather, parse_week

if TYPE_CHECKING:
    from pacsbot.bot.services import Services
    from pacsbot.bot.settings import Settings
    from pacsbot.bot.storage import Database

log = logging.getLogger(__name__)

JOB = "weekly-report"
# A bot that was not running at the posting time posts on its first tick within this window;
# later than that the week is skipped (an admin can still get it with /pacs weekly).
CATCH_UP = timedelta(hours=24)
RETRY_AFTER = timedelta(hours=1)
SYSTEM_ACTOR = "pacsbot"


def module_info(catalog: Any) -> dict[str, tuple[str, str | None]]:
    """``{module id: (title, current content hash)}`` from a training catalog."""
    if catalog is None:
        return {}
    return {m.id: (m.title, m.content_hash) for m in catalog.sorted()}


def make_report(db: "Database", settings: "Settings", week: Week, *, now: datetime, catalog: Any = None) -> WeeklyReport:
    """Gather ``week``'s figures with this site's configuration (nodes, modules, title)."""
    with db.session() as s:
        return gather(
            s, week, now=now, site=settings.reports.site, nodes=[n.name for n in settings.dicom.nodes],
            modules=module_info(catalog), top_gaps=settings.reports.weekly.top_gaps,
        )


NO_CHART = ("\n_The chart is not drawn on this server (it needs matplotlib: `pip install 'pacsbot[charts]'`); "
            "`pacsbot report --week` writes the figures as CSV._")


def _chart(report: WeeklyReport) -> bytes | None:
    """The chart, or None where matplotlib (the ``charts`` extra) is not installed."""
    try:
        return render_png(report)
    except ChartsUnavailable:
        log.warning("weekly report: no chart (matplotlib is not installed: %s); posting the figures as text", CHARTS_HINT)
        return None


def _send(client: Any, channel: str, report: WeeklyReport, png: bytes | None) -> None:
    """The chart with its summary, or (no matplotlib on this server) the summary as text.
    The summary holds counts and the week's dates, no patient data: the bot's own words."""
    if png is None:
        client.chat_postMessage(channel=channel, text=vouch(summary(report)) + NO_CHART)
    else:
        client.files_upload_v2(
            channel=channel, file=png, filename=png_name(report), title=f"PACS weekly report — {vouch(report.week.title)}",
            initial_comment=vouch(summary(report)),
        )


def audit_details(report: WeeklyReport, png: bytes, **extra: Any) -> dict[str, Any]:
    """Counts only: what was reported, never who or what was asked."""
    t = report.ticket_totals
    return {
        "week": report.week.label, "bytes": len(png), "nodes": len(report.nodes), "checks": report.checks,
        "tickets_opened": t.opened, "tickets_resolved": t.resolved, "gaps": report.gaps.count,
        "modules": len(report.training), "partial": report.partial, **extra,
    }


def _catalog(services: "Services") -> Any:
    try:

        return feature(services).service.catalog()
    except Exception:  # noqa: BLE001 - the report goes out with module ids instead of titles
        log.warning("weekly report: the training catalog could not be read; module ids are shown instead of titles")
        return None


def due_week(services: "Services") -> Week | None:
    """The week to post now: the previous week, from this week's posting time for a day;
    otherwise (or when switched off) None."""
    cfg = services.settings.reports.weekly
    if not cfg.enabled:
        return None
    tz = services.settings.timezone
    zone = ZoneInfo(tz)
    local = services.clock.now().astimezone(zone)
    monday = local.date() - timedelta(days=local.weekday())
    hour, minute = cfg.hour_minute
    due = datetime.combine(monday + timedelta(days=cfg.weekday_index), time(hour, minute), tzinfo=zone)
    if not due <= local < due + CATCH_UP:
        return None
    return Week.containing(monday, tz).previous()


def claim_week(services: "Services", week: Week) -> bool:
    """True for exactly one caller per week, across replicas; a week claimed but not posted
    within RETRY_AFTER (the upload failed, or the replica died) may be claimed again."""
    return claim_once(services, JOB, week.label, lease=RETRY_AFTER)


def post_weekly(services: "Services", week: Week, channel: str) -> WeeklyReport:
    """Build the report of ``week`` and upload the chart with its summary to ``channel``."""
    report = make_report(services.db, services.settings, week, now=services.clock.now(), catalog=_catalog(services))
    png = _chart(report)
    try:
        _send(services.client, channel, report, png)
    except Exception as exc:
        services.audit.record(SYSTEM_ACTOR, "report.weekly", target=f"week:{week.label}", outcome="failed",
                              details=audit_details(report, png or b"", to="channel", channel=channel, error=type(exc).__name__))
        raise
    services.audit.record(SYSTEM_ACTOR, "report.weekly", target=f"week:{week.label}",
                          details=audit_details(report, png or b"", to="channel", channel=channel))
    log.info("weekly report for %s posted to %s", week.label, channel)
    return report


def register(services: "Services") -> None:
    services.registry.include(TABLE)


# What the report feature handles in Slack, declared once (module-level handlers; register() adds them)
TABLE = Registry()


@TABLE.job(JOB, every=timedelta(minutes=5))
def weekly_job(services: "Services") -> str | None:
    """Post last week's report once its day and time have come (once per week)."""
    week = due_week(services)
    if week is None or not claim_week(services, week):
        return None
    channel = services.settings.reports.weekly.channel or services.settings.tickets.admin_channel
    if not channel:
        log.warning("weekly report for %s not posted: set reports.weekly.channel or tickets.admin_channel", week.label)
        services.audit.record(SYSTEM_ACTOR, "report.weekly", target=f"week:{week.label}", outcome="failed",
                              details={"week": week.label, "error": "no channel configured"})
        claim_done(services, JOB, week.label)  # retrying will not find a channel either
        return None
    post_weekly(services, week, channel)
    claim_done(services, JOB, week.label)
    return week.label


@TABLE.subcommand(
    "weekly", role=Role.ADMIN, group="Administration", inline=True,
    summary="The weekly report (uptime, tickets, unanswered questions, training) as a chart in our DM.",
    usage="/pacs weekly [last|this|2026-W47|YYYY-MM-DD]",
    details=("Without a week: the last complete week (Monday to Sunday). The same chart is posted to the admin channel "
             "every week; at the server, `pacsbot report --week --out DIR` writes it with CSVs."),
)
def weekly_cmd(ctx: Ctx) -> None:
    week = parse_week(ctx.args or None, now=ctx.services.clock.now(), tz=ctx.settings.timezone)
    ctx.reply(f":bar_chart: Building the weekly report for {week.title}; it will arrive in our DM.")
    ctx.defer(_send_to_asker, ctx, week, what="the weekly report")


def _send_to_asker(ctx: Ctx, week: Week) -> None:
    services = ctx.services
    report = make_report(services.db, services.settings, week, now=services.clock.now(), catalog=_catalog(services))
    png = _chart(report)
    dm = ctx.client.conversations_open(users=ctx.user_id)["channel"]["id"]
    _send(ctx.client, dm, report, png)
    ctx.audit("report.weekly", target=f"week:{week.label}", details=audit_details(report, png or b"", to="dm"))
