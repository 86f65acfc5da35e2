"""``pacsbot kb search | check | gaps | html | import``: the manuals from the terminal.

    pacsbot kb search "how do I hang a prior" [--manuals DIR ...] [--json] [--limit N]
    pacsbot kb search --json < questions.txt         (one question per line; index built once)
    pacsbot kb check [--manuals DIR ...]             (file:line problems; exit 1 if any error)
    pacsbot kb gaps [--since 30d] [--json]           (needs the database)
    pacsbot kb html --out DIR [--manuals DIR ...]    (a static web site of the manuals)
    pacsbot kb import FILE... --out DIR [--audience ROLE ...] [--title TITLE] [--force]
                                                     (vendor PDF / Word / HTML manuals -> markdown)
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from pacsbot.bot.cli.common import add_config_option, open_database, settings_from, subparser
from pacsbot.core.errors import UserError

MIN_JSON_RESULTS = 5


def add_parser(sub: Any) -> None:
    parser = subparser(sub, "kb", "Manuals: search them, check them, list unanswered questions, publish them as HTML, "
                                  "import vendor PDF/Word/HTML manuals.",
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
                                          "anchors the bot links to), an index page, and copies of images, to --out DIR.")
    html.add_argument("--out", "-o", type=Path, metavar="DIR", help="directory to write the site into (made if missing)")
    html.add_argument("outdir", nargs="?", type=Path, metavar="DIR", help=argparse.SUPPRESS)  # the older spelling
    html.add_argument("--manuals", nargs="+", type=Path, metavar="DIR", help="render these directories instead of the configured ones")
    add_config_option(html)

    imp = actions.add_parser(
        "import", help="convert vendor manuals (PDF, Word .docx, HTML) to markdown manuals",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=_paragraphs(
                    "Convert each FILE (.pdf, .docx, .html/.htm, also .md/.txt) to one markdown manual in DIR, named "
                    "after the file (\"Vendor Guide v2.pdf\" -> vendor-guide-v2.md), then check it as `kb check` does.\n\n"
                    "Headings are kept (PDF: larger or bold lines; numbered or ALL-CAPS lines when there are none), "
                    "tables stay tables; page headers, footers, page numbers, tables of contents and images are left "
                    "out. The front matter gets the title, the audience, the source file name and today's date as "
                    "'imported'; fill in 'owner' and 'reviewed' once someone has read the result.\n\n"
                    "Needs the optional converters: pip install 'pacsbot[import]'. Scanned PDFs (pictures of pages) "
                    "need OCR first. Exit status 1 if any file could not be converted or its result has a `kb check` error."),
        epilog="example:\n  pacsbot kb import 'Vue PACS 12 Admin Guide.pdf' viewer-quickref.docx \\\n"
               "      --out /srv/pacsbot/manuals/vendor --audience admin technologist")
    imp.add_argument("files", nargs="+", type=Path, metavar="FILE", help="the documents to convert")
    imp.add_argument("--out", "-o", required=True, type=Path, metavar="DIR",
                     help="where to write the .md files (created if missing); usually one of knowledge.manuals")
    imp.add_argument("--audience", action="extend", nargs="+", default=None, metavar="ROLE",
                     help="who the manuals are for (radiologist, technologist, admin, ...; default: all)")
    imp.add_argument("--title", help="the manual's title (one FILE only; default: the document's own title, "
                                     "its first heading, or the file name)")
    imp.add_argument("--force", action="store_true", help="replace .md files that already exist in DIR")
    parser.set_defaults(func=run, parser=parser)


def _paragraphs(text: str) -> str:
    """Wrap a help text paragraph by paragraph (for RawDescriptionHelpFormatter)."""
    import textwrap

    return "\n\n".join(textwrap.fill(p, 80, break_on_hyphens=False) for p in text.split("\n\n"))


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
    return {"search": run_search, "check": run_check, "gaps": run_gaps, "html": run_html, "import": run_import}[action](args)


def corrections_text(result: Any) -> str:
    """The misspelt words the search read as others: "'hnag' as 'hang', ..." (for people)."""
    return ", ".join(f"{a!r} as {b!r}" for a, b in result.corrections)


def run_search(args: argparse.Namespace) -> int:
    from pacsbot.knowledge.base import KnowledgeBase
    from pacsbot.knowledge.config import KnowledgeSettings

    if args.limit < 1:
        raise UserError("--limit must be at least 1.")
    if args.question is None and args.manuals and len(args.manuals) > 1 and not args.manuals[-1].is_dir():
        args.question = str(args.manuals.pop())  # `--manuals DIR "question"`: the last word was the question
    settings = settings_from(args) if not args.manuals else None
    dirs = _dirs(args)
    knowledge = settings.knowledge if settings else KnowledgeSettings()
    kb = KnowledgeBase(dirs, ranking=knowledge.ranking(), synonyms_path=knowledge.synonyms_file, reload_seconds=0)
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
                        "score": round(h.score, 4), "confidence": round(h.confidence, 3)}
                       | ({"cosine": round(h.cosine, 3)} if h.cosine is not None else {}) for h in result.hits]
            if len(results) < MIN_JSON_RESULTS:
                seen = {(r["file"], r["anchor"]) for r in results}
                for s in kb.snapshot.index.sections:
                    if len(results) >= MIN_JSON_RESULTS:
                        break
                    if (s.file, s.anchor) not in seen:
                        results.append({"file": s.file, "anchor": s.anchor, "heading": s.heading, "score": 0.0, "confidence": 0.0})
            print(json.dumps({"question": question, "mode": result.mode, "answer": result.answered,
                              "confidence": round(result.confidence, 3), "took_ms": round(result.took_ms, 2),
                              "ranking": "semantic" if kb.snapshot.index.vectors is not None else "words",
                              "results": results}, ensure_ascii=False), flush=True)
            continue
        verdict = {"answer": "answer with the best section", "choices": "ask \"is it one of these?\" (the top 3)",
                   "unknown": "decline (\"I don't know\")"}[result.mode]
        print(f"Q: {question}")
        ranking = kb.snapshot.index.ranking
        print(f"   would {verdict}; confidence {result.confidence:.2f} (answer from {ranking.min_confidence:.2f}, choices from "
              f"{ranking.choices_confidence:.2f}; {kb.snapshot.index.ranked_by}); {result.took_ms:.1f} ms")
        if result.corrections:
            print("   read " + corrections_text(result))
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
    from pacsbot.knowledge.lint import check

    settings = settings_from(args)
    dirs = _dirs(args)
    problems = check(dirs, today=datetime.now(timezone.utc).date(), max_age_days=settings.knowledge.review_max_age_days)
    for p in problems:
        print(p)
    errors = sum(1 for p in problems if p.severity == "error")
    warnings = len(problems) - errors
    from pacsbot.knowledge.manuals import load_library

    library = load_library(dirs)
    print(f"{len(library.manuals)} manuals, {len(library.sections)} sections checked in {', '.join(str(d) for d in dirs)}: "
          f"{errors} error(s), {warnings} warning(s).", file=sys.stderr)
    return 1 if errors else 0


def run_gaps(args: argparse.Namespace) -> int:
    from pacsbot.bot.features.admin import parse_since
    from pacsbot.knowledge.store import REASONS, gaps_report

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
    from pacsbot.knowledge.site import build_site

    dirs = _dirs(args)
    if args.out is None and args.outdir is None:
        raise UserError("Where should the site go? For example: pacsbot kb html --out site/")
    if args.out is not None and args.outdir is not None and args.out != args.outdir:
        raise UserError(f"Two places to write the site: {args.outdir} and --out {args.out}. Give one, with --out.")
    out: Path = args.out if args.out is not None else args.outdir
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} exists and is not a directory.")
    if any(out.resolve() == d.resolve() or d.resolve() in out.resolve().parents for d in dirs):
        raise UserError(f"{out} is inside a manuals directory; the pages would be read as manuals. Choose another --out.")
    report = build_site(dirs, out)
    print(f"Wrote {report.pages} pages and {report.assets} other files to {out} (open {out / 'index.html'}).")
    return 0


def run_import(args: argparse.Namespace) -> int:
    import os

    from pacsbot.knowledge.importer import ConversionError, audience_words, convert, output_name
    from pacsbot.knowledge.lint import check_manual
    from pacsbot.knowledge.manuals import ManualError, load_file

    if args.title is not None and len(args.files) > 1:
        raise UserError("--title names one manual: give it with a single FILE.")
    out: Path = args.out.expanduser()
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} exists and is not a directory.")
    audience = audience_words(args.audience or ["all"])
    today = datetime.now().date()
    failed = 0
    written: list[Path] = []
    taken: set[str] = set()
    for source in args.files:
        name = output_name(source)
        stem, n = name[:-3], 2
        while name in taken:                 # two inputs with the same name: vendor-guide-2.md
            name, n = f"{stem}-{n}.md", n + 1
        taken.add(name)
        target = out / name
        if target.exists() and not args.force:
            print(f"pacsbot: {source}: {target} already exists; not replaced (use --force to replace it).", file=sys.stderr)
            failed += 1
            continue
        try:
            result = convert(source, audience=audience, title=args.title, today=today)
        except ConversionError as exc:
            print(f"pacsbot: {exc}", file=sys.stderr)
            failed += 1
            continue
        partial = target.with_name(f".{target.name}.part")
        try:
            out.mkdir(parents=True, exist_ok=True)
            partial.write_text(result.text, encoding="utf-8")
            os.replace(partial, target)
        except OSError as exc:
            print(f"pacsbot: {source.name}: cannot write {target} ({exc.strerror or exc}).", file=sys.stderr)
            failed += 1
            continue
        written.append(target)
        print(f"Wrote {target} from {source.name}: \"{result.title}\" ({result.summary()}).")
        for note in result.notes:
            print(f"  note: {note}")
    errors = 0
    for target in written:
        try:
            manual = load_file(target, out)
        except ManualError as exc:
            print(f"{target}: error: {exc.message}")
            errors += 1
            continue
        # the same rules as `kb check` (a fresh import has no 'reviewed' date, so no age limit applies)
        for problem in check_manual(manual, {target.resolve(): manual}, today=today, max_age_days=365):
            print(problem)
            errors += problem.severity == "error"
    if written:
        print(f"{len(written)} manual(s) written to {out}; {failed} file(s) failed; {errors} `kb check` error(s). "
              "Fill in 'owner' and 'reviewed' once someone has read them.", file=sys.stderr)
    elif failed:
        print(f"Nothing imported: {failed} file(s) failed.", file=sys.stderr)
    return 1 if failed or errors else 0
