"""Reading a free-text report: category, urgency, accession, modality, location — and PHI.

A technologist at the console types "pt scanned 10 min ago, images not in PACS, acc A123".
These functions turn that into fields a ticket can be routed by, and find text that looks
like patient identifiers so that channel posts can show it masked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from pacsbot.core.errors import UserError
from pacsbot.core.privacy import MASK as _MASK
from pacsbot.core.privacy import Detector

CATEGORY_LABELS = {
    "outage": "Archive outage",
    "missing_images": "Missing or incomplete images",
    "wrong_patient": "Wrong patient or accession",
    "viewer": "Viewer or workstation",
    "worklist": "Worklist",
    "login": "Login or access",
    "slowness": "Slowness",
    "other": "Other",
}
URGENCY_LABELS = {"stat": "STAT", "urgent": "Urgent", "routine": "Routine"}
PRIORITY_OF_URGENCY = {"stat": "P1", "urgent": "P2", "routine": "P3"}

# Phrases that point at a category; the category with the most (weighted) hits wins.
_CATEGORY_PHRASES: dict[str, tuple[str, ...]] = {
    "outage": (
        r"\b(?:pacs|vna|archive|system|server|everything)\b[^.;]{0,12}\b(?:is |seems |looks )?(?:down|offline|unavailable|unreachable|not answering|not responding)\b",
        r"\boutage\b", r"\bdown ?time\b", r"(?:can'?t|cannot|won'?t|will not|unable to) (?:open|load|find|pull up) any(?:thing| studies| study| images| exams)",
        r"nothing (?:loads|opens|is loading)", r"no one can (?:open|log ?in|read)",
    ),
    "missing_images": (
        r"missing", r"not (?:in|on|showing (?:up )?in) (?:the )?pacs", r"incomplete", r"not arrived?", r"didn'?t (?:arrive|come|cross|send)",
        r"no images", r"images? (?:are|is) not", r"can'?t find (?:the )?(?:study|images?)", r"half (?:the|of the) (?:images|series)",
        r"series (?:is )?missing", r"(?:study|exam) (?:is )?empty", r"not (?:crossing|sending|transferr?ing)", r"stuck in (?:the )?queue",
        r"\b(?:no|not|none|without)\b[^.;]{0,30}\b(?:on|in) (?:the )?(?:pacs|vna|archive)\b",
    ),
    "wrong_patient": (
        r"wrong (?:patient|pt|accession|acc|name|mrn|study)", r"mis-?identif", r"(?:under|on) (?:the )?wrong", r"mismatch",
        r"merge", r"split", r"another patient", r"different patient",
    ),
    "viewer": (
        r"viewer", r"frozen", r"freez", r"crash", r"won'?t (?:open|load|start)", r"workstation", r"hang(?:s|ing)? protocol",
        r"black screen", r"monitor", r"display", r"error message", r"not responding", r"viewer (?:is )?down",
        r"can(?:'?t|not) open", r"not working",
    ),
    "worklist": (r"worklist", r"\bmwl\b", r"not on the list", r"schedul", r"order (?:is )?missing", r"no orders?"),
    "login": (r"log ?in", r"password", r"locked out", r"\baccess\b", r"account", r"permission", r"can'?t sign"),
    "slowness": (r"\bslow", r"lag", r"takes? (?:forever|ages|minutes)", r"spinning", r"loading for", r"sluggish"),
}
_URGENCY_PHRASES = (
    ("stat", (r"\bstat\b", r"\btrauma\b", r"code stroke", r"\bstroke\b", r"emergenc", r"\bED\b", r"\bER\b", r"\basap\b", r"patient waiting on (?:the )?table")),
    ("urgent", (r"\burgent", r"\bsoon\b", r"quickly", r"waiting", r"\btoday\b")),
)
_ACCESSION_RE = re.compile(
    r"\b(?:acc(?:ession)?|acn)(?:\s*(?:no\.?|num(?:ber)?|#))?\s*[:#=.]?\s*([A-Za-z0-9][A-Za-z0-9-]{1,15})\b", re.IGNORECASE
)
_MODALITY_WORDS = {
    "ct": "CT", "cat scan": "CT", "mr": "MR", "mri": "MR", "us": "US", "ultrasound": "US", "sono": "US",
    "x-ray": "DX", "xray": "DX", "xr": "DX", "dx": "DX", "cr": "CR", "mammo": "MG", "mammogram": "MG", "mg": "MG",
    "pet": "PT", "nm": "NM", "nuc med": "NM", "fluoro": "RF",
}
_MODALITY_RE = re.compile(r"\b(" + "|".join(sorted((re.escape(w) for w in _MODALITY_WORDS), key=len, reverse=True)) + r")\b", re.IGNORECASE)
_LOCATION_RE = re.compile(
    r"\b(reading room\s*\d+[a-z]?|rr\s?\d+|room\s*\d+[a-z]?|(?:ct|mr|us|xr)\s?-?\d\b|ed|er|icu|or\s*\d+|"
    r"(?:main|north|south|east|west)\s+(?:campus|wing|building))\b",
    re.IGNORECASE,
)
ACCESSION_SAFE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,15}$")
MAX_DESCRIPTION = 4000


def validate_accession(value: str | None) -> str | None:
    """An accession number as typed, checked: at most 16 characters, letters/digits/-._, no wildcards."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if any(ch in value for ch in "*?\\"):
        raise UserError(f"“{value}” has a wildcard or backslash; give the exact accession number.")
    if len(value) > 16:
        raise UserError(f"“{value[:20]}…” is {len(value)} characters long; accession numbers have at most 16.")
    if not ACCESSION_SAFE_RE.match(value):
        raise UserError(f"“{value}” is not an accession number (letters, digits, - . _ only).")
    return value


def _hits(text: str, patterns: Iterable[str]) -> int:
    return sum(1 for p in patterns if re.search(p, text, re.IGNORECASE))


def guess_category(text: str) -> str:
    scores = {cat: _hits(text, phrases) for cat, phrases in _CATEGORY_PHRASES.items()}
    best = max(scores.items(), key=lambda kv: kv[1])
    if best[1] == 0:
        return "other"
    # "slow to load images" is slowness; "images missing" beats "slow"; ties go to the earlier category
    return best[0]


def guess_urgency(text: str) -> str:
    for urgency, patterns in _URGENCY_PHRASES:
        if _hits(text, patterns):
            return urgency
    return "routine"


def find_accession(text: str) -> str | None:
    for match in _ACCESSION_RE.finditer(text):
        candidate = match.group(1)
        if any(ch.isdigit() for ch in candidate):
            return candidate
    return None


def find_modality(text: str) -> str | None:
    match = _MODALITY_RE.search(text)
    if not match:
        return None
    word = match.group(1).lower()
    if word == "us" and not re.search(r"\bUS\b", match.group(0)):
        return None  # the word "us", not ultrasound
    return _MODALITY_WORDS[word]


def find_location(text: str) -> str | None:
    match = _LOCATION_RE.search(text)
    return match.group(1).strip() if match else None


def summarize(text: str, limit: int = 140) -> str:
    first = " ".join(text.split())
    return first if len(first) <= limit else first[: limit - 1].rstrip() + "…"


# --------------------------------------------------------------------------------------
# PHI — one detector for the whole product (core.privacy); these keep the tickets' names.

MASK = _MASK


@dataclass(frozen=True)
class PhiFinding:
    kinds: tuple[str, ...] = ()
    masked: str = ""

    @property
    def found(self) -> bool:
        return bool(self.kinds)


@lru_cache(maxsize=8)
def _detector(patterns: tuple[str, ...]) -> Detector:
    return Detector(patterns)


def find_phi(text: str, mrn_patterns: Iterable[str] = (), *, detector: Detector | None = None) -> PhiFinding:
    """What in ``text`` looks like patient data, and the text with it masked (whole words)."""
    masked = (detector or _detector(tuple(mrn_patterns))).mask(text)
    return PhiFinding(masked.kinds, masked.text)
