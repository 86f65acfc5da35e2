"""Answers from the manuals: quality on question sets for three corpora, latency, and scale.

    python3 dev.py bench knowledge [--corpus NAME] [--misses] [--compare] [--sweep] [--no-scale]
                                   [--public-manuals DIR]

Quality, for each corpus and question set (``--corpus bundled|public|orthanc`` picks one):

* ``bundled``: pacsbot's own manuals (``knowledge/manuals``) with
  ``benchmarks/data/kb_questions.yml``;
* ``public``: three public viewer manuals (Weasis, 3D Slicer, OHIF) in
  ``../shared/public-manuals/docs`` with ``kb_public_questions.yml`` and
  ``kb_public_heldout.yml``, when that folder exists (``--public-manuals DIR``);
* ``orthanc``: the Orthanc Book (an archive's admin guide and its viewers' user pages), shipped in
  ``benchmarks/data/corpus-orthanc/book`` (see its SOURCES.md), with
  ``kb_orthanc_questions.yml``. The search was never tuned on this corpus and its questions
  were written before any result was seen: do not tune anything on it (``--compare`` and
  ``--sweep`` leave it out on purpose).

Each set is measured with the search as configured (the ``chosen`` ranking) and with its peer,
plain BM25 over one field (``Ranking(model="bm25")``), in the same run. Figures:

* file@1, file@3: the right page among the first 1 / 3 hits (any accepted section's file);
* sec@1, sec@3: an accepted section among the first 1 / 3 hits;
* decl-ans: share of answerable questions declined (wrongly);
* decl-off: share of off-topic questions declined (rightly);
* conf-right@1: of the questions answered with confidence (answerable and off-topic alike),
  the share whose first hit is an accepted section;
* AUROC: how well the confidence separates answerable from off-topic questions (1.0 = every
  answerable question is more confident than every off-topic one; 0.5 = chance);
* p50 / p95: search latency in ms.

"Declined" is ``mode == "unknown"`` when the search result has a ``mode``
(answer | choices | unknown); then the modes are counted too, and "choices" is neither an
answer nor a decline (it counts against conf-right@1's denominator only when mode is
"answer"). Without ``mode``, declined is ``not answered``.

Scale: 10,000 sections of real manual text (real headings and paragraphs of the corpora above,
recombined), the index built (target < 5 s), and 500 of the benchmark's questions searched,
interleaved with the peer, rank_bm25's BM25Okapi on the same text (targets: p95 < 5 ms and at
most 0.5x the peer's p95).

``--check-sets`` only checks that every accepted answer is a section with text in its corpus
(no search is run). The exit status is 1 when a printed target (bundled, Orthanc, scale) is not
met.

``--compare`` ranks the bundled and public sets with other ranking variants (plain BM25 on one
field, TF-IDF cosine, no synonyms, no typo correction, no coverage); ``--sweep`` prints how
the decline rates move with the confidence threshold. Timings on a shared 2-core machine are
noisy: run twice and read the better figure.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
BUNDLED_SET = DATA / "kb_questions.yml"
PUBLIC_SET = DATA / "kb_public_questions.yml"
# Written later, by someone who had not seen the search engine, and never used for tuning.
HELDOUT_SET = DATA / "kb_public_heldout.yml"
# A corpus the search was never tuned on, and questions written before any result was seen.
ORTHANC_DIR = DATA / "corpus-orthanc" / "book"
ORTHANC_SET = DATA / "kb_orthanc_questions.yml"
# The steering repository's shared/ folder sits next to the checkout (or next to its worktrees).
PUBLIC_DIR_DEFAULT = next(
    (p / "shared" / "public-manuals" / "docs" for p in (ROOT.parent, ROOT.parent.parent)
     if (p / "shared" / "public-manuals" / "docs").is_dir()),
    ROOT.parent / "shared" / "public-manuals" / "docs",
)
CORPORA = ("bundled", "public", "orthanc")

TARGET_TOP3 = 0.90
TARGET_TOP1 = 0.75
TARGET_DECLINE = 0.90
TARGET_P95_MS = 5.0       # at 10,000 sections (issue 15)
TARGET_P95_RATIO = 0.5    # ... and at most half a plain BM25's p95 on the same text
TARGET_BUILD_S = 5.0

# The issue's targets for the corpus nobody tuned on (the Orthanc Book).
ORTHANC_TARGETS = (
    # (label, attribute, comparison, value)
    ("file@3", "file3", ">=", 0.90),
    ("sec@3", "top3", ">=", 0.80),
    ("off-topic declined", "declined_off_count", ">=", 8),
    ("answerable declined", "false_declined", "<=", 0.10),
    ("confident answers right at top 1", "precision", ">=", 0.85),
)

Questions = tuple[list[tuple[str, list[str]]], list[str]]


@dataclasses.dataclass
class Quality:
    name: str
    answerable: int
    top1: float               # section@1
    top3: float               # section@3
    unanswerable: int
    declined: float           # share of off-topic questions declined
    false_declined: float     # share of answerable questions declined
    p50_ms: float
    p95_ms: float
    misses: list[str]
    file1: float = 0.0
    file3: float = 0.0
    precision: float | None = None     # confident answers right at top 1 (None: nothing answered)
    answered: int = 0                  # questions answered with confidence (both kinds)
    auroc: float | None = None
    modes_answerable: Counter[str] | None = None   # only when results have ``mode``
    modes_off_topic: Counter[str] | None = None

    @property
    def declined_off_count(self) -> int:
        return round(self.declined * self.unanswerable)


def load_set(path: Path) -> Questions:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    answerable = []
    for item in data.get("answerable") or []:
        raw = item["expect"] if "expect" in item else item["a"]
        expect = raw if isinstance(raw, list) else [raw]
        answerable.append((str(item["q"]), [str(e) for e in expect]))
    return answerable, [str(q) for q in data.get("unanswerable") or []]


def missing_keys(questions: Questions, sections: Any) -> list[str]:
    """Accepted answers that are not a section with text in ``sections`` (a section without
    text is never indexed, so it can never be a hit)."""
    have = {s.key for s in sections if s.text.strip()}
    return sorted({k for _, expect in questions[0] for k in expect if k not in have})


def _mode(result: Any) -> str | None:
    mode = getattr(result, "mode", None)
    return str(getattr(mode, "value", mode)) if mode is not None else None


def _declined(result: Any, threshold: float | None) -> bool:
    if threshold is not None:
        return result.confidence < threshold
    mode = _mode(result)
    if mode is not None:
        return mode == "unknown"
    return not result.answered


def _confident(result: Any, threshold: float | None) -> bool:
    """Answered outright (not declined, and not a list of choices)."""
    if threshold is not None:
        return result.confidence >= threshold
    mode = _mode(result)
    if mode is not None:
        return mode == "answer"
    return bool(result.answered)


def auroc(positives: list[float], negatives: list[float]) -> float | None:
    """P(a random answerable question is more confident than a random off-topic one); ties half."""
    if not positives or not negatives:
        return None
    wins = 0.0
    for p in positives:
        for n in negatives:
            wins += 1.0 if p > n else 0.5 if p == n else 0.0
    return wins / (len(positives) * len(negatives))


def _file(key: str) -> str:
    return key.split("#", 1)[0]


def evaluate(name: str, index: Any, questions: Questions, *, threshold: float | None = None) -> Quality:
    """Quality of ``index`` on a question set. ``threshold`` replaces the search's own decision
    (declined = confidence below it), for the sweep."""
    answerable, unanswerable = questions
    top1 = top3 = file1 = file3 = false_declined = 0
    answered = right_answered = 0
    times: list[float] = []
    misses: list[str] = []
    pos: list[float] = []
    neg: list[float] = []
    has_mode = False
    modes_a: Counter[str] = Counter()
    modes_o: Counter[str] = Counter()
    for q, expect in answerable:
        t0 = time.perf_counter()
        result = index.search(q, limit=5)
        times.append((time.perf_counter() - t0) * 1000)
        mode = _mode(result)
        if mode is not None:
            has_mode = True
            modes_a[mode] += 1
        keys = [h.key for h in result.hits]
        files = {_file(k) for k in expect}
        hit1 = bool(keys[:1]) and keys[0] in expect
        top1 += hit1
        file1 += bool(keys[:1]) and _file(keys[0]) in files
        file3 += any(_file(k) in files for k in keys[:3])
        if any(k in expect for k in keys[:3]):
            top3 += 1
        else:
            misses.append(f"{q!r}: got {keys[:3]} want {expect}")
        pos.append(result.confidence)
        if _declined(result, threshold):
            false_declined += 1
            misses.append(f"{q!r}: declined (confidence {result.confidence:.2f}{', mode ' + mode if mode else ''}; top {keys[:1]})")
        elif _confident(result, threshold):
            answered += 1
            right_answered += hit1
            if not hit1:
                misses.append(f"{q!r}: answered confidently ({result.confidence:.2f}) with {keys[:1]}, want {expect}")
    declined = 0
    for q in unanswerable:
        t0 = time.perf_counter()
        result = index.search(q, limit=5)
        times.append((time.perf_counter() - t0) * 1000)
        mode = _mode(result)
        if mode is not None:
            has_mode = True
            modes_o[mode] += 1
        neg.append(result.confidence)
        if _declined(result, threshold):
            declined += 1
        else:
            if _confident(result, threshold):
                answered += 1
            misses.append(f"off-topic {q!r}: {mode or 'answered'} {result.best.key if result.best else None} "
                          f"(confidence {result.confidence:.2f}) but should decline")
    n = len(answerable) or 1
    return Quality(
        name, len(answerable), top1 / n, top3 / n, len(unanswerable),
        declined / (len(unanswerable) or 1), false_declined / n,
        statistics.median(times) if times else 0.0, _pct(times, 95), misses,
        file1=file1 / n, file3=file3 / n,
        precision=(right_answered / answered) if answered else None, answered=answered,
        auroc=auroc(pos, neg),
        modes_answerable=modes_a if has_mode else None, modes_off_topic=modes_o if has_mode else None,
    )


def _pct(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, int(round(pct / 100 * len(ordered) + 0.5)) - 1))
    return ordered[k]


def build_index(directory: Path, ranking: Any = None, *, synonyms: bool = True) -> Any:
    """The index the bot would build for ``directory`` (``knowledge.base.build_snapshot``), or
    one without synonyms for the ``--compare`` variant."""
    from pacsbot.knowledge.search import Ranking

    if synonyms:
        from pacsbot.knowledge.base import build_snapshot

        return build_snapshot([directory], ranking=ranking or Ranking()).index
    from pacsbot.knowledge.manuals import load_library
    from pacsbot.knowledge.search import Index
    from pacsbot.knowledge.text import Synonyms

    library = load_library([directory])
    return Index.build(library.sections, Synonyms.empty(), ranking or Ranking(), tags_of={m.file: m.tags for m in library.manuals})


def _pc(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def print_quality(rows: list[Quality]) -> None:
    print(f"{'set':<40} {'n':>4} {'off':>4} {'file@1':>7} {'file@3':>7} {'sec@1':>7} {'sec@3':>7} "
          f"{'decl-ans':>8} {'decl-off':>8} {'conf-right@1':>12} {'AUROC':>6} {'p50 ms':>7} {'p95 ms':>7}")
    for r in rows:
        auc = "—" if r.auroc is None else f"{r.auroc:.3f}"
        right = _pc(r.precision) + (f" ({r.answered})" if r.precision is not None else "")
        print(f"{r.name:<40} {r.answerable:>4} {r.unanswerable:>4} {r.file1:>7.1%} {r.file3:>7.1%} {r.top1:>7.1%} "
              f"{r.top3:>7.1%} {r.false_declined:>8.1%} {r.declined:>8.1%} {right:>12} {auc:>6} {r.p50_ms:>7.2f} {r.p95_ms:>7.2f}")
    moded = [r for r in rows if r.modes_answerable is not None]
    if moded:
        print("\nmodes (answer / choices / unknown):")
        for r in moded:
            a, o = r.modes_answerable or Counter(), r.modes_off_topic or Counter()
            extra = sorted((set(a) | set(o)) - {"answer", "choices", "unknown"})
            tail = f"  other: {', '.join(extra)}" if extra else ""
            print(f"  {r.name:<38} answerable {a['answer']:>3} / {a['choices']:>3} / {a['unknown']:>3}   "
                  f"off-topic {o['answer']:>3} / {o['choices']:>3} / {o['unknown']:>3}{tail}")


def check_targets(r: Quality) -> bool:
    """Print the issue's targets for the untuned corpus next to its figures; True if all met."""
    ok = True
    print(f"\ntargets for {r.name}:")
    for label, attr, op, want in ORTHANC_TARGETS:
        value = getattr(r, attr)
        if value is None:
            met = False
            shown = "—"
        else:
            met = value >= want if op == ">=" else value <= want
            shown = f"{value} of {r.unanswerable}" if isinstance(want, int) else f"{value:.1%}"
        goal = f"{want} of {r.unanswerable}" if isinstance(want, int) else f"{want:.0%}"
        print(f"  {label:<34} {shown:>10}  (target {op} {goal}): {'met' if met else 'NOT MET'}")
        ok = ok and met
    return ok


# --------------------------------------------------------------------------------------
# scale

def realistic_sections(n: int, directories: list[Path], seed: int = 7) -> list[Any]:
    """``n`` sections made of real manual text: each takes a real heading and two to four real
    paragraphs drawn from the manuals in ``directories`` (the bundled manuals, the Orthanc
    Book and, when present, the public manuals), so the words, their frequencies and the
    section lengths are those of real manuals, at hospital scale."""
    from pacsbot.knowledge.manuals import Section, load_library

    rng = random.Random(seed)
    real = [sec for sec in load_library(directories).sections if sec.text.strip()]
    headings = [sec.heading for sec in real if sec.level]
    paragraphs = [para.strip() for sec in real for para in sec.text.split("\n\n") if len(para.split()) >= 8]
    if not paragraphs:  # plain text without blank lines: sentences of the sections instead
        paragraphs = [sent.strip() for sec in real for sent in sec.text.split(". ") if len(sent.split()) >= 8]
    sections = []
    for i in range(n):
        body = "\n\n".join(rng.sample(paragraphs, rng.randint(2, 4)))
        sections.append(Section(
            file=f"site-{i // 12:04d}.md", anchor=f"s{i}", heading=rng.choice(headings), level=2, path=(),
            markdown=body, text=body, line=1, manual_title=f"Site manual {i // 12}",
        ))
    return sections


def scale_questions(sets: list[Path], count: int) -> list[str]:
    """The benchmark's own questions (answerable and off-topic), repeated up to ``count``."""
    asked: list[str] = []
    for path in sets:
        answerable, off_topic = load_set(path)
        asked += [q for q, _ in answerable] + off_topic
    return [asked[i % len(asked)] for i in range(count)]


def scale_test(directories: list[Path], sets: list[Path], n: int = 10_000, queries: int = 500) -> dict[str, float]:
    """Build the index over ``n`` realistic sections and time ``queries`` searches, interleaved
    with the peer: rank_bm25's BM25Okapi (an off-the-shelf plain BM25) on the same text,
    tokenized the same way, taking its top 10."""
    import numpy as np
    from rank_bm25 import BM25Okapi

    from pacsbot.knowledge.search import Index
    from pacsbot.knowledge.text import STOPWORDS, Synonyms, words

    sections = realistic_sections(n, directories)
    synonyms = Synonyms.load()
    started = time.perf_counter()
    index = Index.build(sections, synonyms)
    build_s = time.perf_counter() - started

    def tokens(text: str) -> list[str]:
        return [w for w in words(text) if w not in STOPWORDS]

    started = time.perf_counter()
    peer = BM25Okapi([tokens(f"{s.heading} {s.text}") for s in sections])
    peer_build_s = time.perf_counter() - started
    ours: list[float] = []
    theirs: list[float] = []
    for q in scale_questions(sets, queries):
        t0 = time.perf_counter()
        index.search(q)
        ours.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        scores = peer.get_scores(tokens(q))
        np.argpartition(-scores, 10)[:10]
        theirs.append((time.perf_counter() - t0) * 1000)
    return {"sections": float(n), "build_s": build_s, "peer_build_s": peer_build_s,
            "p50_ms": statistics.median(ours), "p95_ms": _pct(ours, 95), "max_ms": max(ours),
            "peer_p50_ms": statistics.median(theirs), "peer_p95_ms": _pct(theirs, 95)}

# --------------------------------------------------------------------------------------

def variants() -> list[tuple[str, dict[str, Any], bool]]:
    from pacsbot.knowledge.search import Ranking

    default = Ranking()
    return [
        ("chosen: BM25F+syn+typo+coverage", {}, True),
        ("BM25 one field (+syn+typo+cov)", {"model": "bm25"}, True),
        ("TF-IDF cosine (+syn+typo+cov)", {"model": "tfidf"}, True),
        ("BM25F, no coverage scaling", {"coverage_power": 0.0}, True),
        ("BM25F, no synonyms", {}, False),
        ("BM25F, no typo correction", {"typos": False}, True),
        ("BM25F, headings weight 1", {"weights": tuple((f, 1.0) for f, _ in default.weights)}, True),
        ("BM25F, coverage power 2", {"coverage_power": 2.0}, True),
    ]


def check_sets(only: str | None, public_dir: Path) -> int:
    """Every accepted answer of every question set is a section with text in its corpus: the
    one check allowed on a held-out set before its first run (it looks at keys, not rankings)."""
    from pacsbot.knowledge.config import BUNDLED_MANUALS
    from pacsbot.knowledge.manuals import load_library

    plan = [("bundled", BUNDLED_MANUALS, [BUNDLED_SET]), ("public", public_dir, [PUBLIC_SET, HELDOUT_SET]),
            ("orthanc", ORTHANC_DIR, [ORTHANC_SET])]
    status = 0
    for corpus, directory, paths in plan:
        if only and corpus != only:
            continue
        if not directory.is_dir():
            print(f"{corpus}: {directory} not found, skipped")
            continue
        library = load_library([directory])
        for path in paths:
            if not path.exists():
                continue
            qs = load_set(path)
            broken = missing_keys(qs, library.sections)
            print(f"{corpus}: {path.name}: {len(qs[0])} answerable, {len(qs[1])} off-topic, "
                  f"{len(library.manuals)} manuals: " + ("all accepted answers present" if not broken else
                                                         f"{len(broken)} missing or without text: {', '.join(broken)}"))
            status |= bool(broken)
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.knowledge")
    parser.add_argument("--corpus", choices=CORPORA, help="measure one corpus only (default: all that are present)")
    parser.add_argument("--compare", action="store_true", help="compare ranking variants (bundled and public only)")
    parser.add_argument("--sweep", action="store_true", help="decline rates across confidence thresholds (bundled and public only)")
    parser.add_argument("--no-scale", action="store_true", help="skip the 10,000-section scale test")
    parser.add_argument("--misses", action="store_true", help="list questions ranked wrongly or declined wrongly")
    parser.add_argument("--check-sets", action="store_true",
                        help="only check that every accepted answer is a section with text (no search is run)")
    parser.add_argument("--public-manuals", type=Path, default=PUBLIC_DIR_DEFAULT, metavar="DIR")
    parser.add_argument("--words-only", action="store_true",
                        help="measure without the semantic re-ranker even when it is installed")
    args = parser.parse_args(argv or [])
    sys.path.insert(0, str(ROOT))
    from pacsbot.knowledge.config import BUNDLED_MANUALS
    from pacsbot.knowledge.search import Ranking

    if args.check_sets:
        return check_sets(args.corpus, args.public_manuals)

    wanted = [args.corpus] if args.corpus else list(CORPORA)
    have_public = args.public_manuals.is_dir()
    corpora: list[tuple[str, Path, list[tuple[str, Path]]]] = []
    if "bundled" in wanted:
        corpora.append(("bundled", BUNDLED_MANUALS, [("", BUNDLED_SET)]))
    if "public" in wanted:
        if have_public:
            sets = [("", PUBLIC_SET)] + ([("held out", HELDOUT_SET)] if HELDOUT_SET.exists() else [])
            corpora.append(("public", args.public_manuals, sets))
        else:
            print(f"(public manuals not found at {args.public_manuals}: public sets skipped)")
    if "orthanc" in wanted:
        corpora.append(("orthanc", ORTHANC_DIR, [("", ORTHANC_SET)]))

    print("Answers from the manuals — quality (the first set of each corpus includes no warm-up; "
          "2-core shared machine, timings noisy)\n")
    from pacsbot.knowledge import semantic

    use_semantic = semantic.available() and not args.words_only
    chosen = Ranking.default(semantic=use_semantic)
    words_only = Ranking() if use_semantic else None
    peer = dataclasses.replace(Ranking(), model="bm25")
    if not use_semantic:
        print("(semantic re-ranker " + ("left out: --words-only" if args.words_only else
              f"not installed: {semantic.INSTALL_HINT}") + "; measuring words-only ranking)\n")
    rows: list[Quality] = []
    by_corpus: dict[str, list[Quality]] = {}
    indexes: dict[str, Any] = {}
    questions: dict[str, Questions] = {}
    builds: list[str] = []
    ok = True
    for corpus, directory, sets in corpora:
        t0 = time.perf_counter()
        index = build_index(directory, chosen)
        builds.append(f"{corpus} {(time.perf_counter() - t0) * 1000:.0f} ms")
        peer_index = build_index(directory, peer)
        indexes[corpus] = index
        for label, path in sets:
            qs = load_set(path)
            if not label:
                questions[corpus] = qs
            broken = missing_keys(qs, index.sections)
            if broken:  # reported, not fatal: the set's other accepted answers still count
                print(f"note: {path.name}: {len(broken)} accepted answer(s) are not an indexed section of the {corpus} "
                      f"corpus (absent, or a heading without text), so they can never be hit: {', '.join(broken[:6])}")
            name = f"{corpus}{', ' + label if label else ''} ({len(index)} sections)"
            pair = [evaluate(name + (", semantic" if use_semantic else ""), index, qs)]
            if words_only is not None:
                pair.append(evaluate("  words only (no re-ranker)", build_index(directory, words_only), qs))
            pair.append(evaluate("  peer: plain BM25", peer_index, qs))
            rows.extend(pair)
            by_corpus.setdefault(corpus, []).extend(pair)
    print_quality(rows)
    print(f"\nindex build (chosen ranking): {'; '.join(builds)}")
    print("conf-right@1: share of confident answers whose first hit is right (their number in brackets); "
          "decl-*: declined" + (" (mode unknown)" if any(r.modes_answerable is not None for r in rows) else
                                f" (not answered; threshold {chosen.min_confidence})"))

    if "bundled" in by_corpus:
        b = by_corpus["bundled"][0]
        met = b.top3 >= TARGET_TOP3 and b.top1 >= TARGET_TOP1 and b.declined >= TARGET_DECLINE
        print(f"\ntargets (bundled): sec@3 >= {TARGET_TOP3:.0%}, sec@1 >= {TARGET_TOP1:.0%}, "
              f"off-topic declined >= {TARGET_DECLINE:.0%}: {'met' if met else 'NOT MET'}")
        ok = ok and met
    if "orthanc" in by_corpus:
        ok = check_targets(by_corpus["orthanc"][0]) and ok

    if args.misses:
        for r in rows:
            if r.name.strip().startswith("peer"):
                continue
            print(f"\nmisses in {r.name}:")
            for m in r.misses:
                print("  " + m)

    if args.compare:
        print("\nRanking variants (bundled and public sets; the Orthanc set is never used to choose a variant):\n")
        cmp_rows = []
        for name, changes, synonyms in variants():
            ranking = dataclasses.replace(Ranking(), **changes)
            if "bundled" in questions:
                cmp_rows.append(evaluate(f"B {name}", build_index(BUNDLED_MANUALS, ranking, synonyms=synonyms), questions["bundled"]))
            if "public" in questions:
                cmp_rows.append(evaluate(f"P {name}", build_index(args.public_manuals, ranking, synonyms=synonyms), questions["public"]))
        print_quality(cmp_rows)

    if args.sweep:
        print("\nConfidence threshold sweep (declined off-topic / wrongly declined answerable; bundled and public only):\n")
        print(f"{'threshold':>9}  {'bundled':>17}  {'public':>17}")
        for t in (0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8):
            line = f"{t:>9.2f}"
            for corpus in ("bundled", "public"):
                if corpus in questions:
                    r = evaluate(corpus, indexes[corpus], questions[corpus], threshold=t)
                    line += f"  {r.declined:>7.1%} / {r.false_declined:>6.1%}"
                else:
                    line += f"  {'—':>17}"
            print(line)

    if not args.no_scale:
        scale_dirs = [BUNDLED_MANUALS, ORTHANC_DIR] + ([args.public_manuals] if have_public else [])
        print(f"\nScale: 10,000 sections of real manual text (headings and paragraphs of {len(scale_dirs)} corpora, "
              "recombined), words-only ranking; peer: rank_bm25 BM25Okapi on the same text, interleaved\n")
        s = scale_test(scale_dirs, [BUNDLED_SET, ORTHANC_SET])
        ratio = s["p95_ms"] / s["peer_p95_ms"] if s["peer_p95_ms"] else float("inf")
        build_ok = s["build_s"] < TARGET_BUILD_S
        p95_ok = s["p95_ms"] < TARGET_P95_MS and ratio <= TARGET_P95_RATIO
        print(f"{'':<22} {'build s':>8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
        print(f"{'pacsbot':<22} {s['build_s']:>8.2f} {s['p50_ms']:>8.2f} {s['p95_ms']:>8.2f} {s['max_ms']:>8.2f}")
        print(f"{'peer: plain BM25':<22} {s['peer_build_s']:>8.2f} {s['peer_p50_ms']:>8.2f} {s['peer_p95_ms']:>8.2f}")
        print(f"\nindex build {s['build_s']:.2f} s (target < {TARGET_BUILD_S:.0f} s): {'met' if build_ok else 'MISSED'}; "
              f"search p95 {s['p95_ms']:.2f} ms = {ratio:.2f}x the peer's (targets < {TARGET_P95_MS:g} ms and "
              f"<= {TARGET_P95_RATIO:g}x): {'met' if p95_ok else 'MISSED'}")
        ok = ok and build_ok and p95_ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
