"""Take obvious patient identifiers out of a question before it is stored.

Knowledge-gap records and feedback keep the question text (that is what tells the PACS team
which manual to write next), but a question typed at 3 a.m. may carry a record number, an
accession number, a birth date or a name. :func:`mask` runs the product's PHI detector
(``core.privacy``: cue words, names, dates, the site's identifier patterns and — in the bot —
the identifiers the archive returned lately), then takes out e-mail addresses, phone numbers
and long id-like codes too. It cannot recognise every name, so the admin guide tells admins
to treat the gap list as internal. Questions are never written to the log.
"""

from __future__ import annotations

import re

from pacsbot.core.privacy import Detector

_DEFAULT = Detector()


_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"), "[email]"),
    # dates: 12/03/1961, 1961-03-12, 12.3.61, 12 March 1961, March 12, 1961
    (re.compile(r"\b\d{4}-\d{1,2}-\d{1,2}\b"), "[date]"),
    (re.compile(r"\b\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}\b"), "[date]"),
    (re.compile(r"\b\d{1,2}\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?,?\s+\d{2,4}\b", re.I), "[date]"),
    (re.compile(r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4}\b", re.I), "[date]"),
    # phone numbers with 7+ digits (internal 4-7227 style extensions are kept: they are ours)
    (re.compile(r"(?<![\w-])\+?\d[\d ()-]{8,}\d\b"), "[number]"),
    # record, accession and other id-like codes: letters + 5 or more digits, or 6+ digits
    (re.compile(r"\b[A-Za-z]{0,4}-?\d{5,}[A-Za-z]?\b"), "[id]"),
    # "Mr Smith", "mrs. o'neill", "patient Jane Doe"
    (re.compile(r"\b(?:mr|mrs|ms|miss|dr|mx)\.?\s+[A-Z][\w'-]+(?:\s+[A-Z][\w'-]+)?", re.I), "[name]"),
    (re.compile(r"\b(?:patient|pt|pts|name(?:d)?|called)\s*[:=]?\s+([A-Z][a-z'-]+(?:\s+[A-Z][a-z'-]+)+)"), "[name]"),
    (re.compile(r"\b(?:dob|d\.o\.b\.?|born)\s*[:=]?\s*\S+", re.I), "[date]"),
]


def mask(text: str, *, limit: int = 500, detector: Detector | None = None) -> str:
    """The question with recognisable identifiers replaced, trimmed to ``limit`` characters."""
    text = " ".join(text.split())
    text = (detector or _DEFAULT).mask(text).text  # the bot passes its gate's (site patterns, seen IDs)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
