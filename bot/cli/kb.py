"""``pacsbot kb search | check | gaps | html``: the manuals from the terminal.

    pacsbot kb search "how do I hang a prior" [--manuals DIR ...] [--json] [--limit N]
    pacsbot kb search --json < questions.txt         (one question per line; index built once)
    pacsbot kb check [--manuals DIR ...]             (file:line problems; exit 1 if any error)
    pacsbot kb gaps [--since 30d] [--json]           (needs the database)
    pacsbot kb html OUTDIR [--manuals DIR ...]       (a static web site of the manuals)
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from bot.cli.common import add_config_option, open_database, settings_from, subparser
from core.errors import UserError

MIN_JSON_RESULTS = 5


def add_parser(sub: Any) -> None:
    parser = subparser(sub, "kb", "Manuals: search them, check them, list unanswered questions, publish them as HTML.",
                       "Work with the knowledge base (the markdown manuals the bot answers from).")
    actions = parser.add_subparsers(dest="kb_action", metavar="ACTION")

    search = actions.add_parser("search", help="rank manual sections for a question, as the bot would",
                                description="Print the best sections for QUESTION and whether the bot would answer or "
                                            "decline. Without QUESTION, read one question per line from standard input.")
    search.add_argument("question", nargs="?", help="the question (omit to read questions from standard input)")
    search.add_argument("--manuals", nargs="+", type=Path, metavar="DIR", help="search these directories instead of the configured ones")
    search.add_argument("--json", action="store_true", help="one JSON object per question")
    search.add_argument("--limit", type=int, default=MIN_JSON_RESULTS, metavar="N", help=f"results per question (default {MIN_JSON_RESULTS})")
    add_config_option(search)

    check = actions.add_parser("check", help="lint the manuals (broken links, duplicate headings, stale reviews)",
                               description="Print problems as FILE:LINE: message. Exit 1 if there is any error.")
    check.add_argument("--manuals", nargs="+", type=Path, metavar="DIR", help="check these directories instead of the configured ones")
    add_config_option(check)

    gaps = actions.add_parser("gaps", help="most frequent unanswered questions and answers marked not helpful",
                              description="What people asked that the manuals could not answer, and which answers they "
                                          "marked not helpful (with their reasons).")
    gaps.add_argument("--since", default="30d", metavar="DATE", help="from this date (YYYY-MM-DD) or span (7d, 24h, 2w); default 30d")
    gaps.add_argument("--limit", type=int, default=20, metavar="N")
    gaps.add_argument("--json", action="store_true")
    add_config_option(gaps)

    html = actions.add_parser("html", help="render the manuals to a static web site",
                              description="Write one HTML page per manual (with a table of contents and the same heading "
                                          "anchors the bot links to), an index page, and copies of images, to OUTDIR.")
    html.add_argument("outdir", type=Path, metavar="OUTDIR")
    html.add_argument("--manuals", nargs="+", type=Path, metavar="DIR", help="render these directories instead of the configured ones")
    add_config_option(html)
    parser.set_defaults(func=run, parser=parser)


def _dirs(args: argparse.Namespace) -> list[Path]:
    if getattr(args, "manuals", None):
        dirs = [d.expanduser() for d in args.manuals]
        missing = [str(d) for d in dirs if not d.is_dir()]
        if missing:
            raise UserError(f"not a directory: {', '.join(missing)}")
        return dirs
    return settings_from(args).knowledge.manual_dirs()


def run(args: argparse.Namespace) -> int:
    action = getattr(args, "kb_action", None)
    if action is None:
        args.parser.print_help()
        return 2
    return {"search": run_search, "check": run_check, "gaps": run_gaps, "html": run_html}[action](args)


def run_search(args: argparse.Namespace) -> int:
    from knowledge.base import KnowledgeBase
    from knowledge.search import Ranking

    if args.limit < 1:
        raise UserError("--limit must be at least 1.")
    if args.question is None and args.manuals and len(args.manuals) > 1 and not args.manuals[-1].is_dir():
        args.question = str(args.manuals.pop())  # `--manuals DIR "question"`: the last word was the question
    settings = settings_from(args) if not args.manuals else None
    dirs = _dirs(args)
    min_conf = settings.knowledge.min_confidence if settings else Ranking().min_confidence
    synonyms = settings.knowledge.synonyms_file if settings else None
    kb = KnowledgeBase(dirs, ranking=Ranking(min_confidence=min_conf), synonyms_path=synonyms, reload_seconds=0)
    for problem in kb.snapshot.problems:
        print(f"pacsbot: {problem}", file=sys.stderr)
    if args.question is not None:
        questions = [args.question]
    else:
        if sys.stdin.isatty():
            print("Type one question per line; end with Ctrl-D.", file=sys.stderr)
        questions = [line.strip() for line in sys.stdin]
    status = 0
    for question in questions:
        if not question:
            continue
        limit = max(args.limit, MIN_JSON_RESULTS) if args.json else args.limit
        result = kb.search(question, limit=limit)
        if args.json:
            results = [{"file": h.section.file, "anchor": h.section.anchor, "heading": h.section.heading,
                        "score": round(h.score, 4)} for h in result.hits]
            if len(results) < MIN_JSON_RESULTS:
                seen = {(r["file"], r["anchor"]) for r in results}
                for s in kb.snapshot.index.sections:
                    if len(results) >= MIN_JSON_RESULTS:
                        break
                    if (s.file, s.anchor) not in seen:
                        results.append({"file": s.file, "anchor": s.anchor, "heading": s.heading, "score": 0.0})
            print(json.dumps({"question": question, "answer": result.answered, "results": results}, ensure_ascii=False), flush=True)
            continue
        verdict = "answer" if result.answered else "decline (\"I don't know\")"
        print(f"Q: {question}")
        print(f"   would {verdict}; confidence {result.confidence:.2f} (threshold {min_conf:.2f}); {result.took_ms:.1f} ms")
        if result.corrections:
            print("   read " + ", ".join(f"{a!r} as {b!r}" for a, b in result.corrections))
        if result.unknown_words:
            print("   not in the manuals: " + ", ".join(result.unknown_words))
        for i, h in enumerate(result.hits, 1):
            print(f"   {i}. {h.score:7.3f}  conf {h.confidence:.2f}  {h.section.key}")
            print(f"      {h.section.breadcrumb}")
        if not result.hits:
            print("   (no section matches any word of the question)")
        print()
    return status


def run_check(args: argparse.Namespace) -> int:
    from knowledge.lint import check

    settings = settings_from(args)
    dirs = _dirs(args)
    problems = check(dirs, today=datetime.now(timezone.utc).date(), max_age_days=settings.knowledge.review_max_age_days)
    for p in problems:
        print(p)
    errors = sum(1 for p in problems if p.severity == "error")
    warnings = len(problems) - errors
    from knowledge.manuals import load_library

    library = load_library(dirs)
    print(f"{len(library.manuals)} manuals, {len(library.sections)} sections checked in {', '.join(str(d) for d in dirs)}: "
          f"{errors} error(s), {warnings} warning(s).", file=sys.stderr)
    return 1 if errors else 0


def run_gaps(args: argparse.Namespace) -> int:
    from bot.features.admin import parse_since
    from knowledge.store import REASONS, gaps_report

    settings = settings_from(args)
    since = parse_since(args.since, datetime.now(timezone.utc)) if args.since else datetime.now(timezone.utc) - timedelta(days=30)
    db = open_database(settings)
    try:
        with db.session() as session:
            report = gaps_report(session, since=since, limit=args.limit)
    finally:
        db.dispose()
    if args.json:
        print(json.dumps({
            "since": since.isoformat(),
            "unanswered": [{"question": g.question, "count": g.count, "last": g.last_at.isoformat(), "closest": g.best_section} for g in report.gaps],
            "not_helpful": [{"section": u.section, "manual": u.manual_title, "heading": u.heading, "count": u.count,
                             "reasons": u.reasons, "last_question": u.last_question, "comments": list(u.comments)} for u in report.unhelpful],
            "helpful_clicks": report.helpful_count, "not_helpful_clicks": report.unhelpful_count, "unanswered_total": report.gap_count,
        }, ensure_ascii=False, indent=2))
        return 0
    print(f"Since {since:%Y-%m-%d}: {report.gap_count} unanswered question(s); "
          f"{report.unhelpful_count} not helpful / {report.helpful_count} helpful click(s).\n")
    print("Most asked, not answered:")
    if not report.gaps:
        print("  (none)")
    for g in report.gaps:
        closest = f"  [closest: {g.best_section}]" if g.best_section else ""
        print(f"  {g.count:>4} x  {g.question}  (last {g.last_at:%Y-%m-%d}){closest}")
    print("\nAnswers marked not helpful:")
    if not report.unhelpful:
        print("  (none)")
    for u in report.unhelpful:
        reasons = ", ".join(f"{'no reason given' if k == 'none' else REASONS.get(k, k).split(' —')[0].lower()} x{v}" for k, v in u.reasons.items())
        print(f"  {u.count:>4} x  {u.section}  ({u.manual_title} > {u.heading}): {reasons or 'no reason given'}")
        print(f"         last question: {u.last_question}")
        for c in u.comments:
            print(f"         comment: {c}")
    return 0


def run_html(args: argparse.Namespace) -> int:
    from knowledge.site import build_site

    dirs = _dirs(args)
    out: Path = args.outdir
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} exists and is not a directory.")
    if any(out.resolve() == d.resolve() or d.resolve() in out.resolve().parents for d in dirs):
        raise UserError("OUTDIR must not be inside a manuals directory (the pages would be read as manuals).")
    report = build_site(dirs, out)
    print(f"Wrote {report.pages} pages and {report.assets} other files to {out} (open {out / 'index.html'}).")
    return 0
