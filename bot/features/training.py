"""Training in Slack: ``/pacs train ...``, the learner's pages and quiz, App Home, reminders.

Trainers (and admins) assign modules to people, user groups and channels; each learner gets a
DM with a Start button, reads the module page by page in a modal, takes the quiz in a modal
(a ``view_submission``), and sees the score with explanations. Every DM goes through the
outbox (``bot.outbox``) in the same transaction as the assignment it announces, so assigning
to 2,000 people acks at once, records each assignment once, and the DMs follow at Slack's pace.

The feature package ``training`` holds the rules and the records; this module only adapts it.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from difflib import get_close_matches
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError

from pacsbot.bot.access import Role
from pacsbot.bot.context import Ctx
from pacsbot.bot.features.home import home_view
from pacsbot.bot.listeners.policy import allowed
from pacsbot.bot.outbox import get_outbox
from pacsbot.bot.registry import Registry
from pacsbot.bot.render import training as render
from pacsbot.bot.render.blocks import USER_MENTION_RE, Block, context, escape
from pacsbot.core.config import CHANNEL_ID_RE, GROUP_ID_RE, USER_ID_RE
from pacsbot.core.errors import UserError
from pacsbot.training import records
from pacsbot.training.content import Module
from pacsbot.training.models import ASSIGNED, COMPLETED, FAILED, OPEN, RENEWAL, RETRAIN, SYSTEM_ACTOR
from pacsbot.training.service import TrainingService

if TYPE_CHECKING:
    from pacsbot.bot.services import Services

log = logging.getLogger(__name__)

ORIGIN = "training"
MAX_PEOPLE = 5000          # per command; more is almost certainly a mistake (a whole workspace)
MAX_TARGETS = 50
NAMES_PER_RUN = 100

_GROUP = re.compile(r"^<!subteam\^([A-Z0-9]+)(?:\|@?([^>]*))?>$")
_CHANNEL = re.compile(r"^<#([CG][A-Z0-9]+)(?:\|([^>]*))?>$")
_HANDLE = re.compile(r"^@([a-z0-9][a-z0-9._-]{0,79})$", re.IGNORECASE)


@dataclass(frozen=True)
class Verb:
    name: str
    role: Role
    usage: str
    summary: str


VERBS = {v.name: v for v in (
    Verb("me", Role.CLINICIAN, "/pacs train me", "your training: what is assigned, due and done"),
    Verb("modules", Role.TRAINER, "/pacs train modules", "list the training modules"),
    Verb("assign", Role.TRAINER, "/pacs train assign <module> <@person|@group|#channel>... [due YYYY-MM-DD]",
         "assign a module; each person gets a DM"),
    Verb("unassign", Role.TRAINER, "/pacs train unassign <module> <@person|@group|#channel>...", "withdraw open assignments"),
    Verb("status", Role.TRAINER, "/pacs train status [module|@person]", "who has done it, who is overdue"),
    Verb("remind", Role.TRAINER, "/pacs train remind <module> [@person|@group|#channel...]",
         "nudge everyone who hasn't finished (once a day)"),
    Verb("retrain", Role.TRAINER, "/pacs train retrain <module> [@person|@group|#channel...] [due YYYY-MM-DD]",
         "ask people who completed an older version to take the current one"),
    Verb("report", Role.TRAINER, "/pacs train report [module] [--csv]", "completion numbers; --csv sends the records to your DM"),
)}


@dataclass(frozen=True)
class Target:
    kind: str      # user | group | handle | channel
    id: str
    label: str


@dataclass
class TrainingFeature:
    service: TrainingService
    bot_user: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def feature(services: "Services") -> TrainingFeature:
    training = services.features.training
    if training is None:
        raise RuntimeError("the training feature is not registered")
    return training


# --------------------------------------------------------------------------------------
# parsing (pure: runs before the ack)

def parse_targets(words: list[str]) -> tuple[list[Target], list[str]]:
    """Mentions -> targets; returns (targets, words that are not targets)."""
    targets: list[Target] = []
    rest: list[str] = []
    for raw in words:
        word = raw.strip().rstrip(",;")
        if not word:
            continue
        if m := USER_MENTION_RE.match(word):
            targets.append(Target("user", m.group(1), f"<@{m.group(1)}>"))
        elif m := _GROUP.match(word):
            targets.append(Target("group", m.group(1), "@" + (m.group(2) or m.group(1)).lstrip("@")))
        elif m := _CHANNEL.match(word):
            targets.append(Target("channel", m.group(1), f"<#{m.group(1)}>"))
        elif USER_ID_RE.match(word):
            targets.append(Target("user", word, f"<@{word}>"))
        elif GROUP_ID_RE.match(word):
            targets.append(Target("group", word, word))
        elif CHANNEL_ID_RE.match(word):
            targets.append(Target("channel", word, f"<#{word}>"))
        elif m := _HANDLE.match(word):
            targets.append(Target("handle", m.group(1).lower(), f"@{m.group(1).lower()}"))
        elif word.startswith("#") and len(word) > 1:
            raise UserError(f"I can't look up the channel “{escape(word)}” by name. Pick it from Slack's list as you type "
                            "(it turns into a link), or use a user group.")
        else:
            rest.append(word)
    if len(targets) > MAX_TARGETS:
        raise UserError(f"That is {len(targets)} people, groups and channels in one command; give at most {MAX_TARGETS} "
                        "(a user group is the easy way to assign to many people).")
    return targets, rest


def _split_due(words: list[str]) -> tuple[list[str], str | None]:
    out, due = [], None
    i = 0
    while i < len(words):
        word = words[i].lower()
        if word in ("due", "by", "--due"):
            if i + 1 >= len(words):
                raise UserError("Give the due date after `due`, like `due 2027-01-15`.")
            due = words[i + 1]
            i += 2
            continue
        if word.startswith("due="):
            due = words[i][4:]
            i += 1
            continue
        out.append(words[i])
        i += 1
    return out, due


# --------------------------------------------------------------------------------------
# resolving people (after the ack: these call Slack)

def _bot_user(ctx: Ctx) -> str | None:
    f = feature(ctx.services)
    if f.bot_user is None:
        try:
            f.bot_user = str(ctx.client.auth_test().get("user_id") or "")
        except SlackApiError:
            f.bot_user = ""
    return f.bot_user or None


def resolve_targets(ctx: Ctx, targets: list[Target]) -> tuple[list[str], list[str]]:
    """The people behind the mentions, read from Slack now; (user ids, descriptions of sources)."""
    users: list[str] = []
    sources: list[str] = []
    problems: list[str] = []
    handles: dict[str, str] | None = None
    skip = {"USLACKBOT", _bot_user(ctx) or ""}
    for t in targets:
        try:
            if t.kind == "user":
                users.append(t.id)
                continue
            if t.kind in ("group", "handle"):
                group_id = t.id
                if t.kind == "handle":
                    if handles is None:
                        response = ctx.client.usergroups_list(include_disabled=False)
                        handles = {str(g.get("handle", "")).lower(): g["id"] for g in response.get("usergroups", [])}
                    if t.id not in handles:
                        problems.append(f"I can't find a user group {t.label}. If it's a person, pick them from Slack's list "
                                        "as you type so the name turns into a mention.")
                        continue
                    group_id = handles[t.id]
                response = ctx.client.usergroups_users_list(usergroup=group_id, include_disabled=False)
                members = [u for u in response.get("users", []) if u not in skip]
                users.extend(members)
                sources.append(f"{t.label}: {len(members)}")
                continue
            members = []
            cursor = None
            while True:
                kwargs: dict[str, Any] = {"channel": t.id, "limit": 1000}
                if cursor:
                    kwargs["cursor"] = cursor
                response = ctx.client.conversations_members(**kwargs)
                members.extend(u for u in response.get("members", []) if u not in skip)
                cursor = (response.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    break
            users.extend(members)
            sources.append(f"{t.label}: {len(members)}")
        except SlackApiError as exc:
            error = exc.response.get("error")
            if error in ("no_such_subteam", "subteam_not_found"):
                problems.append(f"The user group {t.label} does not exist (any more).")
            elif error in ("channel_not_found", "not_in_channel", "method_not_supported_for_channel_type"):
                problems.append(f"I can't see who is in {t.label}. If it's private, add @pacsbot to it — or use a user group.")
            elif error == "missing_scope":
                problems.append(f"pacsbot's Slack app is not allowed to read {t.label}. Ask an admin to reinstall it from manifest.yml.")
            else:
                raise
    if problems:
        raise UserError("Nothing was assigned. " + " ".join(problems))
    people = list(dict.fromkeys(users))
    if len(people) > MAX_PEOPLE:
        raise UserError(f"That is {len(people):,} people; assign to at most {MAX_PEOPLE:,} at a time (split it into user groups).")
    return people, sources


# --------------------------------------------------------------------------------------
# registration

def register(services: "Services") -> None:
    settings = services.settings
    service = TrainingService(
        settings.training,
        timezone=settings.timezone,
        manual_dirs=settings.knowledge.manual_dirs(),
        base_url=settings.knowledge.base_url,
        clock=services.clock,
    )
    services.features.training = TrainingFeature(service)
    service.catalog()  # read the modules now: handlers that run before the ack only look at memory
    services.registry.include(TABLE)


# What the training feature handles in Slack, declared once (module-level handlers; register() adds them)
TABLE = Registry()


@TABLE.subcommand(
    "train",
    role=Role.CLINICIAN,
    summary="Your training (`me`); trainers assign and track modules.",
    usage="/pacs train me|modules|assign|unassign|status|remind|retrain|report",
    group="Training",
    variants=((Role.CLINICIAN, "/pacs train me", "Your training: what is assigned to you, when it is due, what you have done."),
              (Role.TRAINER, "/pacs train me|modules|assign|unassign|status|remind|retrain|report",
               "Your training (`me`); assign and track modules.")),
    inline=True,
    aliases=("training",),
    details="\n".join(f"{v.usage} — {v.summary}" + (" (trainers)" if v.role > Role.CLINICIAN else "") for v in VERBS.values()),
)
def train(ctx: Ctx) -> None:
    _train_command(ctx)


# learner buttons ------------------------------------------------------------------
@TABLE.action("train_start", role=Role.CLINICIAN, label="Start training")
def start(ctx: Ctx) -> None:
    _start(ctx)


@TABLE.action("train_page", role=Role.CLINICIAN, label="Next page")
def page(ctx: Ctx) -> None:
    _page(ctx)


@TABLE.action("train_quiz_open", role=Role.CLINICIAN, label="Take the quiz")
def quiz_open(ctx: Ctx) -> None:
    _quiz_open(ctx)


@TABLE.view(render.QUIZ_CALLBACK, role=Role.CLINICIAN, label="Submit the quiz", inline=True)
def quiz_submitted(ctx: Ctx) -> None:
    _quiz_submitted(ctx)


# trainer buttons ------------------------------------------------------------------
@TABLE.action("train_remind_open", role=Role.TRAINER, label="Remind everyone not done")
def remind_open(ctx: Ctx) -> None:
    module = feature(ctx.services).service.module(ctx.action_suffix or "")
    _remind(ctx, module.id, [])


@TABLE.action("train_report_csv", role=Role.TRAINER, label="Download CSV")
def report_csv(ctx: Ctx) -> None:
    module_id = ctx.action_suffix or "all"
    _report(ctx, None if module_id == "all" else module_id, csv=True)


@TABLE.action("train_reassign", role=Role.TRAINER, label="Give another go")
def reassign(ctx: Ctx) -> None:
    _reassign(ctx)


# App Home ------------------------------------------------------------------------
@TABLE.home(order=20)
def training_home(services: "Services", user_id: str, role: Role) -> list[Block]:
    svc = feature(services).service
    with services.db.session() as s:
        items = records.learner_items(s, user_id)
    blocks: list[Block] = []
    if items:
        blocks = render.learner_blocks(items, svc.catalog().modules, today=svc.today(), tz=svc.tz, limit=8)
    if role >= Role.TRAINER:
        blocks.append(context("*Trainer:* `/pacs train modules` · `/pacs train assign` · `/pacs train status` · `/pacs train report --csv`"))
    return blocks


# jobs ----------------------------------------------------------------------------
@TABLE.job("training-reminders", every=timedelta(minutes=15))
def reminders_job(services: "Services") -> int:
    return send_due_reminders(services)


@TABLE.job("training-renewals", every=timedelta(hours=1))
def renewals_job(services: "Services") -> int:
    return assign_renewals(services)


@TABLE.job("training-names", every=timedelta(minutes=10))
def names_job(services: "Services") -> int:
    desk = services.features.tickets
    with services.db.session() as s:
        missing = records.missing_names(s, limit=NAMES_PER_RUN, stale_before=services.clock.now() - timedelta(days=30))
        # and the people tickets name, for the names in the ticket export
        in_tickets = desk.svc.people(s, since=services.clock.now() - timedelta(days=400)) if desk is not None else []
        known = records.names(s, in_tickets)
    missing += [u for u in in_tickets if u not in known and u not in missing][:max(0, NAMES_PER_RUN - len(missing))]
    return fill_names(services, missing)


# --------------------------------------------------------------------------------------
# /pacs train

def _train_command(ctx: Ctx) -> None:
    words = ctx.args.split()
    verb_word = words[0].lower() if words else ""
    args = words[1:]
    if verb_word in ("", "help", "?"):
        usable = [(v.usage, v.summary) for v in VERBS.values() if ctx.role >= v.role]
        text, blocks = render.usage_text(usable)
        ctx.reply(text, blocks)
        return
    verb = VERBS.get(verb_word)
    if verb is None:
        allowed_names = [v.name for v in VERBS.values() if ctx.role >= v.role]
        guess = get_close_matches(verb_word, allowed_names, n=1, cutoff=0.6)
        hint = f" Did you mean `/pacs train {guess[0]}`?" if guess else ""
        raise UserError(f"I don't know `/pacs train {escape(verb_word)}`.{hint} Type `/pacs train` to see what you can do.")
    if not allowed(ctx, verb.role, f"`/pacs train {verb.name}`", target=f"command:train {verb.name}"):
        return
    svc = feature(ctx.services).service
    catalog = svc.cache.peek()

    def module_arg(rest: list[str], required: bool = True) -> Module | None:
        if not rest:
            if required:
                raise UserError(f"Which module? Usage: `{verb.usage}`. Type `/pacs train modules` to see them.")
            return None
        return svc.module(rest[0], catalog)

    if verb.name == "me":
        _defer(ctx, _me, what="your training list")
    elif verb.name == "modules":
        _defer(ctx, _modules, what="the module list")
    elif verb.name in ("assign", "retrain", "unassign", "remind"):
        rest, due_text = _split_due(args)
        targets, other = parse_targets(rest)
        module = module_arg(other)
        assert module is not None
        if len(other) > 1:
            raise UserError(f"I don't understand “{escape(' '.join(other[1:]))}”. Usage: `{verb.usage}`")
        if due_text and verb.name not in ("assign", "retrain"):
            raise UserError(f"`/pacs train {verb.name}` takes no due date.")
        due = svc.parse_due(due_text) if due_text else svc.default_due()
        if verb.name == "assign":
            if not targets:
                raise UserError(f"Who should take it? Usage: `{verb.usage}`")
            ctx.reply(f"Assigning *{escape(module.title)}* to {', '.join(t.label for t in targets)}… I'll confirm here in a moment.")
            _defer(ctx, _assign, module.id, targets, due, ASSIGNED, what="assigning training")
        elif verb.name == "retrain":
            ctx.reply(f"Finding who needs the current version of *{escape(module.title)}*…")
            _defer(ctx, _assign, module.id, targets, due, RETRAIN, what="assigning re-training")
        elif verb.name == "unassign":
            if not targets:
                raise UserError(f"Whose assignment should be withdrawn? Usage: `{verb.usage}`")
            _defer(ctx, _unassign, module.id, targets, what="withdrawing training")
        else:
            _defer(ctx, _remind, module.id, targets, what="sending reminders")
    elif verb.name == "status":
        targets, other = parse_targets(args)
        if targets and any(t.kind != "user" for t in targets):
            raise UserError("`/pacs train status` takes one module or one person.")
        if targets:
            _defer(ctx, _status_user, targets[0].id, what="the training status")
        else:
            module = module_arg(other, required=False)
            if module is None:
                _defer(ctx, _report, None, False, what="the training status")
            else:
                _defer(ctx, _status_module, module.id, what="the training status")
    elif verb.name == "report":
        csv = any(a.lower() in ("--csv", "csv") for a in args)
        other = [a for a in args if a.lower() not in ("--csv", "csv")]
        module = module_arg(other, required=False)
        _defer(ctx, _report, module.id if module else None, csv, what="the training report")


def _defer(ctx: Ctx, fn: Any, *args: Any, what: str) -> None:
    def run() -> None:
        ctx.inline = False  # from here on, replies go to the response_url
        fn(ctx, *args)

    ctx.defer(run, what=what)


# --------------------------------------------------------------------------------------
# trainer work (after the ack)

def _invitation_messages(svc: TrainingService, module: Module, created: list[records.AssignmentInfo],
                         why: dict[str, str | None] | None = None) -> list[tuple[str, dict[str, Any]]]:
    today = svc.today()
    out = []
    for a in created:
        text, blocks = render.invitation(module, a, today=today, why=(why or {}).get(a.user_id))
        out.append((f"training:invite:{a.id}", {"channel": a.user_id, "text": text, "blocks": blocks}))
    return out


def _assign(ctx: Ctx, module_id: str, targets: list[Target], due: date | None, reason: str) -> None:
    svc = feature(ctx.services).service
    module = svc.module(module_id)
    sources: list[str] = []
    if targets:
        users, sources = resolve_targets(ctx, targets)
        if not users:
            raise UserError("Nothing was assigned: " + ", ".join(t.label for t in targets) + " has no members I can assign to.")
    else:
        users = []
    outbox = get_outbox(ctx.services)
    with ctx.services.db.session() as s:
        version = svc.version(s, module)
        if reason == RETRAIN and not targets:
            users = records.retrain_targets(s, module)
            sources = ["everyone who last completed an older version"]
            if not users:
                ctx.reply(f"Nobody needs re-training: everyone who completed *{escape(module.title)}* did version {escape(version.version)}.")
                return
        why = None
        if reason == RETRAIN:
            older = set(records.retrain_targets(s, module))
            outcome = records.assign(s, module, version, [u for u in users if u in older], by=ctx.user_id, now=svc.now(),
                                     due=due, reason=RETRAIN)
            line = render.reason_line(RETRAIN, version=version.version)
            why = {a.user_id: line for a in outcome.created}
            never = records.assign(s, module, version, [u for u in users if u not in older], by=ctx.user_id, now=svc.now(),
                                   due=due, reason=ASSIGNED, batch=outcome.batch)
            outcome.created += never.created
            outcome.already_open += never.already_open
            outcome.already_done += never.already_done
        else:
            outcome = records.assign(s, module, version, users, by=ctx.user_id, now=svc.now(), due=due, reason=reason)
        outbox.enqueue_many(s, _invitation_messages(svc, module, outcome.created, why), origin=ORIGIN)
        ctx.audit(f"training.{'retrain' if reason == RETRAIN else 'assign'}", target=f"module:{module.id}", session=s, details={
            "version": version.version, "batch": outcome.batch, "due": due.isoformat() if due else None,
            "targets": [t.id for t in targets][:20], "people": len(users), "created": len(outcome.created),
            "already_open": len(outcome.already_open), "already_done": len(outcome.already_done),
        })
    if outcome.created:
        outbox.kick()
    text, blocks = render.assign_result(module, outcome, sources, due=due, verb="Re-training: assigned" if reason == RETRAIN else "Assigned")
    ctx.reply(text, blocks)


def _unassign(ctx: Ctx, module_id: str, targets: list[Target]) -> None:
    svc = feature(ctx.services).service
    module = svc.module(module_id)
    users, _ = resolve_targets(ctx, targets)
    outbox = get_outbox(ctx.services)
    with ctx.services.db.session() as s:
        cancelled, none_open = records.unassign(s, module.id, users, by=ctx.user_id, now=svc.now())
        messages = []
        for a in cancelled:
            text, blocks = render.withdrawn(module.title, ctx.user_id)
            messages.append((f"training:withdrawn:{a.id}", {"channel": a.user_id, "text": text, "blocks": blocks}))
        outbox.enqueue_many(s, messages, origin=ORIGIN)
        ctx.audit("training.unassign", target=f"module:{module.id}", session=s,
                  details={"cancelled": len(cancelled), "had_none_open": len(none_open), "assignments": [a.id for a in cancelled][:50]})
    if cancelled:
        outbox.kick()
        text = f"Withdrew *{escape(module.title)}* from {len(cancelled)} {'person' if len(cancelled) == 1 else 'people'}; they have been told."
    else:
        text = f"Nothing changed: nobody you named has *{escape(module.title)}* open."
    if cancelled and none_open:
        text += f" {len(none_open)} had nothing open."
    ctx.reply(text)


def _remind(ctx: Ctx, module_id: str, targets: list[Target]) -> None:
    svc = feature(ctx.services).service
    module = svc.module(module_id)
    wanted = resolve_targets(ctx, targets)[0] if targets else None
    outbox = get_outbox(ctx.services)
    today = svc.today()
    with ctx.services.db.session() as s:
        sent, skipped = records.manual_reminders(s, module.id, wanted, now=svc.now(), tz=svc.tz, by=ctx.user_id)
        messages = []
        for r in sent:
            text, blocks = render.reminder(module, r.assignment, r.step, today=today)
            messages.append((f"training:remind:{r.assignment.id}:{r.step}", {"channel": r.assignment.user_id, "text": text, "blocks": blocks}))
        outbox.enqueue_many(s, messages, origin=ORIGIN)
        ctx.audit("training.remind", target=f"module:{module.id}", session=s, details={"sent": len(sent), "already_today": skipped})
    if sent:
        outbox.kick()
    if not sent and not skipped:
        ctx.reply(f"Nobody{' you named' if targets else ''} has *{escape(module.title)}* open, so there is nobody to remind.")
        return
    text = f"Reminded {len(sent)} {'person' if len(sent) == 1 else 'people'} who haven't finished *{escape(module.title)}*."
    if skipped:
        text += f" {skipped} had already been reminded today and were left alone."
    ctx.reply(text)


def _reassign(ctx: Ctx) -> None:
    svc = feature(ctx.services).service
    try:
        aid = int(ctx.action_suffix or "")
    except ValueError:
        raise UserError("That button is out of date.") from None
    with ctx.services.db.session() as s:
        old = records.get_assignment(s, aid)
        user, module_id = old.user_id, old.module_id
    _assign(ctx, module_id, [Target("user", user, f"<@{user}>")], svc.default_due(), ASSIGNED)


def _modules(ctx: Ctx) -> None:
    svc = feature(ctx.services).service
    catalog = svc.catalog()
    with ctx.services.db.session() as s:
        versions = {m.id: svc.version(s, m).version for m in catalog.modules.values()}
        ctx.audit("training.modules", details={"modules": len(catalog.modules), "skipped": len(catalog.skipped)}, session=s)
    text, blocks = render.modules_blocks(catalog, versions)
    ctx.reply(text, blocks)


def _status_module(ctx: Ctx, module_id: str) -> None:
    svc = feature(ctx.services).service
    module = svc.module(module_id)
    with ctx.services.db.session() as s:
        version = svc.version(s, module)
        st = records.module_status(s, module.id, today=svc.today(), current_hash=module.content_hash)
        ctx.audit("training.status", target=f"module:{module.id}", session=s, details={"assigned": st.assigned})
    text, blocks = render.status_blocks(module, st, version.version)
    ctx.reply(text, blocks)


def _status_user(ctx: Ctx, user_id: str) -> None:
    svc = feature(ctx.services).service
    with ctx.services.db.session() as s:
        items = records.learner_items(s, user_id, include_closed=20)
        ctx.audit("training.status", target=f"user:{user_id}", session=s, details={"assignments": len(items)})
    blocks = render.learner_blocks(items, svc.catalog().modules, today=svc.today(), tz=svc.tz, heading=f"Training of <@{user_id}>", limit=25)
    # a trainer looking at someone else's list gets no Start buttons to press
    for block in blocks:
        block.pop("accessory", None)
    ctx.reply(f"Training of <@{user_id}>", blocks)


def _me(ctx: Ctx) -> None:
    svc = feature(ctx.services).service
    with ctx.services.db.session() as s:
        items = records.learner_items(s, ctx.user_id)
    blocks = render.learner_blocks(items, svc.catalog().modules, today=svc.today(), tz=svc.tz)
    ctx.reply("Your training", blocks)


def _report(ctx: Ctx, module_id: str | None, csv: bool) -> None:
    svc = feature(ctx.services).service
    catalog = svc.catalog()
    module = svc.module(module_id, catalog) if module_id else None
    if csv:
        _upload_csv(ctx, module.id if module else None)
        return
    today = svc.today()
    rows: list[tuple[Module | None, str, records.ModuleStatus]] = []
    with ctx.services.db.session() as s:
        ids = [module.id] if module is not None else records.assigned_module_ids(s)
        for mid in ids:
            m = catalog.get(mid)
            version = svc.version(s, m).version if m else "?"
            rows.append((m, version, records.module_status(s, mid, today=today, current_hash=m.content_hash if m else None)))
        ctx.audit("training.report", target=f"module:{module_id or 'all'}", session=s, details={"csv": False, "modules": len(rows)})
    text, blocks = render.report_blocks(rows, module_id=module_id)
    ctx.reply(text, blocks)


def _upload_csv(ctx: Ctx, module_id: str | None) -> None:
    svc = feature(ctx.services).service
    with ctx.services.db.session() as s:
        people = records.assignees(s, module_id)
        known = records.names(s, people)
    fill_names(ctx.services, [u for u in people if u not in known][:500])
    with ctx.services.db.session() as s:
        rows = records.report_rows(s, module_id=module_id)
        content = records.to_csv(rows)
        ctx.audit("training.report", target=f"module:{module_id or 'all'}", session=s, details={"csv": True, "rows": len(rows)})
    now = svc.now()
    filename = f"training-{module_id or 'all'}-{now.astimezone(svc.tz):%Y%m%d-%H%M}.csv"
    dm = ctx.client.conversations_open(users=ctx.user_id)["channel"]["id"]
    ctx.client.files_upload_v2(
        channel=dm, filename=filename, content=content, title=f"Training records ({module_id or 'all modules'})",
        initial_comment=f"Training records: {len(rows)} assignment{'s' if len(rows) != 1 else ''}"
                        f"{' of `' + module_id + '`' if module_id else ''}, one row each, as of {render.fmt_when(now, svc.tz)}. "
                        "Times in the file are UTC.",
    )
    ctx.reply(f"I've sent the CSV ({len(rows)} rows) to our DM.")


def fill_names(services: "Services", user_ids: list[str]) -> int:
    """Look up display names of people in training records (users.info), for reports."""
    found: dict[str, str] = {}
    for user in user_ids:
        try:
            info = services.client.users_info(user=user).get("user") or {}
        except SlackApiError as exc:
            if exc.response.get("error") in ("user_not_found", "account_inactive"):
                found[user] = ""
                continue
            log.info("training: could not read a user's name (%s)", exc.response.get("error"))
            break
        profile = info.get("profile") or {}
        found[user] = profile.get("real_name") or info.get("real_name") or profile.get("display_name") or info.get("name") or ""
    if found:
        with services.db.session() as s:
            records.save_names(s, found, services.clock.now())
    return len(found)


# --------------------------------------------------------------------------------------
# the learner (after the ack)

def _assignment_id(ctx: Ctx) -> tuple[int, int | None]:
    parts = (ctx.action_suffix or "").split(":")
    try:
        return int(parts[0]), (int(parts[1]) if len(parts) > 1 else None)
    except ValueError:
        raise UserError("That button is out of date. Type `/pacs train me` to see your training.") from None


def _show(ctx: Ctx, view: dict[str, Any]) -> None:
    """Replace the open training window, or open one (from a DM or App Home)."""
    current = ctx.view
    if current and current.get("type") == "modal" and current.get("id"):
        try:
            ctx.client.views_update(view_id=current["id"], hash=current.get("hash"), view=view)
        except SlackApiError as exc:
            if exc.response.get("error") != "hash_conflict":  # a double click: the first one wins
                raise
        return
    ctx.open_modal(view)


def _closed_message(a: records.AssignmentInfo, module: Module | None, svc: TrainingService, completion: records.CompletionInfo | None) -> str:
    title = escape(module.title) if module else f"`{a.module_id}`"
    if a.status == COMPLETED and completion is not None:
        return f":white_check_mark: You completed *{title}* on {render.fmt_day(completion.completed_at, svc.tz)} with {completion.score}%. Nothing more to do."
    if a.status == FAILED:
        return f"You have used all your attempts at *{title}*. Your trainer has been told and can give you another go."
    return f"*{title}* was withdrawn, so there is nothing to do."


def _start(ctx: Ctx) -> None:
    aid, _ = _assignment_id(ctx)
    svc = feature(ctx.services).service
    with ctx.services.db.session() as s:
        a = records.get_assignment(s, aid, ctx.user_id)
        first = a.started_at is None and a.status == OPEN
        records.mark_progress(s, aid, ctx.user_id, 1, svc.now())
        info = records.AssignmentInfo.of(a)
        completion = records.completion_of(s, aid) if a.status == COMPLETED else None
        if first:
            ctx.audit("training.start", target=f"assignment:{aid}", session=s, details={"module": a.module_id})
    module = svc.catalog().get(info.module_id)
    if info.status != OPEN:
        ctx.reply(_closed_message(info, module, svc, completion))
        return
    if module is None:
        raise UserError("This module is no longer offered. Your trainer can tell you what replaces it.")
    ctx.open_modal(render.page_view(module, info, max(1, min(info.page or 1, module.page_count)), today=svc.today()))


def _page(ctx: Ctx) -> None:
    aid, number = _assignment_id(ctx)
    svc = feature(ctx.services).service
    with ctx.services.db.session() as s:
        a = records.mark_progress(s, aid, ctx.user_id, number or 1, svc.now())
        info = records.AssignmentInfo.of(a)
    module = svc.catalog().get(info.module_id)
    if module is None:
        raise UserError("This module is no longer offered.")
    _show(ctx, render.page_view(module, info, number or 1, today=svc.today()))


def _quiz_open(ctx: Ctx) -> None:
    aid, _ = _assignment_id(ctx)
    svc = feature(ctx.services).service
    catalog = svc.catalog()
    with ctx.services.db.session() as s:
        a = records.get_assignment(s, aid, ctx.user_id)
        module = catalog.get(a.module_id)
        records.mark_progress(s, aid, ctx.user_id, module.page_count if module else 0, svc.now())
        info = records.AssignmentInfo.of(a)
        used = records.attempts_used(s, aid)
        completion = records.completion_of(s, aid) if a.status == COMPLETED else None
    if info.status != OPEN:
        _show(ctx, render.message_view("Quiz", _closed_message(info, module, svc, completion)))
        return
    if module is None:
        raise UserError("This module is no longer offered.")
    if used >= module.attempts:
        _show(ctx, render.message_view("Quiz", "You have used all your attempts. Your trainer has been told."))
        return
    _show(ctx, render.quiz_view(module, info, used + 1))


def parse_answers(values: dict[str, Any], module: Module) -> dict[int, set[int]]:
    answers: dict[int, set[int]] = {}
    for q in module.questions:
        raw = values.get(f"q{q.number}")
        chosen = raw if isinstance(raw, list) else ([raw] if raw else [])
        picked = {i for i in (render.parse_option(str(v)) for v in chosen) if i is not None}
        if picked:
            answers[q.number] = picked
    return answers


def _quiz_submitted(ctx: Ctx) -> None:
    """Inline: check every question is answered (errors shown in the window), then record after the ack."""
    view = ctx.view or {}
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
        aid, module_id, number, short_hash = int(meta["a"]), str(meta["m"]), int(meta["n"]), str(meta["h"])
    except (ValueError, KeyError, TypeError):
        ctx.ack_update(render.message_view("Quiz", "This quiz window is out of date. Type `/pacs train me` and start again."))
        return
    svc = feature(ctx.services).service
    module = svc.cache.peek().get(module_id)
    if module is None or module.content_hash[:16] != short_hash:
        ctx.ack_update(render.message_view("Quiz", UPDATED_WHILE_TAKING))
        return
    values = ctx.view_values()
    answers = parse_answers(values, module)
    errors = {f"q{q.number}": "Please answer this question." for q in module.questions if q.number not in answers}
    attested = render.ATTEST_VALUE in (values.get(render.ATTEST_BLOCK) or [])
    if not attested:
        errors[render.ATTEST_BLOCK] = "Please confirm that you have read and understood the module."
    if errors:
        ctx.ack_errors(errors)
        return
    ctx.ack_update(render.saving_view())
    view_id = view.get("id")
    ctx.defer(_record_quiz, ctx, view_id, aid, module_id, short_hash, number, answers, what="recording your quiz")


UPDATED_WHILE_TAKING = (":arrows_counterclockwise: This module was updated while you were taking the quiz, so these answers "
                        "can't be marked. Nothing was recorded. Open it again from `/pacs train me` — sorry for the trouble.")


def _record_quiz(ctx: Ctx, view_id: str, aid: int, module_id: str, short_hash: str, number: int,
                 answers: dict[int, set[int]]) -> None:
    ctx.inline = False
    services = ctx.services
    svc = feature(services).service
    outbox = get_outbox(services)
    completion = None
    outcome = None
    try:
        module = svc.module(module_id)
        if module.content_hash[:16] != short_hash:
            raise UserError(UPDATED_WHILE_TAKING)
        with services.db.session() as s:
            version = svc.version(s, module)
            outcome = records.submit_attempt(s, aid, ctx.user_id, module, version, answers, number, now=svc.now(), attested=True)
            info = records.AssignmentInfo.of(records.get_assignment(s, aid))
            completion = outcome.completion
            if not outcome.duplicate:
                g = outcome.grade
                ctx.audit("training.attempt", target=f"assignment:{aid}", outcome="ok", session=s, details={
                    "module": module.id, "version": version.version, "attempt": number, "score": g.score,
                    "pass_mark": g.pass_mark, "passed": g.passed})
                if completion is not None:
                    ctx.audit("training.complete", target=f"assignment:{aid}", session=s, details={
                        "module": module.id, "version": version.version, "score": completion.score, "attempts": number,
                        "attested": completion.attested_at is not None, "completion": completion.id})
                    _completion_messages(s, outbox, svc, module, info, completion)
                elif outcome.status == FAILED:
                    ctx.audit("training.failed", target=f"assignment:{aid}", outcome="failed", session=s,
                              details={"module": module.id, "attempts": number})
                    _failure_messages(s, services, outbox, module, info)
        outbox.kick()
        trainer = info.assigned_by if USER_ID_RE.match(info.assigned_by) else None
        view = render.result_view(module, info, outcome, tz=svc.tz, trainer=trainer)
    except UserError as exc:
        view = render.message_view("Quiz", f":warning: {exc}")
    except Exception as exc:  # noqa: BLE001 - the window must not hang on "Checking…"
        ref = secrets.token_hex(3)
        log.error("training: recording a quiz failed (reference %s): %s", ref, type(exc).__name__, exc_info=exc)
        view = render.message_view("Quiz", f":x: Sorry, something went wrong on our side while recording your answers "
                                           f"(reference `{ref}`). Please try again in a minute.")
    try:
        ctx.client.views_update(view_id=view_id, view=view)
    except SlackApiError as exc:  # the window was closed meanwhile: say it in a DM instead
        log.info("training: could not show a quiz result in its window (%s)", exc.response.get("error"))
        if outcome is not None and completion is None:
            ctx.dm(ctx.user_id, render.result_text(outcome.grade, outcome.attempts_left))
    if completion is not None:
        _refresh_home(services, ctx.user_id, ctx.role)


def _completion_messages(s: Any, outbox: Any, svc: TrainingService, module: Module, a: records.AssignmentInfo,
                         c: records.CompletionInfo) -> None:
    text, blocks = render.completed_dm(module.title, c, svc.tz)
    outbox.enqueue(s, f"training:done:{a.id}", channel=a.user_id, text=text, blocks=blocks, origin=ORIGIN)
    sent = outbox.lookup([f"training:invite:{a.id}"], session=s).get(f"training:invite:{a.id}")
    if sent is not None and sent.channel and sent.ts:
        text, blocks = render.invitation_done(module, a, c, svc.tz)
        outbox.enqueue(s, f"training:invite-done:{a.id}", method="chat.update", channel=sent.channel, ts=sent.ts,
                       text=text, blocks=blocks, origin=ORIGIN)


def _failure_messages(s: Any, services: "Services", outbox: Any, module: Module, a: records.AssignmentInfo) -> None:
    best = records.best_score(s, a.id)
    text, blocks = render.failed_notice(module, a, best)
    trainer = a.assigned_by if USER_ID_RE.match(a.assigned_by) else services.settings.training.notify_channel
    if trainer:
        outbox.enqueue(s, f"training:failed:{a.id}", channel=trainer, text=text, blocks=blocks, origin=ORIGIN)
    else:
        log.warning("training: assignment %s ran out of attempts and no trainer can be told (set training.notify_channel)", a.id)


def _refresh_home(services: "Services", user_id: str, role: Role) -> None:

    try:
        services.client.views_publish(user_id=user_id, view=home_view(services, user_id, role))
    except SlackApiError as exc:
        log.info("training: could not refresh App Home (%s)", exc.response.get("error"))


# --------------------------------------------------------------------------------------
# scheduled work

def send_due_reminders(services: "Services") -> int:
    """Reminders before the due date and when overdue: working hours only, each step once."""
    svc = feature(services).service
    if not svc.working_now():
        return 0
    cfg = services.settings.training
    catalog = svc.catalog()
    outbox = get_outbox(services)
    today = svc.today()
    with services.db.session() as s:
        due = records.due_reminders(s, now=svc.now(), tz=svc.tz, before_days=cfg.remind_before_days,
                                    overdue_every=cfg.remind_overdue_every_days, overdue_max=cfg.remind_overdue_max,
                                    weekdays=cfg.weekday_numbers(), by=SYSTEM_ACTOR, module_ids=set(catalog.modules))
        messages = []
        for r in due:
            module = catalog.modules[r.assignment.module_id]
            text, blocks = render.reminder(module, r.assignment, r.step, today=today)
            messages.append((f"training:remind:{r.assignment.id}:{r.step}", {"channel": r.assignment.user_id, "text": text, "blocks": blocks}))
        outbox.enqueue_many(s, messages, origin=ORIGIN)
        if due:
            steps = Counter(r.step.split(":")[0] for r in due)
            services.audit.record(SYSTEM_ACTOR, "training.reminders", details={"sent": len(due), **steps}, session=s)
    if due:
        outbox.kick()
    return len(due)


def assign_renewals(services: "Services") -> int:
    """Recurring modules: assign again before a completion expires, and say why."""
    svc = feature(services).service
    if not svc.working_now():
        return 0
    cfg = services.settings.training
    outbox = get_outbox(services)
    today = svc.today()
    total = 0
    for module in svc.catalog().modules.values():
        if not module.recurrence_days:
            continue
        with services.db.session() as s:
            due = records.renewals_due(s, module, now=svc.now(), lead_days=cfg.renew_before_days)
            if not due:
                continue
            version = svc.version(s, module)
            dates = records.renewal_due_dates(due, svc.tz, today, min_days=7)
            created: list[records.AssignmentInfo] = []
            why: dict[str, str | None] = {}
            for r in due:
                outcome = records.assign(s, module, version, [r.user_id], by=SYSTEM_ACTOR, now=svc.now(), due=dates[r.user_id],
                                         reason=RENEWAL, renewal_of={r.user_id: r.completion_id})
                created.extend(outcome.created)
                why[r.user_id] = render.reason_line(RENEWAL, version=version.version, renewal=(r.completed_at, r.expires_at), tz=svc.tz)
            outbox.enqueue_many(s, _invitation_messages(svc, module, created, why), origin=ORIGIN)
            if created:
                services.audit.record(SYSTEM_ACTOR, "training.renew", target=f"module:{module.id}", session=s,
                                      details={"created": len(created), "version": version.version})
            total += len(created)
    if total:
        outbox.kick()
    return total
