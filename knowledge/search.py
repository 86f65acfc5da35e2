"""The search index: BM25F over manual sections, synonyms, typo tolerance, and a confidence.

Ranking (chosen by measuring, see ``benchmarks/knowledge.py`` and the admin guide):

1. **BM25F** over five fields of a section with their own weights and length normalisation:
   its heading, the headings above it, the manual's title, the manual's tags, and its body.
   Term statistics are precomputed at build time, so a query only adds up posting weights.
2. **Synonyms**: every synonym group found in a section or question adds a *concept* term
   (``knowledge/synonyms.yml``), weighted below the literal word.
3. **Typos**: a question word that is not in the manuals' vocabulary is matched with
   rapidfuzz against words of similar length that start with the same letter.
4. **Coverage**: the share of the question's meaning (its words weighted by how rare they
   are in the manuals) that a section contains. Words the manuals never use ("cafeteria")
   weigh as much as the rarest word, so a question about something else has low coverage
   even when its common words match. The final score is BM25F scaled by coverage, and the
   **confidence** of an answer is the coverage of the best section; below the threshold the
   bot says it does not know.
5. **Audience**: sections whose manual is written for the asker's role get a small boost.

An :class:`Index` is immutable once built; the knowledge base swaps a new one in atomically.
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import OSA

from pacsbot.knowledge.calibration import UNCALIBRATED, Calibration, calibrate
from pacsbot.knowledge.manuals import Section
from pacsbot.knowledge.text import STOPWORDS, Synonyms, content_tokens, is_content, stem, token_stems, token_words, words


@dataclass(frozen=True)
class Ranking:
    """Tunable parameters of the ranking. The defaults are what the benchmark chose."""

    k1: float = 1.2
    weights: tuple[tuple[str, float], ...] = (("heading", 3.0), ("path", 1.0), ("title", 1.5), ("tags", 1.0), ("body", 1.0))
    b: tuple[tuple[str, float], ...] = (("heading", 0.4), ("path", 0.4), ("title", 0.3), ("tags", 0.3), ("body", 0.75))
    concept_weight: float = 0.6
    phrase_weight: float = 2.0       # a synonym matched by a phrase of several words weighs this much more
    fuzzy_weight: float = 0.85
    typos: bool = True               # correct misspelt words with rapidfuzz
    unknown_weight: float = 0.7      # importance of a word the manuals never use, relative to the rarest
    coverage_power: float = 1.0      # final = bm25 * coverage ** power
    heading_bonus: float = 0.5       # final *= 1 + bonus * (share of the question found in the headings)
    audience_boost: float = 1.15
    min_confidence: float = 0.6      # calibrated confidence from which the best section is the answer
    choices_confidence: float = 0.25  # from here up to min_confidence: "is it one of these?" (top 3)
    calibrate: bool = True           # calibrate the confidence on this corpus at build time
    # confidence = sigmoid(w_position * position + w_coverage * coverage + bias), see
    # knowledge/calibration.py; fitted on the bundled and public tuning sets (coverage added
    # nothing once the score is placed on the corpus's own scale, so its weight is 0)
    w_position: float = Calibration.w_position
    w_coverage: float = Calibration.w_coverage
    bias: float = Calibration.bias
    see_also_ratio: float = 0.5      # a "see also" must score at least this share of the best
    model: str = "bm25f"             # bm25f | bm25 (one field) | tfidf (for the benchmark)
    # the optional semantic re-ranker (knowledge/semantic.py, the ``semantic`` extra): a section's
    # final score is (1 - semantic_weight) * its lexical score / the best lexical score
    # + semantic_weight * the cosine similarity of its vector and the question's; candidates are
    # the lexical pool plus the semantic_pool sections nearest in meaning. Its confidence adds
    # the cosine (placed on the corpus's own scale) to the lexical position, with these weights,
    # fitted like the lexical ones on the bundled and public tuning sets.
    semantic: bool = False
    semantic_weight: float = 0.75
    semantic_pool: int = 20
    sem_w_position: float = 2.37
    sem_w_cosine: float = 0.64
    sem_bias: float = -0.8

    @classmethod
    def default(cls, *, semantic: bool = False) -> "Ranking":
        """The ranking the bot uses, by words alone or with the semantic re-ranker. Its two
        thresholds were chosen on the tuning sets (bundled and public manuals): it answers
        outright from 0.8, the lowest threshold at which confident answers on every tuning set
        were at least 90% right (0.6 gave 88%), and offers choices from 0.35, where it declines
        as many off-topic questions on the bundled manuals as words alone (85%) while
        declining under 10% of the answerable ones on both sets."""
        return cls(semantic=True, min_confidence=0.8, choices_confidence=0.35) if semantic else cls()


FIELDS = ("heading", "path", "title", "tags", "body")


class Hit(NamedTuple):
    """One ranked section. A named tuple, not a frozen dataclass: a search builds ten of these
    inside the ack, and a frozen dataclass's ``__init__`` costs ~3x as much."""

    section: Section
    score: float
    confidence: float  # calibrated on this corpus (0-1); see Calibration
    bm25: float
    coverage: float = 0.0  # the share of the question's meaning this section holds
    cosine: float | None = None  # similarity in meaning to the question (semantic re-ranker only)

    @property
    def key(self) -> str:
        return self.section.key


MODES = ("answer", "choices", "unknown")


@dataclass(frozen=True)
class SearchResult:
    question: str
    hits: tuple[Hit, ...]
    answered: bool  # mode == "answer"
    confidence: float
    took_ms: float
    unknown_words: tuple[str, ...] = ()
    corrections: tuple[tuple[str, str], ...] = ()
    mode: str = "unknown"  # answer: the best section | choices: "is it one of these?" | unknown: "I don't know"

    @property
    def best(self) -> Hit | None:
        return self.hits[0] if self.hits else None

    def see_also(self, ranking: Ranking, limit: int = 2) -> list[Hit]:
        """Up to ``limit`` further sections worth a look (other sections, decent scores)."""
        if not self.hits:
            return []
        top = self.hits[0]
        out: list[Hit] = []
        for hit in self.hits[1:]:
            if len(out) >= limit:
                break
            if hit.key == top.key or hit.confidence < ranking.min_confidence * 0.8:
                continue
            if hit.score < top.score * ranking.see_also_ratio:
                break
            out.append(hit)
        return out


@dataclass
class _Query:
    weights: dict[str, float]                    # term -> query weight
    units: list[tuple[float, frozenset[str]]]    # (importance, terms that satisfy this word)
    unknown: list[str]
    corrections: list[tuple[str, str]]


@dataclass(frozen=True)
class Index:
    sections: tuple[Section, ...]
    ranking: Ranking
    synonyms: Synonyms
    postings: dict[str, tuple[np.ndarray, np.ndarray]]  # term -> (section numbers, weights), as arrays
    idf: dict[str, float]
    doc_terms: tuple[frozenset[str], ...]
    head_terms: tuple[frozenset[str], ...]                # terms of heading + headings above
    head_postings: dict[str, np.ndarray]                 # term -> the sections with it in a heading
    surface: dict[str, str]                              # word as written -> its stem
    by_shape: dict[tuple[str, int], tuple[str, ...]]     # (first letter, length) -> words
    unknown_idf: float
    build_ms: float = 0.0
    calibration: Calibration = UNCALIBRATED
    vectors: np.ndarray | None = None  # one unit vector per section: the semantic re-ranker is on
    _by_key: dict[str, int] = field(default_factory=dict, repr=False)
    _audience_masks: dict[frozenset[str], np.ndarray] = field(default_factory=dict, repr=False)
    _key_order: tuple[int, ...] = field(default=(), repr=False, compare=False)

    # building -----------------------------------------------------------------------------
    @classmethod
    def build(cls, sections: Sequence[Section], synonyms: Synonyms | None = None, ranking: Ranking | None = None,
              *, tags_of: dict[str, tuple[str, ...]] | None = None) -> "Index":
        started = time.perf_counter()
        synonyms = synonyms or Synonyms.empty()
        ranking = ranking or Ranking()
        tags_of = tags_of or {}
        weights = dict(ranking.weights)
        bs = dict(ranking.b)
        n = len(sections)
        field_tfs: list[dict[str, Counter[str]]] = []
        lengths: dict[str, list[int]] = {f: [] for f in FIELDS}
        surface: dict[str, str] = {}
        df: Counter[str] = Counter()
        doc_terms: list[frozenset[str]] = []
        head_terms: list[frozenset[str]] = []
        analysed_cache: dict[str, tuple[list[str], list[str]]] = {}
        seen: dict[str, None] = {}  # every token of the manuals, in the order first met

        def analyse(text: str) -> list[str]:
            cached = analysed_cache.get(text)
            if cached is None:
                tokens = content_tokens(synonyms.expand_abbreviations(text))
                seen.update(dict.fromkeys(tokens))
                stems = token_stems(tokens)
                cached = (stems, synonyms.concepts(stems))
                if len(text) < 400:
                    analysed_cache[text] = cached
            stems, concepts = cached
            return stems + concepts

        sections = [s for s in sections if s.text.strip()]  # nothing to show: not an answer
        n = len(sections)
        for section in sections:
            texts = {
                # a page's opening section is headed by the page title, which the title field
                # already holds: counting it twice would make every intro outrank its sections
                "heading": section.heading if section.level and section.heading != section.manual_title else "",
                "path": " ".join(section.path),
                "title": section.manual_title,
                "tags": " ".join(tags_of.get(section.file, ())),
                "body": section.text,
            }
            if ranking.model != "bm25f":
                texts = {"heading": "", "path": "", "title": "", "tags": "",
                         "body": " ".join(v for v in texts.values() if v)}
            tfs = {f: Counter(analyse(texts[f])) for f in FIELDS}
            field_tfs.append(tfs)
            terms: set[str] = set()
            for f in FIELDS:
                lengths[f].append(sum(tfs[f].values()))
                terms.update(tfs[f])
            doc_terms.append(frozenset(terms))
            head_terms.append(frozenset(tfs["heading"]) | frozenset(tfs["path"]))
            df.update(terms)

        avg = {f: (sum(lengths[f]) / n if n else 0.0) or 1.0 for f in FIELDS}
        idf = {t: math.log(1.0 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}
        # every section's (term, value) pairs, one flat run per section, turned into postings in
        # one sort at the end: appending to a list per term was a quarter of an index build
        flat_terms: list[str] = []
        flat_values: list[float] = []
        per_section: list[int] = []
        k1 = ranking.k1
        for doc, tfs in enumerate(field_tfs):
            if ranking.model == "tfidf":
                body = tfs["body"]
                norm = math.sqrt(sum((1 + math.log(c)) ** 2 * idf[t] ** 2 for t, c in body.items())) or 1.0
                flat_terms.extend(body)
                flat_values.extend((1 + math.log(c)) * idf[t] / norm for t, c in body.items())
                per_section.append(len(body))
                continue
            pseudo: dict[str, float] = {}
            for f in FIELDS:
                tf = tfs[f]
                if not tf:
                    continue
                w = weights.get(f, 1.0) if ranking.model == "bm25f" else 1.0
                b = bs.get(f, 0.75)
                scale = w / (1.0 - b + b * lengths[f][doc] / avg[f])
                add = dict(zip(tf, map(scale.__rmul__, tf.values())))  # c * scale for each term
                for t in pseudo.keys() & add.keys():
                    add[t] = pseudo[t] + add[t]
                pseudo.update(add)
            flat_terms.extend(pseudo)
            flat_values.extend(pseudo.values())
            per_section.append(len(pseudo))
        postings = _postings(flat_terms, flat_values, per_section, idf, None if ranking.model == "tfidf" else k1)
        for token in seen:  # the words as written, in the order first met (a word's stem is always the same)
            surface.update(token_words(token))
        # the synonym file's words are known words too: "mamo" is a typo of "mammo" even in
        # manuals that only say "mammography"
        for word in synonyms.vocabulary:
            surface.setdefault(word, stem(word))
        in_heads: dict[str, list[int]] = defaultdict(list)
        for doc, heads in enumerate(head_terms):
            for t in heads:
                in_heads[t].append(doc)
        by_shape: dict[tuple[str, int], list[str]] = defaultdict(list)
        for word in surface:
            if len(word) >= 4 and word.isalpha():
                by_shape[(word[0], len(word))].append(word)
        index = cls(
            sections=tuple(sections),
            ranking=ranking,
            synonyms=synonyms,
            postings=postings,
            idf=idf,
            doc_terms=tuple(doc_terms),
            head_terms=tuple(head_terms),
            head_postings={t: np.array(docs, dtype=np.int32) for t, docs in in_heads.items()},
            surface=surface,
            by_shape={k: tuple(v) for k, v in by_shape.items()},
            unknown_idf=math.log(1.0 + (n + 0.5) / 0.5) if n else 1.0,
        )
        object.__setattr__(index, "_by_key", {s.key: i for i, s in enumerate(sections)})
        # each section's place among the keys in order (equal keys, equal places): ties in score
        # are ranked by key without building the key strings at every query
        places = {k: i for i, k in enumerate(sorted({s.key for s in sections}))}
        object.__setattr__(index, "_key_order", tuple(places[s.key] for s in sections))
        if ranking.semantic and sections:
            from pacsbot.knowledge.vectors import section_text, section_vectors

            object.__setattr__(index, "vectors", section_vectors([section_text(s.breadcrumb, s.text) for s in sections]))
        if ranking.calibrate and sections:
            headings = [s.heading for s in sections if s.level]
            if index.vectors is not None:
                object.__setattr__(index, "calibration", calibrate(
                    headings, index._best_raw, weights=(ranking.sem_w_position, 0.0, ranking.sem_bias),
                    best_cosines=index._best_cosines, w_cosine=ranking.sem_w_cosine))
            else:
                fitted = (ranking.w_position, ranking.w_coverage, ranking.bias)
                object.__setattr__(index, "calibration", calibrate(headings, index._best_raw, weights=fitted))
        object.__setattr__(index, "build_ms", (time.perf_counter() - started) * 1000)
        return index

    def __len__(self) -> int:
        return len(self.sections)

    @property
    def ranked_by(self) -> str:
        """How this index ranks, in words for people: "words and meaning" or "words alone"."""
        return "words and meaning" if self.vectors is not None else "words alone"

    def section(self, key: str) -> Section | None:
        i = self._by_key.get(key)
        return self.sections[i] if i is not None else None

    # querying -----------------------------------------------------------------------------
    def _correct(self, word: str) -> tuple[str, float] | None:
        """A vocabulary word close to a misspelt one, and how close (0..1).

        Edits are counted with transpositions as one (optimal string alignment): one edit in a
        word of 4-6 letters ("hnag", "sendng"), two in a longer one ("protcool" with a letter
        missing and two swapped). The first letter must match, or be the second one (a swapped
        first pair). Of equally close words, the one the manuals use most wins."""
        if not self.ranking.typos or len(word) < 4 or not word.isalpha():
            return None
        most = 1 if len(word) <= 6 else 2
        candidates: list[str] = []
        for first in {word[0], word[1]}:
            for length in range(len(word) - most, len(word) + most + 1):
                candidates.extend(self.by_shape.get((first, length), ()))
        if not candidates:
            return None
        matches = process.extract(word, candidates, scorer=OSA.distance, score_cutoff=most, limit=8)
        if not matches:
            return None
        fewest = min(m[1] for m in matches)
        best = min((m for m in matches if m[1] == fewest), key=lambda m: (self.idf.get(self.surface[m[0]], 99.0), m[0]))
        return best[0], max(0.5, 1.0 - best[1] / len(word))

    def _rejoin(self, ws: list[str]) -> list[str]:
        """Words written apart or together unlike the manuals: "work list" -> worklist when the
        manuals say worklist; "keyimages" -> key images when they only know the two words."""
        out: list[str] = []
        i = 0
        while i < len(ws):
            w = ws[i]
            if i + 1 < len(ws) and (w + ws[i + 1]) in self.surface and w.isalpha() and ws[i + 1].isalpha():
                out.append(w + ws[i + 1])
                i += 2
                continue
            if len(w) >= 7 and w.isalpha() and stem(w) not in self.idf and w not in self.surface:
                splits = [(w[:k], w[k:]) for k in range(3, len(w) - 2)
                          if w[:k] in self.surface and w[k:] in self.surface and is_content(w[:k]) and is_content(w[k:])]
                if splits:
                    a, b = max(splits, key=lambda p: min(len(p[0]), len(p[1])))
                    out.extend((a, b))
                    i += 1
                    continue
            out.append(w)
            i += 1
        return out

    def _query(self, question: str) -> _Query:
        text = self.synonyms.expand_abbreviations(question)
        surface = self._rejoin([w for w in words(text) if is_content(w)])
        weights: dict[str, float] = defaultdict(float)
        corrections: list[tuple[str, str]] = []
        unknown: list[str] = []
        stems: list[str] = []
        per_word: list[tuple[str, str | None, float]] = []   # (word, stem used, match quality)
        for w in surface:
            s = stem(w)
            if s in self.idf:
                stems.append(s)
                per_word.append((w, s, 1.0))
                continue
            # a word only the synonym file knows ("tomo") is no typo: its group stands for it below
            fixed = self._correct(w) if w not in self.surface else None
            if fixed is not None:
                fixed_stem = self.surface[fixed[0]]
                corrections.append((w, fixed[0]))
                stems.append(fixed_stem)
                per_word.append((w, fixed_stem, self.ranking.fuzzy_weight))
                continue
            stems.append(s)
            per_word.append((w, None, 0.0))
            unknown.append(w)
        matches = self.synonyms.concept_matches(stems)
        concept_set = {c for c, _ in matches}
        # a phrase of several words ("images not showing") says more than any one of its words
        phrase_words = {c: max(n for m, n in matches if m == c) for c in concept_set}
        # a word may appear twice ("side by side"): count each stem once in the query
        seen: set[str] = set()
        units: list[tuple[float, frozenset[str]]] = []
        for (w, used, quality), raw_stem in zip(per_word, stems):
            key = used if used is not None else raw_stem
            if key in seen:
                continue
            seen.add(key)
            # the synonym groups this word belongs to also satisfy it ("pt" -> patient)
            related = {c for c in self.synonyms.concepts_with(key) & concept_set if c in self.idf}
            if used is None:
                if related:
                    unknown.remove(w)
                    importance = max(self.idf[c] for c in related)
                else:
                    importance = self.unknown_idf * self.ranking.unknown_weight
                units.append((importance, frozenset(related)))
                continue
            weights[used] += quality
            units.append((self.idf.get(used, self.unknown_idf), frozenset({used} | related)))
        for c in dict.fromkeys(c for c, _ in matches):  # in order: the same sums in every process
            if c in self.idf:
                weights[c] += self.ranking.concept_weight * (self.ranking.phrase_weight if phrase_words[c] > 1 else 1.0)
        return _Query(dict(weights), units, unknown, corrections)

    def _ranked(self, q: _Query, *, audience: Iterable[str] = (), limit: int = 10,
                query_vector: np.ndarray | None = None) -> tuple[list[tuple[int, float, float, float, float | None]], float]:
        """``(section index, score, coverage, bm25, cosine)``, best first: the raw ranking
        (lexical, or fused with the semantic re-ranker when ``query_vector`` is given), and the
        best lexical score."""
        # accumulate with arrays: a common word's postings cover thousands of sections at scale.
        # One bincount over all the terms' postings adds up each section's weights in term
        # order, as a += per term would (the same sums to the bit), in a third of the time.
        docs, weights = [], []
        for term, qw in q.weights.items():
            posting = self.postings.get(term)
            if posting is not None:
                docs.append(posting[0])
                weights.append(qw * posting[1])
        scores = (np.bincount(np.concatenate(docs), weights=np.concatenate(weights), minlength=len(self.sections))
                  if docs else np.zeros(len(self.sections)))
        size = max(limit * 4, 40)
        hit = np.flatnonzero(scores)
        if len(hit) > size:
            hit = hit[np.argpartition(-scores[hit], size - 1)[:size]]
        cosines = None
        if query_vector is not None and self.vectors is not None and len(self.vectors):
            cosines = self.vectors @ query_vector
            near = min(self.ranking.semantic_pool, len(cosines))
            hit = np.union1d(hit, np.argpartition(-cosines, near - 1)[:near])
        if not len(hit):
            return [], 0.0
        if cosines is None:
            return self._ranked_lexical(q, hit.tolist(), scores[hit].tolist(), audience, limit)
        # every candidate scored at once (a loop over the pool was half the search's time)
        bm25s = scores[hit]
        total = sum(u[0] for u in q.units) or 1.0
        covered = np.zeros(len(hit))
        in_heading = np.zeros(len(hit))
        for importance, satisfied in q.units:
            if satisfied:
                covered += importance * self._having(satisfied, hit)
                in_heading += importance * self._having(satisfied, hit, in_heading=True)
        coverage = covered / total
        final = bm25s * (coverage ** self.ranking.coverage_power if self.ranking.coverage_power else 1.0)
        final *= 1.0 + self.ranking.heading_bonus * (in_heading / total)
        wanted = frozenset(a.lower() for a in audience)
        if wanted:
            final = np.where(self._for_audience(wanted)[hit], final * self.ranking.audience_boost, final)
        ranked: list[tuple[int, float, float, float, float | None]] = [
            (int(doc), float(score), float(cov), float(bm), None)
            for doc, score, cov, bm in zip(hit.tolist(), final.tolist(), coverage.tolist(), bm25s.tolist())]
        lexical = max((r[1] for r in ranked), default=0.0)
        w = self.ranking.semantic_weight
        ranked = [(doc, (1.0 - w) * score / (lexical or 1.0) + w * float(cosines[doc]), coverage, bm25, float(cosines[doc]))
                  for doc, score, coverage, bm25, _ in ranked]
        ranked.sort(key=lambda r: (-r[1], self.sections[r[0]].key))
        return ranked[:limit], lexical

    def _ranked_lexical(self, q: _Query, hit: list[int], bm25s: list[float], audience: Iterable[str],
                        limit: int) -> tuple[list[tuple[int, float, float, float, float | None]], float]:
        """:meth:`_ranked` by words alone, for the pool of at most a few dozen candidates: plain
        Python over each section's term sets, which for so few beats a numpy array per query
        word (~60 array operations of ~1 µs each were half the search's time). The arithmetic is
        that of the array version the semantic re-ranker still uses, in the same order: the same
        scores to the last bit."""
        ranking = self.ranking
        units = [(importance, satisfied) for importance, satisfied in q.units if satisfied]
        total = sum(u[0] for u in q.units) or 1.0
        power, bonus, boost = ranking.coverage_power, ranking.heading_bonus, ranking.audience_boost
        wanted = frozenset(a.lower() for a in audience)
        for_audience = self._for_audience(wanted) if wanted else None
        doc_terms, head_terms, key_order = self.doc_terms, self.head_terms, self._key_order
        scored: list[tuple[float, int, int, float, float]] = []
        for doc, bm25 in zip(hit, bm25s):
            covered = in_heading = 0.0
            terms, heads = doc_terms[doc], head_terms[doc]
            for importance, satisfied in units:
                if not satisfied.isdisjoint(terms):
                    covered += importance
                if not satisfied.isdisjoint(heads):
                    in_heading += importance
            coverage = covered / total
            final = bm25 * (coverage ** power if power else 1.0)
            final *= 1.0 + bonus * (in_heading / total)
            if for_audience is not None and for_audience[doc]:
                final *= boost
            scored.append((-final, key_order[doc], doc, coverage, bm25))
        scored.sort()
        return [(doc, -neg, coverage, bm25, None) for neg, _, doc, coverage, bm25 in scored[:limit]], -scored[0][0]

    def _having(self, terms: frozenset[str], docs: np.ndarray, *, in_heading: bool = False) -> np.ndarray:
        """1.0 for each of ``docs`` that holds any of ``terms`` (in a heading above it), else 0.0."""
        mark = np.zeros(len(self.sections))
        for term in terms:
            if in_heading:
                found = self.head_postings.get(term)
            else:
                posting = self.postings.get(term)
                found = posting[0] if posting is not None else None
            if found is not None:
                mark[found] = 1.0
        return mark[docs]

    def _for_audience(self, wanted: frozenset[str]) -> np.ndarray:
        """Which sections are written for any of ``wanted`` (kept per audience: a few roles ask)."""
        mask = self._audience_masks.get(wanted)
        if mask is None:
            mask = np.array([bool(s.audience) and bool(wanted & set(s.audience)) for s in self.sections], dtype=bool)
            self._audience_masks[wanted] = mask
        return mask

    def _best_raw(self, question: str) -> float:
        """The best lexical score of any section (what the calibration's position measures)."""
        return self._ranked(self._query(question), limit=1)[1]

    def _best_cosines(self, questions: list[str]) -> list[float]:
        if self.vectors is None or not len(self.vectors) or not questions:
            return [0.0] * len(questions)
        from pacsbot.knowledge.vectors import encoder

        return [float(v) for v in (encoder().encode(questions) @ self.vectors.T).max(axis=1)]

    def search(self, question: str, *, audience: Iterable[str] = (), limit: int = 10) -> SearchResult:
        started = time.perf_counter()
        q = self._query(question)
        calibration = self.calibration
        if self.vectors is not None:
            from pacsbot.knowledge.vectors import encoder

            query_vector = encoder().encode([question])[0]
            # confidence: how well the manuals' words cover the question (the best lexical
            # score) and how close in meaning each section is
            ranked, lexical = self._ranked(q, audience=audience, limit=limit, query_vector=query_vector)
            hits = tuple(Hit(self.sections[doc], score, calibration.confidence(lexical, coverage, cosine), bm25, coverage, cosine)
                         for doc, score, coverage, bm25, cosine in ranked)
        elif self.ranking.calibrate:
            ranked, _ = self._ranked(q, audience=audience, limit=limit)
            hits = tuple(Hit(self.sections[doc], score, calibration.confidence(score, coverage), bm25, coverage)
                         for doc, score, coverage, bm25, _ in ranked)
        else:  # the coverage itself, as before calibration (for the benchmark's comparison)
            ranked, _ = self._ranked(q, audience=audience, limit=limit)
            hits = tuple(Hit(self.sections[doc], score, coverage, bm25, coverage) for doc, score, coverage, bm25, _ in ranked)
        confidence = hits[0].confidence if hits else 0.0
        if hits and confidence >= self.ranking.min_confidence:
            mode = "answer"
        elif hits and confidence >= self.ranking.choices_confidence:
            mode = "choices"
        else:
            mode = "unknown"
        took = (time.perf_counter() - started) * 1000
        return SearchResult(question, hits, mode == "answer", confidence, took, tuple(q.unknown), tuple(q.corrections), mode)

    def choices(self, result: SearchResult, limit: int = 3) -> list[Hit]:
        """The sections to offer for "is it one of these?": the best few, one per section."""
        out: list[Hit] = []
        for hit in result.hits:
            if len(out) >= limit:
                break
            if all(hit.key != o.key for o in out) and hit.confidence >= self.ranking.choices_confidence * 0.5:
                out.append(hit)
        return out


def _postings(terms: list[str], values: list[float], per_section: list[int], idf: dict[str, float],
              k1: float | None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """term -> (its sections in order, its weight in each), from every section's (term, value)
    pairs laid end to end (``per_section`` says how many are each section's). With ``k1``
    the values are BM25's pseudo term frequencies, saturated here as idf * v / (k1 + v);
    without, they are the weights already."""
    names = list(idf)
    number = {t: i for i, t in enumerate(names)}
    ids = np.fromiter(map(number.__getitem__, terms), dtype=np.int32, count=len(terms))
    weight = np.array(values, dtype=np.float64)
    if k1 is not None:
        weight = np.fromiter(idf.values(), dtype=np.float64, count=len(idf))[ids] * weight / (k1 + weight)
    sections = np.repeat(np.arange(len(per_section), dtype=np.int32), per_section)
    order = np.argsort(ids, kind="stable")  # stable: each term's sections stay in order
    sections, weight = sections[order], weight[order]
    bounds = np.concatenate(([0], np.cumsum(np.bincount(ids, minlength=len(names))))).tolist()
    return {t: (sections[lo:hi], weight[lo:hi]) for t, lo, hi in zip(names, bounds, bounds[1:]) if hi > lo}


def content_words(question: str) -> list[str]:
    return [w for w in words(question) if w not in STOPWORDS]
