"""The knowledge base a running bot holds: manuals + index, reloaded without dropping requests.

Requests read :attr:`KnowledgeBase.snapshot` once and use that immutable snapshot to the end,
so a reload never changes an index under a search. A reload builds a complete new snapshot
off to the side and then swaps one reference (atomic in Python). Reloads happen:

* on demand (``/pacs kb reload``, :meth:`KnowledgeBase.reload`), and
* when files change: at most every ``reload_seconds``, a search checks the files' sizes and
  modification times (cheap); if they changed, one background thread rebuilds while
  searches go on with the old snapshot.

A file that cannot be parsed is reported in ``snapshot.problems`` and left out; the rest of
the manuals still load. If a rebuild fails as a whole, the old snapshot stays.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pacsbot.knowledge.manuals import Library, Manual, Problem, Section, load_library, signature
from pacsbot.knowledge.search import Index, Ranking, SearchResult
from pacsbot.knowledge.text import SYNONYMS_FILE, Synonyms

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    library: Library
    index: Index
    built_at: float                 # time.monotonic()
    synonyms_signature: Any

    @property
    def problems(self) -> tuple[Problem, ...]:
        return self.library.problems

    def manual(self, file: str) -> Manual | None:
        return self._manuals.get(file)

    @functools.cached_property
    def _manuals(self) -> dict[str, Manual]:
        """Each manual by its file (the first, as a scan would find): looked up per answer."""
        by_file: dict[str, Manual] = {}
        for m in self.library.manuals:
            by_file.setdefault(m.file, m)
        return by_file


@dataclass(frozen=True)
class Answer:
    """What the bot says to a question: the best section (``mode`` answer), "is it one of
    these?" (``choices``: the few best sections), or an honest "I don't know" (``unknown``)."""

    question: str
    answered: bool
    confidence: float
    section: Section | None
    manual: Manual | None
    see_also: tuple[Section, ...]
    result: SearchResult
    choices: tuple[Section, ...] = ()

    @property
    def mode(self) -> str:
        if self.answered:
            return "answer"
        return "choices" if self.choices else "unknown"

    @property
    def key(self) -> str | None:
        return self.section.key if self.section else None


@dataclass(frozen=True)
class ReloadReport:
    manuals: int
    sections: int
    problems: tuple[Problem, ...]
    changed: bool
    took_ms: float


# index and the problems found building it (an unusable synonyms file), by what it was built from
_INDEX_CACHE: dict[tuple[Any, ...], tuple[Index, tuple[Problem, ...]]] = {}
_INDEX_CACHE_LOCK = threading.Lock()


def _synonyms_signature(path: Path) -> tuple[str, int, int]:
    try:
        st = path.stat()
        return (str(path), st.st_mtime_ns, st.st_size)
    except OSError:
        return (str(path), 0, 0)


def build_snapshot(directories: Sequence[Path], *, synonyms_path: Path | None = None, ranking: Ranking | None = None) -> Snapshot:
    library = load_library(directories)
    synonyms_path = synonyms_path or SYNONYMS_FILE
    syn_sig = _synonyms_signature(synonyms_path)
    ranking = ranking or Ranking()
    key = (library.signature, syn_sig, ranking)
    with _INDEX_CACHE_LOCK:
        cached = _INDEX_CACHE.get(key)
    if cached is None:
        extra: tuple[Problem, ...] = ()
        try:
            synonyms = Synonyms.load(synonyms_path)
        except Exception as exc:  # noqa: BLE001 - a broken synonyms file must not stop answers
            log.error("knowledge: synonyms file %s is unusable (%s); searching without synonyms", synonyms_path, type(exc).__name__)
            synonyms = Synonyms.empty()
            extra = (Problem(str(synonyms_path), None, f"synonyms file is unusable: {exc}"),)
        tags = {m.file: m.tags for m in library.manuals}
        cached = (Index.build(library.sections, synonyms, ranking, tags_of=tags), extra)
        with _INDEX_CACHE_LOCK:
            if len(_INDEX_CACHE) > 8:
                _INDEX_CACHE.clear()
            _INDEX_CACHE[key] = cached
    index, extra = cached
    if extra:
        library = Library(library.manuals, library.problems + extra, library.signature)
    return Snapshot(library, index, time.monotonic(), syn_sig)


class KnowledgeBase:
    def __init__(
        self,
        directories: Sequence[Path],
        *,
        synonyms_path: Path | None = None,
        ranking: Ranking | None = None,
        reload_seconds: float = 10.0,
        vectors_in_background: bool = False,
    ):
        """``vectors_in_background``: with the semantic re-ranker, answer with words alone from
        the start and switch to the re-ranker once the section vectors are computed (a first
        start on new manuals takes a while), instead of waiting for them."""
        self.directories = list(directories)
        self.synonyms_path = synonyms_path or SYNONYMS_FILE
        self.ranking = ranking or Ranking()
        self.reload_seconds = reload_seconds
        self._rebuild_lock = threading.Lock()
        self._checked_at = time.monotonic()
        self.rebuilding: threading.Thread | None = None
        first = self._first_ranking(self.ranking, vectors_in_background)
        self._snapshot = build_snapshot(self.directories, synonyms_path=self.synonyms_path, ranking=first)
        self._report_problems(self._snapshot.problems)
        if first is not self.ranking:
            self.rebuilding = threading.Thread(target=self._add_vectors, name="kb-vectors", daemon=True)
            self.rebuilding.start()

    @staticmethod
    def _first_ranking(ranking: Ranking, vectors_in_background: bool) -> Ranking:
        return dataclasses.replace(ranking, semantic=False) if vectors_in_background and ranking.semantic else ranking

    @classmethod
    def prebuild(
        cls,
        directories: Sequence[Path],
        *,
        synonyms_path: Path | None = None,
        ranking: Ranking | None = None,
        vectors_in_background: bool = False,
    ) -> None:
        """Build the first snapshot a ``KnowledgeBase`` with these arguments builds, into the
        cache, on this thread, starting no thread. A server's master process calls this before
        it forks its workers: each worker's ``KnowledgeBase`` then finds the parsed manuals and
        the index in the cache, shared with the master copy-on-write, instead of building its own."""
        build_snapshot(list(directories), synonyms_path=synonyms_path or SYNONYMS_FILE,
                       ranking=cls._first_ranking(ranking or Ranking(), vectors_in_background))

    def _add_vectors(self) -> None:
        try:
            report = self.reload(force=True)
            log.info("knowledge: semantic re-ranker ready (%d sections, %.0f ms)", report.sections, report.took_ms)
        except Exception as exc:  # noqa: BLE001 - words alone still answer
            log.error("knowledge: the semantic re-ranker could not start (%s: %s); answering by words alone",
                      type(exc).__name__, exc)

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    # reloading ----------------------------------------------------------------------------
    def changed(self) -> bool:
        snap = self._snapshot
        return (signature(self.directories) != snap.library.signature
                or _synonyms_signature(self.synonyms_path) != snap.synonyms_signature)

    def reload(self, *, force: bool = False) -> ReloadReport:
        """Rebuild now (in this thread) if the files changed, or always with ``force``."""
        started = time.perf_counter()
        with self._rebuild_lock:
            changed = force or self.changed()
            if changed:
                new = build_snapshot(self.directories, synonyms_path=self.synonyms_path, ranking=self.ranking)
                self._snapshot = new  # the swap: one reference assignment
                self._report_problems(new.problems)
            self._checked_at = time.monotonic()
        snap = self._snapshot
        return ReloadReport(len(snap.library.manuals), len(snap.index), snap.problems, changed,
                            (time.perf_counter() - started) * 1000)

    def maybe_reload(self) -> None:
        """If it is time to look, check the files in the background and rebuild if they changed.

        Never blocks the search that triggers it: looking at a large manuals tree, and
        rebuilding, both happen on one background thread at a time.
        """
        if self.reload_seconds <= 0 or time.monotonic() - self._checked_at < self.reload_seconds:
            return
        if self._rebuild_lock.locked() or (self.rebuilding is not None and self.rebuilding.is_alive()):
            return
        self._checked_at = time.monotonic()

        def check_and_rebuild() -> None:
            try:
                if not self.changed():
                    return
                report = self.reload()
                log.info("knowledge: manuals changed; reloaded %d manuals, %d sections in %.0f ms",
                         report.manuals, report.sections, report.took_ms)
            except Exception:  # noqa: BLE001 - keep answering from the old snapshot
                log.exception("knowledge: reload failed; still answering from the previous manuals")

        self.rebuilding = threading.Thread(target=check_and_rebuild, name="kb-reload", daemon=True)
        self.rebuilding.start()

    def _report_problems(self, problems: Iterable[Problem]) -> None:
        for problem in problems:
            log.warning("knowledge: %s (file skipped or partly read)", problem)

    # answering ----------------------------------------------------------------------------
    def search(self, question: str, *, audience: Iterable[str] = (), limit: int = 10) -> SearchResult:
        self.maybe_reload()
        return self._snapshot.index.search(question, audience=audience, limit=limit)

    def answer(self, question: str, *, audience: Iterable[str] = ()) -> Answer:
        self.maybe_reload()
        snap = self._snapshot
        result = snap.index.search(question, audience=audience, limit=10)
        best = result.best
        if best is None:
            return Answer(question, False, 0.0, None, None, (), result)
        see_also = tuple(h.section for h in result.see_also(snap.index.ranking)) if result.answered else ()
        choices = tuple(h.section for h in snap.index.choices(result)) if result.mode == "choices" else ()
        return Answer(question, result.answered, result.confidence, best.section, snap.manual(best.section.file), see_also, result,
                      choices)

    def answer_written_for(self, question: str, tiers: Sequence[Iterable[str]], *, audience: Iterable[str] = ()) -> Answer:
        """The best section for ``question`` among those whose manual is written for the first
        tier of audience words that has one (a manual without ``audience`` is for ``all``).

        Only sections scoring at least ``see_also_ratio`` of the best one take part, so the
        choice stays on the question's topic; with none in any tier it is :meth:`answer`'s.
        ``audience`` is the usual boost. The downtime procedure shown in an outage notice is
        chosen like this: a radiologist gets the reading steps, a technologist theirs.
        """
        self.maybe_reload()
        snap = self._snapshot
        result = snap.index.search(question, audience=audience, limit=40)
        if result.mode == "unknown":
            return self.answer(question, audience=audience)  # "I don't know", as usual
        # the caller's own fixed question: a section the search is unsure of is still on topic
        ranking = snap.index.ranking
        floor = result.hits[0].score * ranking.see_also_ratio
        relevant = [h for h in result.hits if h.score >= floor and h.confidence >= ranking.choices_confidence]
        for tier in tiers:
            wanted = {w.lower() for w in tier}
            chosen = next((h for h in relevant if wanted & set(h.section.audience or ("all",))), None)
            if chosen is not None:
                others = tuple(h.section for h in relevant if h is not chosen)[:2]
                return Answer(question, True, chosen.confidence, chosen.section, snap.manual(chosen.section.file), others, result)
        if relevant:  # no tier has one: the plain best
            best = relevant[0]
            others = tuple(h.section for h in relevant[1:3])
            return Answer(question, True, best.confidence, best.section, snap.manual(best.section.file), others, result)
        return self.answer(question, audience=audience)

    def section(self, key: str) -> tuple[Section, Manual | None] | None:
        snap = self._snapshot
        section = snap.index.section(key)
        if section is None:
            return None
        return section, snap.manual(section.file)
