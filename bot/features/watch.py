"""The node watch and planned downtime in Slack: the watch job and its alerts, ``/pacs status``,
``/pacs downtime``, App Home's node section, and the outage notice other features show.

The monitoring logic is in :mod:`commands.watch` (state machine), :mod:`commands.watch_store`
(compare-and-set in the database), :mod:`commands.downtime` and :mod:`commands.outage`; this
module adapts them to Slack. Alerts and announcements go through the outbox, written in the
same transaction as the state change they announce, with a key derived from it: one state
change, one message, whichever replica noticed it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from pacsbot.bot import metrics
from pacsbot.bot.access import Role
from pacsbot.bot.context import Ctx
from pacsbot.bot.features.knowledge import audience_of
from pacsbot.bot.listeners.policy import allowed
from pacsbot.bot.outbox import get_outbox
from pacsbot.bot.registry import Registry
from pacsbot.bot.render import watch as render
from pacsbot.bot.render.blocks import Block, context, section
from pacsbot.bot.render.mrkdwn import to_mrkdwn
from pacsbot.bot.render.tickets import MONITORING_REPORTER
from pacsbot.commands import downtime as downtimes
from pacsbot.commands.config import NodeConfig
from pacsbot.commands.outage import affected_nodes, explains, relevant_nodes
from pacsbot.commands.results import EchoResult
from pacsbot.commands.service import Diagnostics
from pacsbot.commands.store import record_echoes
from pacsbot.commands.verdict import plural
from pacsbot.commands.watch import OUTAGE_CATEGORY, Rules, duration_words
from pacsbot.commands.watch_store import Applied, apply_result, claim_due, set_outage_ticket, views
from pacsbot.core.errors import NotFound, UserError
from pacsbot.tickets.service import Report

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from pacsbot.bot.feature_set import TicketDesk
    from pacsbot.bot.services import Services
    from pacsbot.tickets.service import Declared

log = logging.getLogger(__name__)

WATCH_EVERY = timedelta(seconds=20)
# Asked of the manuals for the downtime procedure. The bundled manuals answer it with the steps
# for technologists (technologist/, audience technologist) or for reading (viewer/, audience
# radiologist) depending on the reader, and with the general procedure (audience all) otherwise.
PROCEDURE_QUESTION = "what do I do while PACS is down"
ACTOR = MONITORING_REPORTER  # the watch files outage tickets and audits as "pacsbot"


@dataclass(frozen=True)
class OutageNotice:
    text: str
    blocks: list[Block]
    ticket: int | None  # the outage ticket a report should join


def _diag(services: "Services") -> Diagnostics:
    diag = services.features.dicom
    if diag is None:
        raise RuntimeError("the node watch needs the DICOM diagnostics feature (bot.features.diagnostics)")
    return diag


def _tickets(services: "Services") -> "TicketDesk | None":
    return services.features.tickets


def alert_channel(services: "Services") -> str | None:
    return services.settings.dicom.watch.channel or services.settings.tickets.admin_channel


def downtime_channels(services: "Services") -> list[str]:
    configured = services.settings.dicom.watch.downtime_channels
    if configured:
        return list(configured)
    channel = alert_channel(services)
    return [channel] if channel else []


def _node(services: "Services", name: str) -> NodeConfig | None:
    return next((n for n in _diag(services).nodes if n.name == name), None)


def _ref(services: "Services", session: "Session", number: int | None) -> str | None:
    """The reference (PACS-12) of the outage ticket with row id ``number``, read in ``session``."""
    feature = _tickets(services)
    if feature is None or number is None:
        return None
    try:
        return feature.svc.ref_of(session, number)
    except NotFound:
        return None


# ----------------------------------------------------------------------------------------
# the watch job


def run_watch(services: "Services") -> int:
    """Echo every watched node that is due, at once; apply each result; return how many were checked."""
    dicom = services.settings.dicom
    if not dicom.watch.enabled:
        return 0
    diag = _diag(services)
    nodes = [n for n in diag.nodes if n.watch]
    if not nodes:
        return 0
    now = services.clock.now()
    with services.db.session() as session:
        claimed = claim_due(session, {n.name: dicom.watch_interval(n) for n in nodes}, now)
    if not claimed:
        return 0
    rules = Rules(dicom.watch.down_after, dicom.watch.up_after)
    feature = _tickets(services)
    outbox = get_outbox(services)

    def record(result: EchoResult) -> None:
        """Each node's answer is recorded (and its alert sent) as soon as it is in: a node
        that is slow to time out holds up only its own check."""
        metrics.count_dicom_check("watch", result.node.name, result.ok)
        try:
            declared = _apply(services, result, now, claimed[result.node.name], rules)
        except Exception:  # noqa: BLE001 - one node's bookkeeping must not lose the others'
            log.exception("watch: could not record the check of %s", result.node.name)
            return
        if declared is not None and declared.created:
            metrics.count_ticket_event("opened")  # the outage ticket (reports audit their own)
        outbox.kick()
        if declared is not None and feature is not None:
            feature.outage_declared(declared)

    results = diag.echo(diag.select(list(claimed), command="echo"), on_each=record)
    return len(results)


def _apply(services: "Services", result: EchoResult, now: Any, version: int, rules: Rules) -> "Declared | None":
    """Record one result; on a state change, audit it, open/annotate the outage ticket, queue the alert.
    Returns the outage the watch declared (for its queue card and the reports gathered under it), else None."""
    node = _node(services, result.node.name)
    assert node is not None
    declared = None
    with services.db.session() as session:
        in_downtime = downtimes.active(session, node.name, now) is not None
        applied = apply_result(session, result, at=now, version=version, rules=rules, in_downtime=in_downtime)
        if applied is None:
            return None  # another replica got there first
        record_echoes(session, [result], actor=ACTOR, at=now)
        if applied.transition is None:
            return None
        t = applied.transition
        details: dict[str, Any] = {"event": t.event, "since": t.since.isoformat(), "ms": result.ms}
        if result.failure:
            details.update(failure=result.failure.code, reason=result.failure.message)
        ticket_ref = None
        if t.event == "down":
            declared = _open_outage(services, session, node, result, applied)
            ticket_ref = declared.ticket.ref if declared else None
            details["ticket"] = ticket_ref
            text = render.down_alert(node, t, result, ticket_ref, tz=services.settings.timezone, checks=rules.down_after)
        else:
            ticket_ref = _ref(services, session, applied.outage_ticket)
            _note_recovery(services, session, applied, render.up_alert(node, t, None, tz=services.settings.timezone))
            _tell_recovery(services, session, applied, node)
            details["ticket"] = ticket_ref
            details["outage_minutes"] = int(t.outage.total_seconds() // 60)
            text = render.up_alert(node, t, ticket_ref, tz=services.settings.timezone)
        services.audit.record(ACTOR, "dicom.watch", target=f"node:{node.name}", outcome="failed" if t.event == "down" else "ok",
                              details=details, session=session)
        channel = alert_channel(services)
        if channel:
            get_outbox(services).enqueue(session, f"watch:{t.event}:{node.name}:{applied.version}", channel=channel,
                                         text=text, origin="watch")
        else:
            log.warning("watch: %s is %s but no alert channel is set (dicom.watch.channel or tickets.admin_channel)",
                        node.name, t.event)
    return declared


def _open_outage(services: "Services", session: "Session", node: NodeConfig, result: EchoResult, applied: Applied) -> "Declared | None":
    feature = _tickets(services)
    if feature is None:
        return None

    t = applied.transition
    assert t is not None
    label = render.label_of(node)
    reason = result.failure.message if result.failure else "no answer"
    report = Report(reporter=ACTOR, source="watch", source_ref="", category=OUTAGE_CATEGORY.get(node.kind, "other"),
                    urgency="stat", description=f"{label} ({node.name}) is not answering DICOM echo since "
                                                f"{_stamp(t.since, services.settings.timezone)}: {reason}")
    try:
        with session.begin_nested():
            declared = feature.svc.declare_outage(session, report, t.at, key=f"watch:{node.name}:{int(t.since.timestamp())}",
                                                  node=node.name,
                                                  gather=lambda t: explains(node, text=t.description, category=t.category),
                                                  # it may have stopped any time after the last answered check
                                                  since=t.since - timedelta(seconds=services.settings.dicom.watch_interval(node)))
            set_outage_ticket(session, node.name, declared.ticket.id)
    except Exception:  # noqa: BLE001 - the alert matters more than the ticket
        log.exception("watch: could not open the outage ticket of %s", node.name)
        return None
    return declared


def _stamp(when: Any, tz: str) -> str:

    # Not "2026-11-28": a full date in a ticket's text is masked as possible PHI (a birth date).
    local = when.astimezone(ZoneInfo(tz))
    return f"{local:%H:%M} on {local:%a} {local.day} {local:%b} ({tz})"


def _note_recovery(services: "Services", session: "Session", applied: Applied, text: str) -> None:
    feature = _tickets(services)
    if feature is None or applied.outage_ticket is None:
        return
    try:
        with session.begin_nested():
            feature.svc.act(session, applied.outage_ticket, "note", ACTOR, services.clock.now(), note=text.replace("*", ""))
    except Exception:  # noqa: BLE001 - a closed or merged ticket must not block the recovery message
        log.warning("watch: could not add the recovery note to ticket %s", applied.outage_ticket)


def _tell_recovery(services: "Services", session: "Session", applied: Applied, node: NodeConfig) -> None:
    """Everyone who reported the outage or was told it was down hears it is back (once each),
    and the outage stops taking new reports."""
    feature = _tickets(services)
    t = applied.transition
    if feature is None or applied.outage_ticket is None or t is None:
        return
    try:
        with session.begin_nested():
            feature.recovered(session, applied.outage_ticket, render.label_of(node), duration_words(t.outage))
    except Exception:  # noqa: BLE001 - the recovery alert matters more than the DMs
        log.exception("watch: could not tell the followers of ticket %s that %s is back", applied.outage_ticket, node.name)


# ----------------------------------------------------------------------------------------
# planned downtime notices


def run_downtime_notices(services: "Services") -> int:
    now = services.clock.now()
    before = timedelta(minutes=services.settings.dicom.watch.remind_before_minutes)
    outbox = get_outbox(services)
    sent = 0
    with services.db.session() as session:
        for kind, d in downtimes.due_notices(session, now, before):
            node = _node(services, d.node)
            if node is None:
                continue
            sent += len(_announce(services, session, kind, node, d, now)[1])
    outbox.kick()
    return sent


def _announce(services: "Services", session: "Session", kind: str, node: NodeConfig, d: Any, now: Any) -> tuple[str, list[str]]:
    """Queue one downtime notice to every downtime channel, once each (the outbox key).
    Returns the text and the channels it was queued for."""
    text = render.downtime_notice(kind, node, d, tz=services.settings.timezone, now=now)
    outbox = get_outbox(services)
    channels = [c for c in downtime_channels(services)
                if outbox.enqueue(session, f"downtime:{kind}:{d.id}:{c}", channel=c, text=text, origin="watch")]
    return text, channels


# ----------------------------------------------------------------------------------------
# what other features ask: is this about something that is down?


def outage_may_concern(services: "Services", text: str) -> bool:
    """Whether ``text`` names a configured node at all: the check before any database work,
    cheap enough to run inside an ack (most questions name no system)."""
    diag = services.features.dicom
    return diag is not None and bool(diag.nodes) and bool(relevant_nodes(diag.nodes, text=text))


def outage_notice(services: "Services", *, text: str = "", category: str | None = None, role: Role = Role.CLINICIAN,
                  user: str | None = None) -> OutageNotice | None:
    """The notice for ``text``/``category`` when it is about a node that is down or in planned
    downtime, else None. ``user`` (who reads it) picks the downtime procedure written for them."""
    diag = services.features.dicom
    if diag is None or not diag.nodes:
        return None
    if not relevant_nodes(diag.nodes, text=text, category=category):
        return None  # most questions name no system: no database work for them
    now = services.clock.now()
    with services.db.session() as session:
        items = affected_nodes(session, diag.nodes, now, text=text, category=category)
        refs = {a.ticket: _ref(services, session, a.ticket) or "" for a in items if a.ticket is not None}
    if not items:
        return None
    words = render.outage_text(items, refs, tz=services.settings.timezone, now=now)
    blocks = [section(words), *_procedure(services, role, user)]
    ticket = next((a.ticket for a in items if a.ticket is not None), None)
    feature = _tickets(services)
    if user and feature is not None:
        # told "down, the team is on it": they hear when it is back and when it is resolved
        for number in sorted({a.ticket for a in items if a.ticket is not None}):
            try:
                feature.told(number, user)
            except Exception:  # noqa: BLE001 - the notice matters more than the follow-up
                log.exception("watch: could not note who was told about ticket %s", number)
    return OutageNotice(words, blocks, ticket)


class NodeWatchOutages:
    """What other features ask the node watch (``services.features.outages``)."""

    def may_concern(self, services: "Services", text: str) -> bool:
        return outage_may_concern(services, text)

    def notice(self, services: "Services", *, text: str = "", category: str | None = None, role: Role = Role.CLINICIAN,
               user: str | None = None) -> OutageNotice | None:
        return outage_notice(services, text=text, category=category, role=role, user=user)


def _procedure(services: "Services", role: Role, user: str | None = None) -> list[Block]:
    """The downtime procedure from the manuals, written for the reader: the best section for
    "what to do during a downtime" in a manual whose ``audience`` has the reader's configured
    audience words (``roles.audiences``, in order), else their role's defaults, else ``all``."""
    kb = services.features.knowledge
    if kb is None:
        return []

    try:
        configured = services.access.audiences_of(user) if user else ()
        defaults = audience_of(role)
        tiers = [(word,) for word in configured] + [[w for w in defaults if w != "all"], ("all",)]
        answer = kb.answer_written_for(PROCEDURE_QUESTION, tiers, audience=(*configured, *defaults))
    except Exception:  # noqa: BLE001 - the notice matters more than the manual excerpt
        log.exception("watch: the downtime procedure search failed")
        return []
    if not answer.answered or answer.section is None:
        return []

    return render.procedure_blocks(answer.section.heading, to_mrkdwn(answer.section.markdown), [s.heading for s in answer.see_also[:2]])


# ----------------------------------------------------------------------------------------
# Slack


def register(services: "Services") -> None:
    services.features.outages = NodeWatchOutages()
    services.registry.include(TABLE)


# What the watch feature handles in Slack, declared once (module-level handlers; register() adds them)
TABLE = Registry()


@TABLE.job("dicom-watch", every=WATCH_EVERY)
def watch_job(services: "Services") -> int:
    """Echo the nodes that are due; alert on down and up."""
    return run_watch(services)


@TABLE.job("dicom-downtime", every=timedelta(minutes=1))
def downtime_job(services: "Services") -> int:
    """Remind before a planned downtime; say when it starts and ends."""
    return run_downtime_notices(services)


@TABLE.subcommand(
    "status", role=Role.CLINICIAN, group="Systems",
    summary="Is PACS working? Each system's state, outages and planned downtime.",
    usage="/pacs status",
    variants=((Role.ADMIN, "/pacs status", "Each DICOM node's state with latency, last change and failure reason; planned downtime."),),
)
def status_cmd(ctx: Ctx) -> None:
    """Shows whether each system is working, since when it is down and which ticket tracks it,
    and any planned downtime coming up."""
    ctx.reply(*status(ctx.services, admin=ctx.role >= Role.ADMIN))


@TABLE.subcommand(
    "downtime", role=Role.CLINICIAN, group="Systems",
    summary="Planned downtime coming up.",
    usage="/pacs downtime [list]",
    variants=((Role.ADMIN, f"{downtimes.ADD_USAGE.split('   ')[0]} | cancel <id> | list",
               "Plan a downtime of a node (announced, reminded, alerts silenced), cancel it, or list them."),),
)
def downtime_cmd(ctx: Ctx) -> None:
    """`/pacs downtime` lists current and upcoming planned downtime. PACS admins add one with
    `/pacs downtime add pacs tomorrow 22:00 tomorrow 23:30 "PACS upgrade"` (times in the site's
    time zone), or cancel it with `/pacs downtime cancel <id>`."""
    word, _, rest = ctx.args.strip().partition(" ")
    word = word.lower()
    if word in ("", "list", "ls"):
        _downtime_list(ctx)
    elif word in ("add", "cancel"):
        if not allowed(ctx, Role.ADMIN, f"`/pacs downtime {word}`", target=f"command:downtime {word}"):
            return
        (_downtime_add if word == "add" else _downtime_cancel)(ctx, rest)
    else:
        raise UserError(f"“{word[:20]}” is not something `/pacs downtime` does. Use list, add or cancel.")


@TABLE.home(order=60)
def home_nodes(services: "Services", user_id: str, role: Role) -> list[Block]:
    """For admins: the watch's view of every node (replaces the last-echo summary)."""
    diag = _diag(services)
    if role < Role.ADMIN or not diag.nodes:
        return []
    with services.db.session() as session:
        state = views(session)
    watched = [n for n in diag.nodes if n.watch]
    down = [render.label_of(n) for n in watched if n.name in state and state[n.name].state == "down"]
    unknown = [n.name for n in watched if n.name not in state or state[n.name].state == "unknown"]
    if down:
        headline = f":red_circle: down: {', '.join(down)}"
    elif unknown:
        headline = f":white_circle: not checked yet: {', '.join(unknown)}"
    else:
        headline = ":large_green_circle: every node is answering"
    _, blocks = status(services, admin=True, title=f"*DICOM nodes* — {plural(len(diag.nodes), 'node')}\n{headline}")
    return [blocks[0], context("`/pacs status` for details, `/pacs echo all` to check now.")]


def status(services: "Services", *, admin: bool, title: str = "*System status*") -> tuple[str, list[Block]]:
    diag = _diag(services)
    now = services.clock.now()
    tz = services.settings.timezone
    with services.db.session() as session:
        state = views(session)
        upcoming = downtimes.upcoming(session, now, limit=5)
        refs = {name: _ref(services, session, view.outage_ticket) for name, view in state.items()}
    current = {d.node: d for d in upcoming if d.current(now)}
    lines = [render.node_line(n, state.get(n.name), current.get(n.name), refs.get(n.name),
                              admin=admin, tz=tz, now=now) for n in diag.nodes]
    labels = {n.name: render.label_of(n) for n in diag.nodes}
    return render.status_blocks(lines, upcoming, labels, tz=tz, now=now, watching=services.settings.dicom.watch.enabled, admin=admin,
                                title=title)


def _downtime_list(ctx: Ctx) -> None:
    now = ctx.services.clock.now()
    with ctx.services.db.session() as session:
        items = downtimes.upcoming(session, now)
    labels = {n.name: render.label_of(n) for n in _diag(ctx.services).nodes}
    ctx.reply(*render.downtime_list(items, labels, tz=ctx.settings.timezone, now=now))


def _downtime_add(ctx: Ctx, rest: str) -> None:
    services = ctx.services
    now = services.clock.now()
    diag = _diag(services)
    try:
        request = downtimes.parse_add(rest, diag.node_names(), now=now, tz=services.settings.timezone)
        with services.db.session() as session:
            d = downtimes.add(session, request, actor=ctx.user_id, now=now)
            node = _node(services, d.node)
            assert node is not None
            ctx.audit("dicom.downtime.add", target=f"node:{d.node}", session=session,
                      details={"id": d.id, "starts_at": d.starts_at.isoformat(), "ends_at": d.ends_at.isoformat()})
            text, channels = _announce(services, session, "announce", node, d, now)
    except UserError:
        ctx.audit("dicom.downtime.add", outcome="refused", details={"reason": "bad input"})
        raise
    get_outbox(services).kick()
    where = f" Announced in {', '.join(f'<#{c}>' for c in channels)}." if channels else ""
    ctx.reply(f":white_check_mark: Planned downtime #{d.id} added: {text.split(': ', 1)[1]}{where}")


def _downtime_cancel(ctx: Ctx, rest: str) -> None:
    services = ctx.services
    now = services.clock.now()
    try:
        with services.db.session() as session:
            d = downtimes.cancel(session, rest, actor=ctx.user_id, now=now)
            ctx.audit("dicom.downtime.cancel", target=f"node:{d.node}", session=session, details={"id": d.id})
            node = _node(services, d.node)
            if node is not None:
                _announce(services, session, "cancelled", node, d, now)
    except UserError:
        ctx.audit("dicom.downtime.cancel", outcome="refused", details={"reason": "bad input"})
        raise
    get_outbox(services).kick()
    ctx.reply(f":white_check_mark: Planned downtime #{d.id} is cancelled; down-alerts for it apply again.")
