"""Words for the search: tokenising, stop words, a light stemmer, synonyms and abbreviations.

The same functions run over the manuals (when the index is built) and over each question, so
whatever they do to a word they do on both sides. The stemmer is deliberately light (plurals,
-ing, -ed, -ment, -ation, a final -e): good enough to meet "hanging" with "hang" and
"measurements" with "measure", without a dependency.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from itertools import chain, compress
from pathlib import Path
from typing import Any

import yaml

SYNONYMS_FILE = Path(__file__).resolve().parent / "synonyms.yml"

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*(?:[-/.][^\W_]+)*", re.UNICODE)

STOPWORDS = frozenset("""
a about above after again against all am an and any are aren't as at be because been before
being below between both but by can can't cannot could couldn't did didn't do does doesn't
doing don't during each few for from further had hadn't has hasn't have haven't having he
her here hers herself him himself his how i i'd i'm i've if in into is isn't it it's its itself
just let's me more most mustn't my myself no nor not of off on once only or other ought our ours
ourselves out over own same shan't she should shouldn't so some such than that that's the their
theirs them themselves then there there's these they they'd they're this those through to too
under until up very was wasn't we we're were weren't what what's when where which while who
whom why will with won't would wouldn't you you'd you're your yours yourself yourselves
anyone anybody someone somebody something anything thing things way ways also etc e.g i.e eg ie
get gets got getting go goes going want wants wanted need needs needed please pls plz help
hi hello hey thanks thank ok okay know tell show find use using used like just still really
does do did im dont cant wont isnt doesnt didnt whats hows wheres theres thats ive id youre
one two three can't could may might must shall us via vs per
""".split())


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """A light suffix stripper; both sides of the search use it, so it only needs consistency."""
    w = word
    if len(w) <= 3 or w.isdigit():
        return w
    if w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith("sses"):
        w = w[:-2]
    elif w.endswith("s") and not w.endswith(("ss", "us", "is", "'s")) and len(w) > 3:
        w = w[:-1]
    if w.endswith("ing") and len(w) >= 6:
        w = _undouble(w[:-3])
    elif w.endswith("ied") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith("ed") and len(w) >= 5:
        w = _undouble(w[:-2])
    elif w.endswith("ed") and len(w) == 4:
        w = w[:-1]
    for suffix, minimum in (("ation", 4), ("ment", 4), ("ness", 4), ("ly", 4)):
        if w.endswith(suffix) and len(w) - len(suffix) >= minimum:
            w = w[: -len(suffix)]
            break
    if w.endswith("e") and len(w) >= 4:
        w = w[:-1]
    return w


def _undouble(w: str) -> str:
    if len(w) >= 3 and w[-1] == w[-2] and w[-1] in "bdgmnprt":
        return w[:-1]
    return w


def _split_token(token: str) -> tuple[str, ...]:
    token = token.replace("’", "'")
    if "'" in token:
        if token.endswith("'s"):
            token = token[:-2]
        token = token.replace("'", "")
    if "-" in token or "/" in token or "." in token:
        parts = [p for p in re.split(r"[-/.]", token) if p]
        joined = "".join(parts)
        return (joined, *[p for p in parts if p != joined])
    return (token,)


class _TokenCache(dict[str, tuple[Any, ...]]):
    """token -> what ``learn`` makes of it, learnt on first use (one dictionary lookup per
    token, in C, once known); emptied when it grows past half a million tokens (manuals in
    many languages, or junk)."""

    def __init__(self, learn: Callable[[str], tuple[Any, ...]]) -> None:
        super().__init__()
        self.learn = learn

    def __missing__(self, token: str) -> tuple[Any, ...]:
        if len(self) > 500_000:
            self.clear()
        value = self[token] = self.learn(token)
        return value


_TOKENS = _TokenCache(_split_token)                                                               # token -> words
_CONTENT = _TokenCache(lambda token: tuple((w, stem(w)) for w in _TOKENS[token] if is_content(w)))  # -> ((word, stem), ...)
_STEMS = _TokenCache(lambda token: tuple(s for _, s in _CONTENT[token]))                          # -> (stem, ...)


def words(text: str) -> list[str]:
    """Surface words, lower case: 'C-ECHO' -> ['c-echo', 'c', 'echo'] (joined and parts)."""
    return list(chain.from_iterable(map(_TOKENS.__getitem__, content_tokens(text))))


def content_tokens(text: str) -> list[str]:
    """The word tokens of a text, lower case, before splitting and stemming (for :func:`token_stems`)."""
    return _WORD.findall(text.lower())


def token_stems(tokens: Sequence[str]) -> list[str]:
    """The stems of the content words of ``tokens``, in order (the fast path for indexing: one
    dictionary lookup per token, in C, and Python only for a token not seen before)."""
    return list(chain.from_iterable(map(_STEMS.__getitem__, tokens)))


def token_words(token: str) -> tuple[tuple[str, str], ...]:
    """``(surface word, stem)`` of each content word of one token, in order."""
    return _CONTENT[token]


def is_content(word: str) -> bool:
    return word not in STOPWORDS and (len(word) > 1 or word.isdigit())


# --------------------------------------------------------------------------------------
# synonyms and abbreviations

@dataclass(frozen=True)
class Synonyms:
    """Groups of phrases that mean one thing, and case-sensitive abbreviations.

    Each group becomes a *concept* token (``~name``) added wherever one of its phrases appears,
    in the manuals and in the question, so "display protocol" finds "hanging protocol".
    """

    groups: tuple[tuple[str, tuple[tuple[str, ...], ...]], ...]        # (concept, phrases as stems)
    abbreviations: tuple[tuple[re.Pattern[str], dict[str, str]], ...]
    _first: dict[str, tuple[tuple[tuple[str, ...], str], ...]]          # first stem -> (phrase, concept)
    vocabulary: frozenset[str] = frozenset()  # every content word of every phrase, as written (for typos)

    @classmethod
    def empty(cls) -> "Synonyms":
        return cls((), (), {})

    @classmethod
    def load(cls, path: Path | None = None) -> "Synonyms":
        path = path or SYNONYMS_FILE
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return cls.from_data(data)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> "Synonyms":
        groups: list[tuple[str, tuple[tuple[str, ...], ...]]] = []
        first: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        vocabulary: set[str] = set()
        for entry in data.get("groups") or []:
            members = [str(m) for m in entry] if isinstance(entry, list) else []
            if len(members) < 2:
                continue
            vocabulary.update(w for m in members for w in words(m.lower()) if is_content(w) and w.isalpha())
            concept = "~" + re.sub(r"\W+", "_", members[0].lower()).strip("_")
            phrases = []
            for member in members:
                phrase = tuple(stem(w) for w in words(member) if is_content(w) or len(words(member)) == 1)
                if phrase:
                    phrases.append(phrase)
                    first.setdefault(phrase[0], []).append((phrase, concept))
            groups.append((concept, tuple(phrases)))
        abbreviations = []
        table = {str(k): f"{k} {v}" for k, v in (data.get("abbreviations") or {}).items()}
        if table:
            alternation = "|".join(re.escape(k) for k in sorted(table, key=len, reverse=True))
            # no look-behind: a pattern that starts with one cannot skip ahead to a letter that
            # starts an abbreviation, and was five times slower over a manual; the word before is
            # checked in expand_abbreviations instead
            pattern = re.compile(rf"(?:{alternation})(?![\w-])")
            abbreviations.append((pattern, table))
        frozen_first = {k: tuple(sorted(v, key=lambda item: -len(item[0]))) for k, v in first.items()}
        return cls(tuple(groups), tuple(abbreviations), frozen_first, frozenset(vocabulary))

    def expand_abbreviations(self, text: str) -> str:
        """"MR" -> "MR mri" wherever an abbreviation stands as a word of its own (not inside
        "AMR", "MR-guided" or "MR_1")."""
        for pattern, table in self.abbreviations:
            out: list[str] = []
            done = at = 0
            while m := pattern.search(text, at):
                start = m.start()
                if start and (text[start - 1].isalnum() or text[start - 1] in "_-"):  # inside a word: \w or -
                    at = start + 1
                    continue
                out += (text[done:start], table[m.group(0)])
                done = at = m.end()
            if out:
                text = "".join(out) + text[done:]
        return text

    def concepts(self, stems: Sequence[str]) -> list[str]:
        """Concept tokens for every synonym phrase found in a sequence of stems.

        A concept is counted once per place it occurs, even when several of its phrases
        overlap there ("c-echo" is both "c-echo" and "echo").
        """
        return [concept for concept, _ in self.concept_matches(stems)]

    def concept_matches(self, stems: Sequence[str]) -> list[tuple[str, int]]:
        """Like :meth:`concepts`, with the length (in words) of the longest phrase matched there."""
        found: list[tuple[str, int]] = []
        covered: dict[str, int] = {}
        pairs, singles = self._starts
        last = len(stems) - 1
        # the few places a phrase can start, found in one pass (a loop over every word of a
        # long section was a quarter of an index build); at each, the longer phrases first
        for i in compress(range(len(stems)), map(self._first.__contains__, stems)):
            longer = pairs.get((stems[i], stems[i + 1]), ()) if i < last else ()
            for phrase, concept in longer:
                length = len(phrase)
                if length > 2 and tuple(stems[i: i + length]) != phrase:
                    continue
                if covered.get(concept, -1) > i:
                    continue
                found.append((concept, length))
                covered[concept] = i + length
            for concept in singles.get(stems[i], ()):
                if covered.get(concept, -1) > i:
                    continue
                found.append((concept, 1))
                covered[concept] = i + 1
        return found

    @cached_property
    def _starts(self) -> tuple[dict[tuple[str, str], tuple[tuple[tuple[str, ...], str], ...]], dict[str, tuple[str, ...]]]:
        """The phrases of two words or more by their first two words, longest first, and the
        concepts of the one-word phrases by their word: a place in a text is tried only
        against the phrases that can match there."""
        pairs: dict[tuple[str, str], list[tuple[tuple[str, ...], str]]] = {}
        singles: dict[str, list[str]] = {}
        for word, phrases in self._first.items():
            for phrase, concept in phrases:  # longest first already
                if len(phrase) > 1:
                    pairs.setdefault((word, phrase[1]), []).append((phrase, concept))
                else:
                    singles.setdefault(word, []).append(concept)
        return {k: tuple(v) for k, v in pairs.items()}, {k: tuple(v) for k, v in singles.items()}

    def concept_members(self, concept: str) -> tuple[tuple[str, ...], ...]:
        return self._members.get(concept, ())

    def concepts_with(self, stem: str) -> frozenset[str]:
        """The concepts that have ``stem`` as a word of one of their phrases."""
        return self._concepts_by_word.get(stem, frozenset())

    @cached_property
    def _concepts_by_word(self) -> dict[str, frozenset[str]]:
        by_word: dict[str, set[str]] = {}
        for concept, phrases in self._members.items():
            for phrase in phrases:
                for word in phrase:
                    by_word.setdefault(word, set()).add(concept)
        return {word: frozenset(concepts) for word, concepts in by_word.items()}

    @cached_property
    def _members(self) -> dict[str, tuple[tuple[str, ...], ...]]:
        """concept -> its phrases (the first group of that name), for a lookup per question word."""
        members: dict[str, tuple[tuple[str, ...], ...]] = {}
        for name, phrases in self.groups:
            members.setdefault(name, phrases)
        return members


@dataclass(frozen=True)
class Analysed:
    """A text cut into what the index needs."""

    surface: list[str]      # content words as written (lower case), for typo matching
    stems: list[str]        # their stems
    concepts: list[str]     # synonym concepts found


def analyse(text: str, synonyms: Synonyms) -> Analysed:
    text = synonyms.expand_abbreviations(text)
    surface = [w for w in words(text) if is_content(w)]
    stems = [stem(w) for w in surface]
    return Analysed(surface, stems, synonyms.concepts(stems))


def terms(text: str, synonyms: Synonyms) -> list[str]:
    a = analyse(text, synonyms)
    return a.stems + a.concepts


def unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
