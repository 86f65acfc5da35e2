"""Golden outputs of the markdown pipeline: what the manuals, the training modules, the HTML
site, the Slack rendering and ``kb check`` make of the bundled content and of a few edge cases.

``tests/test_golden.py`` compares the current output with the files under ``tests/golden/``.
After a deliberate change, write them anew and review the diff::

    .venv/bin/python -m tests.goldens            # rewrite every golden file
    .venv/bin/python -m tests.goldens --check    # list the files that differ

Corpora outside the bundled content (the Orthanc Book under ``benchmarks/data`` and, when
present, the public manuals) are recorded as digests per manual: the search text must stay
byte-identical, and a digest says so without copying megabytes of text.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
FIXTURES = GOLDEN / "fixtures"
TODAY = dt.date(2026, 11, 28)
BASE_URL = "https://intranet.example/manuals/"
ANSWER_LIMIT = 1200


def _bundled_manuals() -> Path:
    from pacsbot.knowledge.config import BUNDLED_MANUALS

    return BUNDLED_MANUALS


def _bundled_modules() -> Path:
    from pacsbot.training.config import BUNDLED_MODULES

    return BUNDLED_MODULES


def orthanc_book() -> Path:
    return ROOT / "benchmarks" / "data" / "corpus-orthanc" / "book"


def public_manuals() -> Path | None:
    for base in (ROOT.parent, ROOT.parent.parent):
        docs = base / "shared" / "public-manuals" / "docs"
        if docs.is_dir():
            return docs
    return None


@contextmanager
def _in_root() -> Iterator[None]:
    """``kb check`` shows paths relative to the working directory: make that the repository."""
    before = Path.cwd()
    os.chdir(ROOT)
    try:
        yield
    finally:
        os.chdir(before)


def _json(value: Any) -> str:
    def default(obj: Any) -> Any:
        if isinstance(obj, (dt.date, dt.datetime)):
            return obj.isoformat()
        if isinstance(obj, Path):
            return obj.as_posix()
        if isinstance(obj, (set, frozenset)):
            return sorted(obj)
        raise TypeError(type(obj))

    return json.dumps(value, ensure_ascii=False, indent=1, default=default) + "\n"


# --------------------------------------------------------------------------------------
# manuals

def _manual_record(manual: Any) -> dict[str, Any]:
    from pacsbot.knowledge.manuals import split_front_matter

    meta, _, _ = split_front_matter(manual.source)
    return {
        "file": manual.file,
        "front_matter": meta,
        "title": manual.title,
        "title_from": manual.title_from,
        "tags": manual.tags,
        "audience": manual.audience,
        "owner": manual.owner,
        "reviewed": manual.reviewed,
        "description": manual.description,
        "body_start": manual.body_start,
        "problems": [str(p) for p in manual.problems],
        "headings": [list(h) for h in manual.headings],
        "anchors": sorted(manual.anchors),
        "links": [[link.line, link.target, link.image] for link in manual.links],
        "sections": [
            {
                "key": s.key,
                "anchor": s.anchor,
                "heading": s.heading,
                "level": s.level,
                "path": s.path,
                "breadcrumb": s.breadcrumb,
                "line": s.line,
                "aliases": s.aliases,
                "markdown": s.markdown,
                "text": s.text,
            }
            for s in manual.sections
        ],
    }


def _mrkdwn_of(manual: Any) -> str:
    from pacsbot.bot.render.mrkdwn import relative_resolver, to_mrkdwn, trim
    from pacsbot.knowledge.site import page_url

    out: list[str] = []
    for s in manual.sections:
        plain = to_mrkdwn(s.markdown, relative_resolver(None, s.file, page_url))
        linked = to_mrkdwn(s.markdown, relative_resolver(BASE_URL, s.file, page_url))
        short, cut = trim(s.markdown, ANSWER_LIMIT)
        answer = to_mrkdwn(short, relative_resolver(None, s.file, page_url))
        out.append(f"=== {s.key or '(preamble)'}\n{plain}\n")
        if linked != plain:
            out.append(f"--- with base_url\n{linked}\n")
        if cut:
            out.append(f"--- trimmed to {ANSWER_LIMIT}\n{answer}\n")
    return "".join(out)


def _site(directories: list[Path]) -> dict[str, str]:
    from pacsbot.knowledge.site import build_site

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        build_site(directories, out)
        return {p.relative_to(out).as_posix(): p.read_text(encoding="utf-8") for p in sorted(out.rglob("*.html"))}


def _check(directories: list[Path]) -> str:
    from pacsbot.knowledge.lint import check

    with _in_root():
        problems = check(directories, today=TODAY)
    return "".join(f"{p}\n" for p in problems)


def manual_goldens(name: str, directory: Path) -> dict[str, str]:
    from pacsbot.knowledge.manuals import load_library

    library = load_library([directory])
    files: dict[str, str] = {}
    for manual in library.manuals:
        stem = manual.file.rsplit(".", 1)[0]
        files[f"{name}/manuals/{stem}.json"] = _json(_manual_record(manual))
        files[f"{name}/mrkdwn/{stem}.txt"] = _mrkdwn_of(manual)
    with _in_root():
        files[f"{name}/library-problems.txt"] = "".join(
            f"{Path(p.file).resolve().relative_to(ROOT).as_posix() if Path(p.file).is_absolute() else p.file}:{p.line}: {p.message}\n"
            for p in library.problems)
    for page, html in _site([directory]).items():
        files[f"{name}/site/{page}"] = html
    files[f"{name}/kb-check.txt"] = _check([directory])
    return files


# --------------------------------------------------------------------------------------
# training modules

def _module_record(module: Any) -> Any:
    if module is None:
        return None
    data = dataclasses.asdict(module)
    data["path"] = Path(module.path).name
    return data


def _module_mrkdwn(module: Any) -> str:
    from pacsbot.bot.render.mrkdwn import inline, to_mrkdwn
    from pacsbot.knowledge.markup import clean

    def md(text: str) -> str:
        return to_mrkdwn(clean(text))

    out = []
    for p in module.pages:
        out.append(f"=== page {p.number}: {p.title}\n{md(p.body)}\n")
    if module.quiz_intro:
        out.append(f"=== quiz intro\n{md(module.quiz_intro)}\n")
    for q in module.questions:
        out.append(f"=== question {q.number}: {inline(q.text)}\n")
        if q.body:
            out.append(f"{md(q.body)}\n")
        out.extend(f"- {inline(o.text)}\n" for o in q.options)
        out.append(f"--- explanation\n{md(q.explanation)}\n")
    return "".join(out)


def module_goldens(name: str, modules: Path, manuals: Path) -> dict[str, str]:
    from pacsbot.training.catalog import load_catalog
    from pacsbot.training.content import parse_module

    files: dict[str, str] = {}
    paths = sorted(modules.glob("*.md"))
    for path in paths:
        module, problems = parse_module(path, path.read_text(encoding="utf-8"))
        files[f"{name}/modules/{path.stem}.json"] = _json({
            "module": _module_record(module),
            "problems": [str(p).replace(str(path), path.name) for p in problems],
        })
    for label, base_url in (("plain", None), ("linked", BASE_URL)):
        catalog = load_catalog([modules], manual_dirs=[manuals], base_url=base_url)
        files[f"{name}/catalog-{label}-problems.txt"] = "".join(
            f"{p}\n".replace(str(modules) + os.sep, "") for p in sorted(catalog.problems, key=lambda p: (p.path, p.line)))
        for module in catalog.sorted():
            files[f"{name}/catalog-{label}/{module.id}.txt"] = _module_mrkdwn(module)
    return files


# --------------------------------------------------------------------------------------
# larger corpora, as digests

def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False, default=str).encode("utf-8")).hexdigest()[:16]


def corpus_digests(directory: Path) -> dict[str, Any]:
    from pacsbot.bot.render.mrkdwn import relative_resolver, to_mrkdwn
    from pacsbot.knowledge.manuals import load_library
    from pacsbot.knowledge.site import page_url

    library = load_library([directory])
    manuals: dict[str, Any] = {}
    for m in library.manuals:
        manuals[m.file] = {
            "sections": len(m.sections),
            # what the search index reads: must never change by accident
            "search": _digest([(s.key, s.heading, s.path, s.level, s.manual_title, s.text) for s in m.sections], m.tags, m.audience),
            "anchors": _digest(m.headings, sorted(m.anchors)),
            "links": _digest([(link.line, link.target, link.image) for link in m.links]),
            "markdown": _digest([s.markdown for s in m.sections]),
            "mrkdwn": _digest([to_mrkdwn(s.markdown, relative_resolver(BASE_URL, s.file, page_url)) for s in m.sections]),
        }
    with _in_root():
        from pacsbot.knowledge.lint import check

        problems = [str(p).replace(str(directory) + os.sep, "") for p in check([directory], today=TODAY)]
    return {"manuals": manuals, "kb_check": problems}


# --------------------------------------------------------------------------------------

def all_goldens() -> dict[str, str]:
    """Every golden file: relative path under tests/golden -> content."""
    files: dict[str, str] = {}
    files.update(manual_goldens("bundled", _bundled_manuals()))
    files.update(manual_goldens("edge", FIXTURES / "manuals"))
    files.update(module_goldens("training-bundled", _bundled_modules(), _bundled_manuals()))
    files.update(module_goldens("training-edge", FIXTURES / "modules", FIXTURES / "manuals"))
    files["corpora/orthanc.json"] = _json(corpus_digests(orthanc_book()))
    return files


def public_golden() -> tuple[str, str] | None:
    docs = public_manuals()
    if docs is None:
        return None
    return "corpora/public.json", _json(corpus_digests(docs))


def existing() -> dict[str, str]:
    skip = {FIXTURES}
    out = {}
    for p in sorted(GOLDEN.rglob("*")):
        if p.is_file() and not any(s in p.parents for s in skip):
            out[p.relative_to(GOLDEN).as_posix()] = p.read_text(encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tests.goldens")
    parser.add_argument("--check", action="store_true", help="list the golden files that differ; write nothing")
    args = parser.parse_args(argv)
    files = all_goldens()
    public = public_golden()
    if public is not None:
        files[public[0]] = public[1]
    old = existing()
    if public is None:
        old.pop("corpora/public.json", None)
    changed = sorted(k for k in files if old.get(k) != files[k])
    removed = sorted(k for k in old if k not in files)
    for k in changed:
        print(("changed " if k in old else "new     ") + k)
    for k in removed:
        print("removed " + k)
    if args.check:
        return 1 if changed or removed else 0
    for k in removed:
        (GOLDEN / k).unlink()
    for k in changed:
        target = GOLDEN / k
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(files[k], encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
