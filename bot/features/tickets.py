"""Tickets in Slack: every way to report, the queue card and its buttons, lists, SLAs.

Intake: the "Report a PACS problem" shortcut and ``/pacs report`` (a form), ``/pacs report
<text>`` (at once), the "Create PACS ticket" message shortcut, a reaction emoji, and the
"Open a ticket" button on an answer. The ticket's card goes to the queue channel its route
names; every change is posted in the card's thread and updates the card; followers (the
reporter and everyone whose report was linked) are told by DM on acknowledge and resolve.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError

from pacsbot.bot import drafts
from pacsbot.bot.access import Role
from pacsbot.bot.context import Ctx, call_the_oncall, storage_down
from pacsbot.bot.features.knowledge import ask
from pacsbot.bot.outbox import get_outbox
from pacsbot.bot.receipts import once
from pacsbot.bot.registry import Registry
from pacsbot.bot.render import tickets as render
from pacsbot.bot.render.blocks import Block, context, escape, section, unescape
from pacsbot.bot.render.diagnostics import locate_blocks
from pacsbot.bot.render.diagnostics_worklist import worklist_blocks
from pacsbot.bot.render.knowledge import section_url
from pacsbot.bot.render.mrkdwn import to_mrkdwn, trim
from pacsbot.bot.render.tickets import MONITORING_REPORTER
from pacsbot.bot.scheduler import claim_done, claim_once, replica_id
from pacsbot.bot.spool import Spool
from pacsbot.commands.query import parse_locate
from pacsbot.commands.results import Verdict
from pacsbot.commands.service import AuditItem, accession_check_audit, new_run_id, worklist_check_audit
from pacsbot.commands.verdict import most_severe, plural
from pacsbot.commands.worklist import WorklistQuery
from pacsbot.core.errors import NotFound, NotYours, UserError
from pacsbot.tickets.intake import CATEGORY_LABELS, guess_category, validate_accession
from pacsbot.tickets.service import Change, Declared, Filed, Report, TicketService, TicketView
from pacsbot.tickets.webhooks import deliver_due, post_json

if TYPE_CHECKING:
    from pacsbot.bot.services import Services

log = logging.getLogger(__name__)

LISTS = ("mine", "open", "unassigned", "stale")
# Reports Slack will never deliver again: kept on disk when the database is down. (A reaction
# is an event: when it cannot be stored Slack is told to deliver it again.)
SPOOLED_SOURCES = ("command", "modal", "message", "answer")


@dataclass
class TicketsFeature:
    """What other features may call: open the report form, or file a report."""

    services: "Services"
    svc: TicketService
    spool: Spool = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.spool is None:
            self.spool = Spool(self.services.settings.data_dir / "spool" / "reports")

    def open_form(self, ctx: Ctx, initial: dict[str, Any] | None = None, meta: dict[str, Any] | None = None) -> None:
        ctx.open_modal(render.report_form(initial, meta=meta))

    def open_from_question(self, ctx: Ctx, question: str, section_key: str | None = None) -> None:
        """The "Open a ticket" button under an answer: the form, with the question carried over."""
        text = question.strip()
        if section_key:
            text += f"\n\n(The manuals did not solve it: {section_key})"
        self.open_form(ctx, initial={"description": text[:3000]}, meta={"source": "answer"})

    # -- filing -------------------------------------------------------------------------
    def file(self, ctx: Ctx, report: Report, *, spool: bool = True) -> Filed:
        notice = self._outage_notice(ctx, report)
        if notice is not None and notice.ticket is not None and report.link_to is None:
            report = replace(report, link_to=notice.ticket)  # joins the outage's ticket, not filed alone
        now = self.services.clock.now()
        try:
            filed = self._store(ctx, report, now)
        except Exception as exc:
            if not spool or not storage_down(exc) or report.source not in SPOOLED_SOURCES:
                raise
            self.spool.put({"report": asdict(report)}, at=now)
            log.error("tickets: the database is down; a %s report was spooled on this server", report.source)
            raise UserError(
                "Not filed yet: pacsbot's ticket store is not answering, so your report is saved on the server instead. "
                "It will be filed as soon as the store is back (usually within minutes) and I'll message you its number. "
                f"If patient care is waiting, {call_the_oncall(self.svc.settings.oncall_phone)} now.") from None
        if filed.created:
            self._publish(ctx, filed)
        if notice is not None:
            ctx.reply(notice.text, notice.blocks)
        return filed

    def _store(self, ctx: Ctx, report: Report, now: Any) -> Filed:
        with self.services.db.session() as session:
            filed = self.svc.file(session, report, now)
            if filed.created:
                ctx.audit("ticket.link" if filed.linked else "ticket.create", target=filed.own.ref, session=session,
                          details={"ticket": filed.ticket.ref, "category": filed.own.category, "priority": filed.ticket.priority,
                                   "queue": filed.ticket.queue, "source": report.source, "phi_suspected": filed.phi.found})
        return filed

    def file_spooled(self) -> int:
        """File the reports this replica spooled while the database was down; returns how many."""
        filed_count = 0
        for path, item in self.spool.items():
            report = Report(**item["report"])
            ctx = Ctx(services=self.services, kind="job", name="ticket-spool", user_id=report.reporter,
                      role=self.services.access.role_of(report.reporter), body={})
            try:
                filed = self.file(ctx, report, spool=False)
            except Exception as exc:
                if storage_down(exc):
                    return filed_count  # still down: the next run tries again
                raise
            self.spool.done(path)
            filed_count += 1
            made = item.get("at", "")[11:16]
            ctx.dm(report.reporter, f":white_check_mark: Filed *{filed.ticket.ref}* — your report from {made} UTC, made while "
                                    "the ticket store was down. The PACS team has it now; I'll message you when someone picks it up.")
        return filed_count

    def _outage_notice(self, ctx: Ctx, report: Report) -> Any:
        """Is a system this report is about down, or in planned downtime? (the node watch knows)"""
        outages = self.services.features.outages
        if outages is None or not (report.description or "").strip():
            return None
        try:
            return outages.notice(self.services, text=report.description, category=report.category or guess_category(report.description),
                        role=ctx.role, user=ctx.user_id)
        except Exception:  # noqa: BLE001 - the report matters more than the notice
            log.exception("tickets: the outage check failed")
            return None

    def post_card(self, number: int) -> None:
        """Post the queue card of a ticket filed by pacsbot itself (an outage the node watch saw)."""
        with self.services.db.session() as session:
            ticket = self.svc.view(session, self.svc.get(session, number))
        if not ticket.channel or ticket.card_ts:
            return
        text, blocks = render.card(ticket, self.svc.settings)
        response = self._safe_post(ticket.channel, text, blocks)
        if response:
            with self.services.db.session() as session:
                self.svc.set_card(session, ticket.id, response["channel"], response["ts"])

    def _publish(self, ctx: Ctx, filed: Filed) -> None:
        ticket = filed.ticket
        if filed.own.urgency == "stat":
            self.page_oncall(filed.own)
        if filed.linked:
            if ticket.channel and ticket.card_ts:
                text, blocks = render.also_reported(ticket, filed.own, filed.position)
                self._safe_post(ticket.channel, text, blocks, thread_ts=ticket.card_ts)
            self.refresh_card(ticket.id)
            if self._wants_diagnostics(filed.own) and filed.own.accession != ticket.accession:
                # one line per accession in the thread: a mistyped or split study must not vanish into an outage
                self.services.background.submit(self.diagnose, filed.own.id)
        elif ticket.channel:
            oncall = filed.route.oncall if filed.route.page_oncall else None
            directory = self.services.access.directory
            mention = directory.mention(oncall) if (oncall is not None and directory) else None
            text, blocks = render.card(ticket, self.svc.settings, oncall_mention=mention)
            response = self._safe_post(ticket.channel, text, blocks)
            if response:
                with self.services.db.session() as session:
                    self.svc.set_card(session, ticket.id, response["channel"], response["ts"])
        if not filed.linked and self._wants_diagnostics(ticket):
            self.services.background.submit(self.diagnose, ticket.id)
        if filed.incident is not None:
            self._incident_alert(filed.incident, filed.incident_reports, filed.incident_people)
            self._merged_into(filed.incident, filed.merged, tell=True)
            self.refresh_card(filed.incident.id)

    def outage_declared(self, declared: Declared) -> None:
        """The node watch declared an outage: its queue card (if new), and the reports it gathered."""
        if declared.created:
            self.post_card(declared.ticket.id)
        if declared.merged:
            with self.services.db.session() as session:
                root = self.svc.view(session, self.svc.get(session, declared.ticket.id))
            self._merged_into(root, declared.merged, tell=True)
            self.refresh_card(root.id)

    def _merged_into(self, root: TicketView, merged: tuple[TicketView, ...], *, by: str | None = None, tell: bool = False) -> None:
        """Tickets gathered under ``root``: a line in each one's thread, one line each in the
        root's thread (with what the archive held for its accession), updated cards; with
        ``tell``, each reporter hears by DM that their report is now part of ``root``."""
        outbox = get_outbox(self.services)
        with self.services.db.session() as session:
            checked = {m.id: self.svc.last_diagnostics(session, m.id) for m in merged}
            for other in merged if tell else ():
                if other.reporter != MONITORING_REPORTER:
                    outbox.enqueue(session, f"ticket:{other.id}:merged:{root.id}:{other.reporter}", channel=other.reporter,
                                   text=render.moved_message("merge", other, root), origin="tickets")
        outbox.kick()
        why = f"by <@{by}>" if by else ("an outage the node watch saw" if root.node else "a possible outage")
        for other in merged:
            if other.channel and other.card_ts:
                self._safe_post(other.channel, f":link: Merged into *{root.ref}* ({why}). Follow that ticket; "
                                               "its reporters now get its updates.", thread_ts=other.card_ts)
            if root.channel and root.card_ts:
                text, blocks = render.also_reported(root, other, 0, merged_by=by or "pacsbot")
                if checked.get(other.id):
                    blocks.insert(1, context(f":mag: {escape(checked[other.id] or '')}"))
                self._safe_post(root.channel, text, blocks, thread_ts=root.card_ts)
            self.refresh_card(other.id)

    def page_oncall(self, own: TicketView) -> list[str]:
        """A STAT report: each member of the on-call group gets a DM at once (through the outbox,
        so it is sent even if Slack falters). Returns who was paged."""
        people = self.oncall_people(own.queue)
        if not people:
            return []
        where = f" Card in <#{own.channel}>." if own.channel else ""
        text = (f":rotating_light: *STAT* report *{own.ref}* from <@{own.reporter}>: {escape(own.masked_summary)}.{where} "
                "A patient may be waiting: please pick it up now.")
        outbox = get_outbox(self.services)
        with self.services.db.session() as session:
            for user in people:
                outbox.enqueue(session, f"ticket:{own.id}:stat-page:{user}", channel=user, text=text, origin="tickets")
        outbox.kick()
        return people

    def oncall_people(self, queue: str) -> list[str]:
        """The members of the on-call group of ``queue`` (its own, else the site's)."""
        group = self.svc.settings.oncall_of(queue)
        directory = self.services.access.directory
        return sorted(directory.members(group)) if (group and directory is not None) else []

    def _wants_diagnostics(self, ticket: TicketView) -> bool:
        diag = self.services.features.dicom
        if not (self.svc.settings.locate_on_intake and ticket.accession and diag is not None):
            return False
        if ticket.category == "worklist":
            return bool(diag.worklist_node_names())
        return ticket.category in ("missing_images", "outage") and bool(diag.node_names())

    def diagnose(self, number: int) -> None:
        """What the archive holds for a missing-images report, or the worklist for a worklist
        report, in the ticket's thread (PHI-free)."""

        diag = self.services.features.dicom
        if diag is None:  # only queued when _wants_diagnostics saw it
            return
        with self.services.db.session() as session:
            ticket = self.svc.view(session, self.svc.get(session, number))
        assert ticket.accession is not None
        if ticket.category == "worklist" and diag.worklist_node_names():
            self._diagnose_worklist(ticket)
            return
        query = parse_locate(ticket.accession)
        targets = diag.select((), command="locate")
        report = diag.locate(query, targets, want_phi=False)
        failed = [n.node.name for n in report.nodes if n.failure is not None]
        echo_lines = []
        if failed:
            for result in diag.echo([t for t in targets if t.name in failed]):
                if result.ok:
                    echo_lines.append(f"• *{result.node.name}* answers C-ECHO, but could not be searched.")
                else:
                    echo_lines.append(f"• *{result.node.name}* fails C-ECHO: {escape(result.failure.message if result.failure else 'no answer')}.")
        assert query.accession is not None  # parse_locate of an accession (as the report gave it, normalised)
        rows = accession_check_audit(report, query.accession, run=new_run_id(), via=f"ticket:{ticket.ref}")
        line = f":mag: {ticket.ref} from {render.reporter_label(ticket.reporter)}: {escape(report.verdict.headline)}"
        hint = most_severe(report.verdict.findings)
        if hint is not None and not failed:
            line += f". {escape(hint.text)}"
        text, blocks = locate_blocks(report, calling_ae=self.services.settings.dicom.ae_title, phi=False,
                                     patient_search=True)  # the ticket's thread: the PACS team's channel
        blocks.insert(0, context(":mag: What the archive holds, checked when the report came in:"))
        if echo_lines:
            blocks.append(section("\n".join(echo_lines)))
        self._report_check(ticket, rows, report.verdict, failed, line, (text, blocks))

    def _diagnose_worklist(self, ticket: TicketView) -> None:
        """Is the reported accession on the worklist (and where, when), or already performed?"""
        diag = self.services.features.dicom
        assert diag is not None and ticket.accession is not None
        query = WorklistQuery(accession=ticket.accession)
        located = diag.locate_in_archives(ticket.accession)
        report = diag.worklist(query, diag.select((), command="worklist"), today=self.services.today(), performed=located)
        failed = [n.node.name for n in report.nodes if n.failure is not None]
        rows = worklist_check_audit(report, query, located, run=new_run_id(), via=f"ticket:{ticket.ref}", phi_shown=False)
        line = f":clipboard: {ticket.ref} from {render.reporter_label(ticket.reporter)}: {escape(report.verdict.headline)}"
        text, blocks = worklist_blocks(report, calling_ae=self.services.settings.dicom.ae_title, phi=False)
        blocks.insert(0, context(":clipboard: What the worklist holds, checked when the report came in:"))
        self._report_check(ticket, rows, report.verdict, failed, line, (text, blocks))

    def _report_check(self, ticket: TicketView, rows: list[tuple[str, AuditItem]], verdict: Verdict, failed: list[str],
                      line: str, thread: tuple[str, list[Block]]) -> None:
        """A check made when a report came in: its audit rows and the ticket's history, then one
        ``line`` in the thread of the ticket it is linked to (an outage), or else ``thread`` in
        its own ticket's thread. PHI-free: the team's channel."""
        with self.services.db.session() as session:
            for action, item in rows:
                self.services.audit.record("pacsbot", action, target=item.target, outcome=item.outcome, details=item.details, session=session)
            self.svc.add_diagnostics(session, ticket.id, verdict.headline, {"severity": verdict.severity, "failed_nodes": failed},
                                     self.services.clock.now())
            root = self.svc.view(session, self.svc.get(session, ticket.parent_id)) if ticket.parent_id else None
        if root is not None:
            if root.channel and root.card_ts:
                self._safe_post(root.channel, line, [section(line)], thread_ts=root.card_ts)
            return
        if ticket.channel and ticket.card_ts:
            self._safe_post(ticket.channel, *thread, thread_ts=ticket.card_ts)

    def _incident_alert(self, incident: TicketView, reports: int, people: int) -> None:
        channel = self.svc.settings.admin_channel or incident.channel
        if not channel:
            return
        oncall = self.svc.settings.oncall_of(incident.queue)
        mention = ""
        if oncall and self.services.access.directory:
            mention = self.services.access.directory.mention(oncall) + " "
        outage = self.svc.settings.outage
        self._safe_post(channel, f":rotating_light: {mention}Possible outage: {plural(people, 'person')} reported "
                                 f"*{CATEGORY_LABELS.get(incident.category, incident.category).lower()}* problems in {outage.minutes} minutes "
                                 f"({plural(reports, 'report')}) — *{incident.ref}*. New reports are linked to it while they keep "
                                 f"coming; split off any that are not part of it.")

    def refresh_card(self, number: int) -> None:
        with self.services.db.session() as session:
            ticket = self.svc.view(session, self.svc.get(session, number))
        if not (ticket.channel and ticket.card_ts):
            return
        text, blocks = render.card(ticket, self.svc.settings)
        try:
            self.services.client.chat_update(channel=ticket.channel, ts=ticket.card_ts, text=text, blocks=blocks)
        except SlackApiError as exc:
            log.warning("tickets: could not update the card of %s (%s)", ticket.ref, exc.response.get("error"))

    def _safe_post(self, channel: str, text: str, blocks: list[Block] | None = None, *, thread_ts: str | None = None, broadcast: bool = False) -> dict[str, Any] | None:
        try:
            kwargs: dict[str, Any] = {"channel": channel, "text": text, "blocks": blocks, "thread_ts": thread_ts}
            if broadcast and thread_ts:
                kwargs["reply_broadcast"] = True
            return dict(self.services.client.chat_postMessage(**kwargs).data)  # type: ignore[arg-type]
        except SlackApiError as exc:
            log.warning("tickets: could not post in %s (%s)", channel, exc.response.get("error"))
            return None

    # -- lifecycle ----------------------------------------------------------------------
    def act(self, ctx: Ctx, number: int, action: str, *, note: str | None = None) -> Change:
        now = self.services.clock.now()
        outbox = get_outbox(self.services)
        with self.services.db.session() as session:
            change = self.svc.act(session, number, action, ctx.user_id, now, note=note)
            ctx.audit(f"ticket.{change.event}", target=change.ticket.ref, session=session,
                      outcome="ok" if change.changed else "refused", details={"changed": change.changed})
            # written with the change itself: the reporter hears of it if and only if it happened
            for listener in change.listeners if change.changed else ():
                dm = render.follower_message(change.event, change.ticket, ctx.user_id, change.text, listener)
                if dm and listener.user != ctx.user_id:
                    outbox.enqueue(session, f"ticket:{change.ticket.id}:{change.event_id}:{listener.user}", channel=listener.user,
                                   text=dm, origin="tickets")
        outbox.kick()
        if not change.changed:
            ctx.reply(f":information_source: {change.message}")
            return change
        ticket = change.ticket
        thread = render.thread_line(change.event, ctx.user_id, ticket, change.text)
        if ticket.channel and ticket.card_ts:
            self._safe_post(ticket.channel, thread, thread_ts=ticket.card_ts)
        self.refresh_card(ticket.id)
        return change

    def move(self, ctx: Ctx, number: int, *, into: int | None = None) -> None:
        """Split a linked report off its ticket (``into`` None), or merge a ticket into ``into``."""
        now = self.services.clock.now()
        kind = "split" if into is None else "merge"
        outbox = get_outbox(self.services)
        with self.services.db.session() as session:
            moved = self.svc.split(session, number, ctx.user_id, now) if into is None else \
                self.svc.merge(session, number, into, ctx.user_id, now)
            ctx.audit(f"ticket.{kind}", target=moved.ticket.ref, session=session,
                      outcome="ok" if moved.changed else "refused", details={"other": moved.other.ref, "changed": moved.changed})
            for listener in moved.listeners:
                if listener.user != ctx.user_id:
                    outbox.enqueue(session, f"ticket:{moved.ticket.id}:{kind}:{moved.event_id}:{listener.user}", channel=listener.user,
                                   text=render.moved_message(kind, moved.ticket, moved.other),
                                   origin="tickets")
        outbox.kick()
        if not moved.changed:
            ctx.reply(f":information_source: {moved.message}")
            return
        other = moved.other
        if into is None:
            if other.channel and other.card_ts:
                self._safe_post(other.channel, render.split_line(ctx.user_id, moved.ticket), thread_ts=other.card_ts)
            self.post_card(moved.ticket.id)
            if self._wants_diagnostics(moved.ticket):
                self.services.background.submit(self.diagnose, moved.ticket.id)
        else:
            self._merged_into(other, (moved.ticket,), by=ctx.user_id)
        self.refresh_card(other.id)
        ctx.reply(f":white_check_mark: {moved.message}")

    def recovered(self, session: Any, number: int, label: str, down_for: str) -> int:
        """The watch saw the system of outage ``number`` come back: it stops taking reports, and
        everyone who reported it or was told it was down gets one DM (in this transaction)."""
        listeners = self.svc.recovered(session, number, self.services.clock.now())
        if not listeners:
            return 0
        ticket = self.svc.view(session, self.svc.get(session, number))
        outbox = get_outbox(self.services)
        for listener in listeners:
            outbox.enqueue(session, f"ticket:{number}:back:{listener.user}", channel=listener.user,
                           text=render.back_message(label, ticket, listener, down_for=down_for), origin="tickets")
        # what the archive could not answer during the outage, asked again now that it is back
        if self.services.features.dicom is not None and self.svc.settings.locate_on_intake:
            for report in self.svc.unchecked_reports(session, number):
                self.services.background.submit(self.diagnose, report)
        return len(listeners)

    def told(self, number: int, user: str) -> None:
        """``user`` was told "down, the team is on it (``number``)": they hear when it is back and resolved."""
        with self.services.db.session() as session:
            self.svc.follow_told(session, number, user, self.services.clock.now())


def _number_from(ctx: Ctx) -> int:
    """The ticket a button or form is about (its suffix, value or private metadata)."""
    raw = ctx.action_suffix or ctx.action_value or (ctx.view or {}).get("private_metadata") or ""
    return desk(ctx.services).svc.parse_number(str(raw))


def _report_from_values(ctx: Ctx, values: dict[str, Any], meta: dict[str, Any]) -> Report:
    source = meta.get("source") or "modal"
    if source == "message":
        ref = f"message:{meta.get('channel')}:{meta.get('ts')}"
    else:
        ref = f"{source}:{(ctx.view or {}).get('id') or ctx.trigger_id}"
    return Report(
        reporter=ctx.user_id, description=values.get("description") or "", source=source, source_ref=ref,
        category=values.get("category"), urgency=values.get("urgency"), accession=values.get("accession"),
        modality=values.get("modality"), location=values.get("location"), source_channel=meta.get("channel"),
        source_ts=meta.get("ts"), permalink=meta.get("permalink"), original_author=meta.get("author"),
    )


def desk(services: "Services") -> TicketsFeature:
    """This process's tickets feature (``register`` built it)."""
    feature = services.features.tickets
    if not isinstance(feature, TicketsFeature):
        raise RuntimeError("the tickets feature is not registered")
    return feature


def register(services: "Services") -> None:
    svc = TicketService(services.settings.tickets, timezone=services.settings.timezone, detector=services.privacy.detector)
    feature = TicketsFeature(services, svc)
    services.features.tickets = feature
    services.registry.include(TABLE)

    # Each replica files what it spooled itself (its own disk), so the job is its own.
    @services.registry.job(f"ticket-spool:{replica_id()}", every=timedelta(minutes=1))
    def spool_job(services: "Services") -> int:
        return desk(services).file_spooled()


# Everything the tickets feature handles in Slack, declared once (module-level handlers)
TABLE = Registry()


def gated_post(services: "Services", hook: Any, payload: dict, key: str) -> int:
    """Webhooks to other systems pass the privacy gate like a channel post."""
    return post_json(hook, services.privacy.fields(payload), key)


def reply_filed(ctx: Ctx, filed: Filed, *, dm: bool = False) -> None:
    feature = desk(ctx.services)
    svc = feature.svc
    oncall = phone = None
    if filed.created and filed.own.urgency == "stat":
        oncall = ", ".join(f"<@{u}>" for u in feature.oncall_people(filed.own.queue)) or None
        phone = svc.settings.phone_of(filed.own.queue)
    text, blocks = render.filed_reply(filed.ticket, created=filed.created, linked=filed.linked, position=filed.position,
                                      phi_kinds=filed.phi.kinds, own=filed.own, oncall=oncall, phone=phone)
    if dm:
        ctx.dm(ctx.user_id, text, blocks)
    else:
        ctx.reply(text, blocks)


# -- intake -----------------------------------------------------------------------------
@TABLE.subcommand("report", role=Role.CLINICIAN, group="Tickets",
                  summary="Report a PACS problem (a form, or `/pacs report <what happened>` to file at once).",
                  usage="/pacs report [what happened]")
def report_cmd(ctx: Ctx) -> None:
    """With no text, opens the report form. With text, files it at once and guesses the
    category, urgency and accession number from what you wrote."""
    feature = desk(ctx.services)
    if not ctx.args.strip():
        feature.open_form(ctx, meta={"source": "modal"})
        return
    filed = feature.file(ctx, Report(reporter=ctx.user_id, description=unescape(ctx.args), source="command",
                                     source_ref=f"command:{ctx.trigger_id}", source_channel=ctx.channel_id))
    reply_filed(ctx, filed)


@TABLE.shortcut("report_problem", role=Role.CLINICIAN, label="Report a PACS problem")
def report_shortcut(ctx: Ctx) -> None:
    feature = desk(ctx.services)
    feature.open_form(ctx, meta={"source": "modal"})


@TABLE.message_shortcut("ticket_from_message", role=Role.CLINICIAN, label="Create PACS ticket")
def from_message(ctx: Ctx) -> None:
    feature = desk(ctx.services)
    message = ctx.message or {}
    channel = ctx.channel_id or ""
    permalink = None
    try:
        permalink = ctx.client.chat_getPermalink(channel=channel, message_ts=message.get("ts"))["permalink"]
    except SlackApiError:
        pass
    author = message.get("user") or message.get("bot_id") or ""
    text = unescape(message.get("text") or "")
    quoted = f"Reported from a message by <@{author}>:\n{text}" if author and author != ctx.user_id else text
    feature.open_form(ctx, initial={"description": quoted[:3000]},
                      meta={"source": "message", "channel": channel, "ts": message.get("ts"), "author": author, "permalink": permalink})


@TABLE.view(render.REPORT_FORM, role=Role.CLINICIAN, label="Report a PACS problem", inline=True)
def report_form_submitted(ctx: Ctx) -> None:
    services = ctx.services
    svc = desk(ctx.services).svc
    values = ctx.view_values()
    meta = json.loads((ctx.view or {}).get("private_metadata") or "{}")
    errors = {}
    try:
        values["accession"] = validate_accession(values.get("accession"))
    except UserError as exc:
        errors["accession"] = str(exc)
    if not (values.get("description") or "").strip():
        errors["description"] = "Please describe the problem in a few words."
    if errors:
        ctx.ack_errors(errors)
        return
    suggestions = _suggestions(services, values, ctx.role)
    with services.db.session() as session:
        outages = svc.open_incidents(session, values.get("category"), live_at=services.clock.now())
    if suggestions or outages:
        draft_id = drafts.save(services, ctx.user_id, {"values": values, "meta": meta})
        ctx.ack_update(render.confirm_view(draft_id, suggestions, outages))
        return
    ctx.defer(_file_from_form, ctx, values, meta, what="filing your report")


@TABLE.view(render.REPORT_CONFIRM, role=Role.CLINICIAN, label="File the ticket")
def report_confirmed(ctx: Ctx) -> None:
    services = ctx.services
    meta = json.loads((ctx.view or {}).get("private_metadata") or "{}")
    draft = drafts.take(services, str(meta.get("draft") or ""), ctx.user_id)
    if draft is None:
        raise UserError("That form was already sent or has expired, so nothing was filed twice. "
                        "If your problem is not filed yet, please use `/pacs report` again.")
    _file_from_form(ctx, draft.get("values") or {}, draft.get("meta") or {})


def _file_from_form(ctx: Ctx, values: dict[str, Any], meta: dict[str, Any]) -> None:
    feature = desk(ctx.services)
    filed = feature.file(ctx, _report_from_values(ctx, values, meta))
    reply_filed(ctx, filed, dm=True)


@TABLE.event("reaction_added")
def reaction(ctx: Ctx) -> None:
    feature = desk(ctx.services)
    svc = feature.svc
    event = ctx.body.get("event") or {}
    item = event.get("item") or {}
    if event.get("reaction") != svc.settings.reaction or item.get("type") != "message" or not event.get("user"):
        return
    channel, ts = item.get("channel"), item.get("ts")
    message = _fetch_message(ctx, channel, ts)
    ctx.channel_id = channel
    if message is None:
        ctx.reply("I could not read that message to file a ticket from it. Use the message's ⋮ menu → *Create PACS ticket* instead.")
        return
    permalink = None
    try:
        permalink = ctx.client.chat_getPermalink(channel=channel, message_ts=ts)["permalink"]
    except SlackApiError:
        pass
    author = message.get("user") or ""
    filed = feature.file(ctx, Report(reporter=event["user"], description=unescape(message.get("text") or ""), source="reaction",
                                     source_ref=f"message:{channel}:{ts}", source_channel=channel, source_ts=ts,
                                     permalink=permalink, original_author=author))
    ctx.channel_id = channel  # answer privately where the reaction was
    reply_filed(ctx, filed)


@TABLE.event("message")
def thread_reply(ctx: Ctx) -> None:
    services = ctx.services
    svc = desk(ctx.services).svc
    event = ctx.body.get("event") or {}
    if event.get("channel_type") not in ("channel", "group") or not event.get("thread_ts") or event.get("thread_ts") == event.get("ts"):
        return
    if not event.get("user") or event.get("bot_id") or event.get("subtype") not in (None, "thread_broadcast"):
        return  # a reply also sent to the channel is still a reply on the ticket
    with services.db.session() as session:
        svc.add_reply(session, event["channel"], event["thread_ts"], event["user"], unescape(event.get("text") or ""), event["ts"],
                      services.clock.now())


# -- the card's buttons ------------------------------------------------------------------
@TABLE.action("ticket_ack", role=Role.ADMIN, label="Acknowledge")
def ack_button(ctx: Ctx) -> None:
    desk(ctx.services).act(ctx, _number_from(ctx), "acknowledge")


@TABLE.action("ticket_assign", role=Role.ADMIN, label="Assign to me")
def assign_button(ctx: Ctx) -> None:
    desk(ctx.services).act(ctx, _number_from(ctx), "assign")


@TABLE.action("ticket_split", role=Role.ADMIN, label="Not part of this")
def split_button(ctx: Ctx) -> None:
    desk(ctx.services).move(ctx, _number_from(ctx))


@TABLE.action("ticket_merge", role=Role.ADMIN, label="Merge into…")
def merge_button(ctx: Ctx) -> None:
    services = ctx.services
    svc = desk(ctx.services).svc
    number = _number_from(ctx)
    with services.db.session() as session:
        ticket = svc.view(session, svc.get(session, number))
        candidates = svc.merge_candidates(session, number)
    ctx.open_modal(render.merge_form(ticket, candidates))


@TABLE.view(render.MERGE_FORM, role=Role.ADMIN, label="Merge")
def merge_submitted(ctx: Ctx) -> None:
    feature = desk(ctx.services)
    svc = feature.svc
    if not first_submission(ctx):
        return
    into = svc.parse_number(str(ctx.view_values().get("into") or ""))
    feature.move(ctx, _number_from(ctx), into=into)


@TABLE.action("ticket_reopen", role=Role.ADMIN, label="Reopen")
def reopen_button(ctx: Ctx) -> None:
    desk(ctx.services).act(ctx, _number_from(ctx), "reopen")


@TABLE.action("ticket_resolve", role=Role.ADMIN, label="Resolve")
def resolve_button(ctx: Ctx) -> None:
    services = ctx.services
    svc = desk(ctx.services).svc
    number = _number_from(ctx)
    with services.db.session() as session:
        ticket = svc.view(session, svc.get(session, number))
    if ticket.status == "resolved":
        ctx.reply(f":information_source: {ticket.ref} was already resolved by <@{ticket.resolved_by}>; nothing changed.")
        return
    ctx.open_modal(render.resolve_form(ticket))


@TABLE.action("ticket_note", role=Role.ADMIN, label="Add note")
def note_button(ctx: Ctx) -> None:
    services = ctx.services
    svc = desk(ctx.services).svc
    number = _number_from(ctx)
    with services.db.session() as session:
        ticket = svc.view(session, svc.get(session, number))
    ctx.open_modal(render.note_form(ticket))


def first_submission(ctx: Ctx) -> bool:
    """One change per submitted form: a second submission of the same view is dropped."""
    services = ctx.services
    view = ctx.view or {}
    key = f"view:{view.get('id') or ''}:{view.get('hash') or ''}"
    return not view.get("id") or once(services, key)


@TABLE.view(render.RESOLVE_FORM, role=Role.ADMIN, label="Resolve")
def resolve_submitted(ctx: Ctx) -> None:
    feature = desk(ctx.services)
    if not first_submission(ctx):
        return
    values = ctx.view_values()
    feature.act(ctx, _number_from(ctx), "resolve", note=values.get("resolution"))


@TABLE.view(render.NOTE_FORM, role=Role.ADMIN, label="Add note")
def note_submitted(ctx: Ctx) -> None:
    feature = desk(ctx.services)
    if not first_submission(ctx):
        return  # the note is saved already (a double submit, or Slack's retry)
    values = ctx.view_values()
    kind = "note_public" if values.get("visibility") == "public" else "note"
    feature.act(ctx, _number_from(ctx), kind, note=values.get("note"))


# -- reading -----------------------------------------------------------------------------
@TABLE.subcommand("ticket", role=Role.CLINICIAN, group="Tickets", summary="Show one ticket and its history.",
                  usage="/pacs ticket <number>")
def ticket_cmd(ctx: Ctx) -> None:
    services = ctx.services
    svc = desk(ctx.services).svc
    if not ctx.args.strip():
        raise UserError("Which ticket? For example `/pacs ticket 123`.")
    with services.db.session() as session:
        ticket = svc.view(session, svc.find(session, ctx.args.split()[0]))
        number = ticket.id
        is_admin = ctx.role >= Role.ADMIN
        involved = ctx.user_id == ticket.reporter or ctx.user_id in svc.followers(session, ticket.parent_id or ticket.id)
        if not (is_admin or involved):
            raise NotFound(f"There is no ticket {ticket.ref} that you reported or follow.")
        history = svc.history(session, number, include_private=is_admin)
        ctx.audit("ticket.view", target=ticket.ref, session=session)
    text, blocks = render.detail(ticket, history, full=is_admin or ctx.user_id == ticket.reporter)
    ctx.reply(text, blocks)


@TABLE.subcommand("tickets", role=Role.CLINICIAN, group="Tickets",
                  summary="List tickets: yours, or (admins) open, unassigned or stale ones.",
                  usage="/pacs tickets [mine|open|unassigned|stale]",
                  variants=((Role.CLINICIAN, "/pacs tickets", "Your tickets and the ones you follow."),
                            (Role.ADMIN, "/pacs tickets [mine|open|unassigned|stale]", "List tickets: yours, open, unassigned or stale.")))
def tickets_cmd(ctx: Ctx) -> None:
    services = ctx.services
    svc = desk(ctx.services).svc
    which = (ctx.args.split() or ["mine"])[0].lower()
    if which not in LISTS:
        raise UserError(f"“{which}” is not a list; use mine, open, unassigned or stale.")
    if which != "mine" and ctx.role < Role.ADMIN:
        raise NotYours("Only the PACS team can list all tickets; `/pacs tickets mine` shows yours.")
    with services.db.session() as session:
        rows = svc.listing(session, which, ctx.user_id, services.clock.now())
        ctx.audit("ticket.list", target=which, details={"rows": len(rows)}, session=session)
    titles = {"mine": "Your tickets", "open": "Open tickets", "unassigned": "Unassigned tickets", "stale": "Stale tickets"}
    text, blocks = render.listing(titles[which], rows, empty=f"No {titles[which].lower()}.")
    ctx.reply(text, blocks)


@TABLE.subcommand("triage", role=Role.ADMIN, group="Tickets", summary="What still needs an owner, most urgent first.",
                  audit="ticket.triage")
def triage_cmd(ctx: Ctx) -> None:
    services = ctx.services
    svc = desk(ctx.services).svc
    with services.db.session() as session:
        rows = svc.triage(session, services.clock.now())
    text, blocks = render.listing("Needs an owner", rows, empty=":tada: Every open ticket has an owner.")
    ctx.reply(text, blocks)


# -- App Home ----------------------------------------------------------------------------
@TABLE.home(order=20)
def home_tickets(services: "Services", user_id: str, role: Role) -> list[Block]:
    svc = desk(services).svc
    now = services.clock.now()
    with services.db.session() as session:
        mine = [t for t in svc.listing(session, "mine", user_id, now, limit=10)]
        blocks: list[Block] = []
        _, listed = render.listing("Your tickets", mine, empty="You have no tickets. `/pacs report` files one.")
        blocks.extend(listed)
        if role >= Role.ADMIN:
            counts = svc.counts(session)
            triage = svc.triage(session, now, limit=5)
            blocks.append(section(f"*Queues* — new: {counts.get('new', 0)} · acknowledged: {counts.get('acknowledged', 0)} · "
                                  f"resolved: {counts.get('resolved', 0)}"))
            _, listed = render.listing("Needs an owner", triage, empty="Every open ticket has an owner.")
            blocks.extend(listed)
    return blocks


# -- jobs --------------------------------------------------------------------------------
@TABLE.job("ticket-sla", every=timedelta(minutes=1))
def sla_job(services: "Services") -> int:
    svc = desk(services).svc
    # Through the outbox: retried when Slack fails, sent once across replicas, and the
    # on-call group is looked up (a Slack call) with no transaction open.
    # Which step is due, whether it pages or goes to the channel: tickets/reminders.py.
    now = services.clock.now()
    with services.db.session() as session:
        due = svc.due_reminders(session, now)
    messages = []
    for ticket, step in due:
        oncall = svc.settings.oncall_of(ticket.queue) if step.oncall else None
        mention = services.access.directory.mention(oncall) if (oncall and services.access.directory) else None
        text = render.reminder_text(ticket, step, now, oncall_mention=mention)
        if ticket.channel:
            # In the card's thread; only the first reminder of a ticket also shows in the channel.
            extra = {"thread_ts": ticket.card_ts, "reply_broadcast": step.broadcast} if ticket.card_ts else {}
            key = f"ticket:{ticket.id}:sla:{step.phase}:{step.reopen}:{step.index}"
            messages.append((key, {"channel": ticket.channel, "text": text, **extra}))
    outbox = get_outbox(services)
    with services.db.session() as session:
        outbox.enqueue_many(session, messages, origin="tickets")
        for ticket, step in due:
            services.audit.record("pacsbot", "ticket.sla_reminder", target=ticket.ref,
                                  details={"kind": step.phase, "step": step.index, "reopen": step.reopen,
                                           "oncall": step.oncall, "broadcast": step.broadcast}, session=session)
    outbox.kick()
    return len(due)


@TABLE.job("ticket-digest", every=timedelta(minutes=5))
def digest_job(services: "Services") -> int:
    """Once per working day per queue channel, at the start of working hours (or as soon as
    pacsbot runs that day): overdue tickets no longer reminded one by one, and stale ones.
    Nothing is posted when there are none."""
    svc = desk(services).svc
    now = services.clock.now()
    day = svc.reminder_policy.digest_day(now)
    if day is None:
        return 0
    with services.db.session() as session:
        lists = svc.digest(session, now)
    channels = sorted({q.channel for q in svc.settings.queues} | {c for c in (svc.settings.default_queue,) if c} | set(lists))
    outbox = get_outbox(services)
    posted = 0
    for channel in channels:
        slot = f"{channel}:{day.isoformat()}"
        if not claim_once(services, "ticket-digest", slot, lease=timedelta(minutes=30)):
            continue  # done today, or another replica is on it
        entries = lists.get(channel, [])
        if entries:
            text, blocks = render.digest(entries)
            with services.db.session() as session:
                outbox.enqueue(session, f"ticket-digest:{slot}", channel=channel, text=text, blocks=blocks, origin="tickets")
                services.audit.record("pacsbot", "ticket.digest", target=channel,
                                      details={"day": day.isoformat(), "tickets": [t.ref for t, _ in entries][:100],
                                               "reasons": [e.reason for _, e in entries][:100]}, session=session)
            posted += 1
        claim_done(services, "ticket-digest", slot)
    if posted:
        outbox.kick()
    return posted


@TABLE.job("ticket-cards", every=timedelta(minutes=1))
def card_job(services: "Services") -> int:
    """Post the queue cards Slack refused (a rate-limit storm outlasting the client's retries):
    a ticket the team cannot see in its channel is as good as lost."""
    feature = desk(services)
    svc = feature.svc
    with services.db.session() as session:
        missing = svc.without_card(session, services.clock.now())
    posted = 0
    for ticket in missing:
        assert ticket.channel is not None  # without_card picks tickets that have a channel
        text, blocks = render.card(ticket, svc.settings)
        response = feature._safe_post(ticket.channel, text, blocks)
        if response:
            with services.db.session() as session:
                svc.set_card(session, ticket.id, response["channel"], response["ts"])
            posted += 1
    return posted


@TABLE.job("ticket-webhooks", every=timedelta(minutes=1))
def webhook_job(services: "Services") -> int:
    svc = desk(services).svc
    report = deliver_due(services.db.session, svc.settings, services.clock.now(), post=partial(gated_post, services))
    return report.delivered


def _fetch_message(ctx: Ctx, channel: str | None, ts: str | None) -> dict[str, Any] | None:
    if not channel or not ts:
        return None
    try:
        response = ctx.client.conversations_replies(channel=channel, ts=ts, limit=1, inclusive=True)
    except SlackApiError as exc:
        log.info("tickets: cannot read message for a reaction (%s)", exc.response.get("error"))
        return None
    return next((m for m in response.get("messages", []) if m.get("ts") == ts), None)


def _suggestions(services: "Services", values: dict[str, Any], role: Role) -> list[tuple[str, str | None, str]]:
    """Manual sections that may solve the report: ``(title, link or None, short excerpt)``."""
    if services.features.knowledge is None:
        return []

    text = values.get("description") or ""
    try:
        answer = ask(services, text, role)
    except Exception:  # noqa: BLE001 - suggestions are a help, never a reason to fail filing
        log.exception("tickets: manual suggestions failed")
        return []
    if not answer.answered or answer.section is None:
        return []
    base_url = services.settings.knowledge.base_url
    out = []
    for s in (answer.section, *answer.see_also[:1]):
        excerpt = to_mrkdwn(trim(s.markdown, 350)[0])
        out.append((s.breadcrumb.replace(" > ", " › "), section_url(base_url, s), excerpt))
    return out
