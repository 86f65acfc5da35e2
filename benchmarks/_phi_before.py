"""The peer for ``benchmarks/privacy.py``: the ticket filter pacsbot had before the privacy
gate (``tickets.intake.find_phi`` up to December 2026), kept here unchanged so every run of
the benchmark measures the new detector against it."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

_DOB_RE = re.compile(
    r"\b(?:DOB|D\.O\.B\.?|date of birth|birth ?date|born(?: on)?)\s*[:#=]?\s*"
    r"(\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}|\d{4}-\d{2}-\d{2}|\d{8}|\d{1,2}\s+[A-Za-z]{3,9}\s+\d{4})",
    re.IGNORECASE,
)
_FULL_DATE_RE = re.compile(r"\b(\d{1,2}[/.]\d{1,2}[/.](?:19|20)\d{2}|(?:19|20)\d{2}-\d{2}-\d{2})\b")
_NAME_FIELD_RE = re.compile(
    r"\b(?:patient(?:'s)? name|pt name|patient|pt|name)\s*[:=]\s*([A-Za-z][A-Za-z'\-]+(?:[ ,^]+[A-Za-z][A-Za-z'\-]+){0,3})",
    re.IGNORECASE,
)
_DICOM_NAME_RE = re.compile(r"\b([A-Z][A-Za-z'\-]+\^[A-Z][A-Za-z'\-]+(?:\^[A-Za-z'\-]*)*)")
_SSN_RE = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")
MASK = "[hidden]"


@dataclass(frozen=True)
class PhiFinding:
    kinds: tuple[str, ...] = ()
    masked: str = ""

    @property
    def found(self) -> bool:
        return bool(self.kinds)


@dataclass
class _Spans:
    spans: list[tuple[int, int, str]] = field(default_factory=list)

    def add(self, start: int, end: int, kind: str) -> None:
        self.spans.append((start, end, kind))


def find_phi(text: str, mrn_patterns: Iterable[str] = ()) -> PhiFinding:
    """Spans that look like patient identifiers, and the text with them masked."""
    found = _Spans()
    for match in _DOB_RE.finditer(text):
        found.add(match.start(1), match.end(1), "date of birth")
    for match in _FULL_DATE_RE.finditer(text):
        found.add(match.start(1), match.end(1), "date")
    for match in _NAME_FIELD_RE.finditer(text):
        found.add(match.start(1), match.end(1), "name")
    for match in _DICOM_NAME_RE.finditer(text):
        found.add(match.start(1), match.end(1), "name")
    for match in _SSN_RE.finditer(text):
        found.add(match.start(), match.end(), "social security number")
    for pattern in mrn_patterns:
        for match in re.finditer(pattern, text, re.IGNORECASE):
            found.add(match.start(), match.end(), "medical record number")
    if not found.spans:
        return PhiFinding((), text)
    merged: list[tuple[int, int]] = []
    for start, end, _ in sorted(found.spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    out, last = [], 0
    for start, end in merged:
        out.append(text[last:start])
        out.append(MASK)
        last = end
    out.append(text[last:])
    kinds = tuple(dict.fromkeys(kind for _, _, kind in sorted(found.spans)))
    return PhiFinding(kinds, "".join(out))
