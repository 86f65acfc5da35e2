"""``pacsbot training check | modules | status | export | history | assign | unassign | new``.

For trainers and auditors at a terminal. ``check`` needs no database; the others open the
configured one. Assigning from here records the assignments and queues the invitations in the
outbox: the running bot sends them (so this works on a host without Slack tokens).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pacsbot.bot.cli.common import cli_actor, open_database, settings_from, subparser
from pacsbot.bot.settings import Settings
from pacsbot.core.errors import UserError
from pacsbot.training.catalog import load_catalog
from pacsbot.training.config import BUNDLED_MODULES

EXAMPLE = Path(__file__).resolve().parents[2] / "training" / "examples" / "example-module.md"
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")


def add_parser(sub: Any) -> None:
    parser = subparser(sub, "training", "Training modules and records: check, export, status, assign.",
                       "Check module files, list modules, and read or export training records for auditors.")
    actions = parser.add_subparsers(dest="training_action", metavar="ACTION")

    def action(name: str, text: str) -> argparse.ArgumentParser:
        p = actions.add_parser(name, help=text, description=text)
        p.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="configuration file")
        return p

    p = action("check", "Check module files; print problems as FILE:LINE: error|warning: message. Exit 2 on errors.")
    p.add_argument("paths", nargs="*", metavar="PATH", help="module files or directories (default: the configured ones)")
    p.add_argument("--strict", action="store_true", help="treat warnings as errors")
    p.add_argument("--json", action="store_true", help="one JSON object: modules, problems")

    p = action("modules", "List the modules on offer, with the version that records will carry.")
    p.add_argument("--json", action="store_true")

    p = action("status", "Completion numbers per module (or one module): assigned, completed, open, overdue.")
    p.add_argument("module", nargs="?", help="a module id")
    p.add_argument("--json", action="store_true")

    p = action("export", "Training records as CSV, one row per assignment (for auditors).")
    p.add_argument("--csv", action="store_true", help="CSV on stdout (the default, and the only format)")
    p.add_argument("--since", metavar="DATE", help="assigned or completed since (YYYY-MM-DD, UTC) or a span (30d, 52w)")
    p.add_argument("--module", metavar="ID", help="only this module")
    p.add_argument("--user", metavar="U", help="only this Slack user id")
    p.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")

    p = action("history", "Every training record of one person (Slack user id).")
    p.add_argument("user", metavar="USER_ID")
    p.add_argument("--csv", action="store_true")

    p = action("assign", "Assign a module to people by Slack user id; the running bot sends the invitations.")
    p.add_argument("module")
    p.add_argument("users", nargs="+", metavar="USER_ID")
    p.add_argument("--due", metavar="DATE", help="YYYY-MM-DD, or 14d / 2w from today (default: training.default_due_days)")

    p = action("unassign", "Withdraw open assignments of a module (records are kept).")
    p.add_argument("module")
    p.add_argument("users", nargs="+", metavar="USER_ID")

    p = action("new", "Start a new module file from the documented example.")
    p.add_argument("id", help="the new module's id, e.g. mr-safety-basics")
    p.add_argument("--dir", metavar="DIR", help="where to write it (default: the first of training.modules)")

    parser.set_defaults(func=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    action = getattr(args, "training_action", None)
    if action is None:
        args.parser.print_help()
        return 2
    settings = settings_from(args)
    if action == "check":
        return _check(settings, args)
    if action == "new":
        return _new(settings, args)
    return {
        "modules": _modules, "status": _status, "export": _export, "history": _history,
        "assign": _assign, "unassign": _unassign,
    }[action](settings, args)


def _service(settings: Settings, db: Any = None) -> Any:
    from pacsbot.training.service import TrainingService

    return TrainingService(settings.training, timezone=settings.timezone, manual_dirs=settings.knowledge.manual_dirs(),
                           base_url=settings.knowledge.base_url)


# --------------------------------------------------------------------------------------

def _check(settings: Settings, args: argparse.Namespace) -> int:
    dirs = [Path(p) for p in args.paths] if args.paths else settings.training.module_dirs()
    catalog = load_catalog(dirs, manual_dirs=settings.knowledge.manual_dirs(), base_url=settings.knowledge.base_url)
    errors, warnings = catalog.errors, catalog.warnings
    failed = bool(errors) or (args.strict and bool(warnings))
    if args.json:
        print(json.dumps({
            "ok": not failed,
            "files": catalog.files,
            "modules": [{"id": m.id, "title": m.title, "file": m.path, "pages": len(m.pages), "questions": len(m.questions),
                         "content_hash": m.content_hash} for m in catalog.sorted()],
            "problems": [{"file": p.path, "line": p.line, "severity": p.severity, "message": p.message} for p in catalog.problems],
        }, indent=2))
        return 2 if failed else 0
    for problem in sorted(catalog.problems, key=lambda p: (p.path, p.line)):
        print(problem)
    verdict = "OK" if not failed else "FAILED"
    print(f"{verdict}: {catalog.files} file(s), {len(catalog.modules)} module(s) offered, {len(catalog.skipped)} skipped; "
          f"{len(errors)} error(s), {len(warnings)} warning(s).")
    return 2 if failed else 0


def _new(settings: Settings, args: argparse.Namespace) -> int:
    from pacsbot.training.content import ID_RE

    if not ID_RE.match(args.id):
        raise UserError(f"{args.id!r} is not a module id: use 3-64 lowercase letters, digits and hyphens (e.g. mr-safety-basics).")
    target_dir = Path(args.dir) if args.dir else (settings.training.modules[0] if settings.training.modules else None)
    if target_dir is None:
        raise UserError("Where should it go? Give --dir, or set training.modules in the configuration.")
    if target_dir.resolve() == BUNDLED_MODULES:
        raise UserError("Don't write into the bundled modules; use your site's own directory.")
    target_dir.mkdir(parents=True, exist_ok=True)
    path = target_dir / f"{args.id}.md"
    if path.exists():
        raise UserError(f"{path} already exists.")
    text = EXAMPLE.read_text(encoding="utf-8").replace("id: example-module", f"id: {args.id}", 1)
    text = text.replace("title: How to write a training module", "title: (your title)", 1)
    path.write_text(text, encoding="utf-8")
    print(f"Wrote {path}. Edit it, then run `pacsbot training check {path}`.")
    return 0


def _modules(settings: Settings, args: argparse.Namespace) -> int:
    from pacsbot.training.records import ensure_version

    svc = _service(settings)
    catalog = svc.catalog()
    db = open_database(settings)
    try:
        rows = []
        with db.session() as s:
            for m in catalog.sorted():
                v = ensure_version(s, m, datetime.now(timezone.utc))
                rows.append({"id": m.id, "title": m.title, "version": v.version, "revision": v.revision,
                             "content_hash": m.content_hash[:12], "minutes": m.minutes, "pass_mark": m.pass_mark,
                             "attempts": m.attempts, "recurrence_days": m.recurrence_days, "questions": len(m.questions),
                             "audience": list(m.audience), "file": m.path})
    finally:
        db.dispose()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        every = f", every {r['recurrence_days']} days" if r["recurrence_days"] else ""
        print(f"{r['id']:<24} v{r['version']:<10} {r['minutes']:>3} min  pass {r['pass_mark']}%  "
              f"{r['questions']} questions{every}  — {r['title']}")
    if catalog.skipped:
        print(f"({len(catalog.skipped)} file(s) with errors are not offered: run `pacsbot training check`.)", file=sys.stderr)
    return 0


def _status(settings: Settings, args: argparse.Namespace) -> int:
    from pacsbot.training.records import assigned_module_ids, module_status

    svc = _service(settings)
    catalog = svc.catalog()
    db = open_database(settings)
    try:
        with db.session() as s:
            ids = [svc.module(args.module, catalog).id] if args.module else assigned_module_ids(s)
            out = []
            for mid in ids:
                m = catalog.get(mid)
                st = module_status(s, mid, today=svc.today(), current_hash=m.content_hash if m else None)
                out.append(st)
    finally:
        db.dispose()
    if args.json:
        print(json.dumps([{k: v for k, v in vars(st).items() if not k.endswith("_users")} | {"completion_rate": st.completion_rate}
                          for st in out], indent=2))
        return 0
    if not out:
        print("No training has been assigned yet.")
        return 0
    print(f"{'module':<24} {'assigned':>8} {'done':>6} {'rate':>5} {'open':>6} {'overdue':>7} {'failed':>6} {'old ver':>7}")
    for st in out:
        print(f"{st.module_id:<24} {st.assigned:>8} {st.completed:>6} {st.completion_rate:>4}% {st.open:>6} {st.overdue:>7} "
              f"{st.failed:>6} {st.completed_old_version:>7}")
    return 0


def _since(text: str | None) -> datetime | None:
    if not text:
        return None
    from pacsbot.bot.features.admin import parse_since

    return parse_since(text, datetime.now(timezone.utc))


def _export(settings: Settings, args: argparse.Namespace) -> int:
    from pacsbot.bot.audit import Audit
    from pacsbot.training.records import report_rows, to_csv

    since = _since(args.since)
    if args.user and not _USER_ID.match(args.user):
        raise UserError(f"{args.user!r} is not a Slack user id (like U0123ABC).")
    db = open_database(settings)
    try:
        with db.session() as s:
            rows = report_rows(s, module_id=args.module, user_id=args.user, since=since)
        Audit(db).record(cli_actor(), "training.export", details={"rows": len(rows), "since": args.since,
                                                                   "module": args.module, "user": args.user})
    finally:
        db.dispose()
    content = to_csv(rows)
    if args.output:
        Path(args.output).write_text(content, encoding="utf-8")
        print(f"Wrote {len(rows)} row(s) to {args.output}.", file=sys.stderr)
    else:
        sys.stdout.write(content)
    return 0


def _history(settings: Settings, args: argparse.Namespace) -> int:
    from pacsbot.bot.audit import Audit
    from pacsbot.training.records import report_rows, to_csv

    if not _USER_ID.match(args.user):
        raise UserError(f"{args.user!r} is not a Slack user id (like U0123ABC).")
    db = open_database(settings)
    try:
        with db.session() as s:
            rows = report_rows(s, user_id=args.user)
        Audit(db).record(cli_actor(), "training.history", target=f"user:{args.user}", details={"rows": len(rows)})
    finally:
        db.dispose()
    if args.csv:
        sys.stdout.write(to_csv(rows))
        return 0
    if not rows:
        print(f"No training records for {args.user}.")
        return 0
    for r in rows:
        done = f"completed {r.completed_at:%Y-%m-%d} ({r.score}%, {r.attempts} attempt(s))" if r.completed_at else r.status
        print(f"{r.assigned_at:%Y-%m-%d}  {r.module_id:<24} v{r.version:<10} {done}"
              + (f"  attested {r.attested_at:%Y-%m-%d %H:%M}Z" if r.attested_at else ""))
    return 0


def _users(values: list[str]) -> list[str]:
    bad = [v for v in values if not _USER_ID.match(v)]
    if bad:
        raise UserError(f"Not Slack user ids: {', '.join(bad)}. Use ids like U0123ABC (from the person's Slack profile).")
    return list(dict.fromkeys(values))


def _assign(settings: Settings, args: argparse.Namespace) -> int:
    from pacsbot.bot.audit import Audit
    from pacsbot.bot.features.training import ORIGIN
    from pacsbot.bot.outbox import Outbox
    from pacsbot.bot.render import training as render
    from pacsbot.training import records

    svc = _service(settings)
    module = svc.module(args.module)
    users = _users(args.users)
    due = svc.parse_due(args.due) if args.due else svc.default_due()
    actor = cli_actor()
    db = open_database(settings)
    try:
        outbox = Outbox(db, client=None)  # only queues; the bot sends
        with db.session() as s:
            version = svc.version(s, module)
            outcome = records.assign(s, module, version, users, by=actor, now=svc.now(), due=due)
            messages = []
            for a in outcome.created:
                text, blocks = render.invitation(module, a, today=svc.today())
                messages.append((f"training:invite:{a.id}", {"channel": a.user_id, "text": text, "blocks": blocks}))
            outbox.enqueue_many(s, messages, origin=ORIGIN)
            Audit(db).record(actor, "training.assign", target=f"module:{module.id}", session=s, details={
                "version": version.version, "batch": outcome.batch, "due": due.isoformat() if due else None,
                "people": len(users), "created": len(outcome.created), "already_open": len(outcome.already_open),
                "already_done": len(outcome.already_done)})
    finally:
        db.dispose()
    print(f"Assigned {module.id} (version {outcome.version}) to {len(outcome.created)} person(s)"
          + (f", due {due:%Y-%m-%d}" if due else "") + ".")
    if outcome.already_open:
        print(f"  {len(outcome.already_open)} already had it open (unchanged): " + " ".join(a.user_id for a in outcome.already_open))
    if outcome.already_done:
        print(f"  {len(outcome.already_done)} already completed this version: " + " ".join(u for u, _, _ in outcome.already_done))
    if outcome.created:
        print("  Invitations are queued; the running bot sends them within a minute.")
    return 0


def _unassign(settings: Settings, args: argparse.Namespace) -> int:
    from pacsbot.bot.audit import Audit
    from pacsbot.bot.features.training import ORIGIN
    from pacsbot.bot.outbox import Outbox
    from pacsbot.bot.render import training as render
    from pacsbot.training import records

    svc = _service(settings)
    module_id = args.module.strip().lower()
    users = _users(args.users)
    actor = cli_actor()
    catalog = svc.catalog()
    title = catalog.get(module_id).title if catalog.get(module_id) else module_id
    db = open_database(settings)
    try:
        outbox = Outbox(db, client=None)  # only queues; the bot sends
        with db.session() as s:
            cancelled, none_open = records.unassign(s, module_id, users, by=actor, now=svc.now())
            messages = []
            for a in cancelled:
                text, blocks = render.withdrawn(title, actor)
                messages.append((f"training:withdrawn:{a.id}", {"channel": a.user_id, "text": text, "blocks": blocks}))
            outbox.enqueue_many(s, messages, origin=ORIGIN)
            Audit(db).record(actor, "training.unassign", target=f"module:{module_id}", session=s,
                             details={"cancelled": len(cancelled), "had_none_open": len(none_open)})
    finally:
        db.dispose()
    print(f"Withdrew {module_id} from {len(cancelled)} person(s)." + (f" {len(none_open)} had nothing open." if none_open else ""))
    return 0
