"""Patient identifiers in free text: find them, mask them, and remember the archive's own.

One detector for the whole product. The outbound privacy gate (``bot/privacy_gate.py``) runs
it over everything the bot writes outside a private reply; ticket exports and the
knowledge-gap log run it before they store or hand out text. It knows:

* **IDs after a cue word** — MRN, MR#, PID, patient id, pt id, hosp no, NHS no, chart no,
  UR no, EMPI, ID ... followed by letters and digits (``MRN LABPID010007``, ``pt id 99887766``);
* **the site's own identifier shapes** — regular expressions from the configuration
  (``privacy.identifier_patterns``), with or without a cue word;
* **names** — DICOM person names (``ZZTEST^FAKE0007``), ``LAST, FIRST`` (``ZZTEST, FAKE0008``),
  names after a cue (``patient Jane Doe``, ``Mrs O'Neill``, ``pt ZZTEST FAKE0011``) and a
  common given name followed by a surname (``for Mary Jones``);
* **dates** in every common form, with or without a cue word (``03/04/1955``, ``1955-03-04``,
  ``19550304``, ``4 March 1955``, ``March 4, 1955``, ``04-Mar-1955``, ``DOB 4/3``), and US
  social security numbers;
* **identifiers the bot itself has seen** — patient IDs and names that a DICOM node returned
  in the last hours (:class:`SeenIdentifiers`, kept only as keyed hashes), in any order and
  punctuation (``ZZTEST FAKE0011`` after the archive said ``ZZTEST^FAKE0011``).

Masking replaces the whole run of characters a finding touches, so no fragment of a name or
an ID is left (never ``[hidden]0007``). Accession numbers after their cue word (``acc A123``)
stay visible unless ``mask_accessions`` is set: they are how the team finds the study. Words
the site uses for its systems (node names, AE titles, modalities) are never taken for names.

Text the bot writes itself (a downtime window, the date of a reconciliation) is wrapped with
:func:`vouch` where it is formatted; the detector leaves vouched text alone, and the markers
are stripped before anything reaches Slack (:func:`strip_vouch`). Forgetting to vouch only
ever masks too much, never too little.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Protocol

MASK = "[hidden]"

VOUCH_OPEN = "\ue000"
VOUCH_CLOSE = "\ue001"
_VOUCH_RE = re.compile(f"[{VOUCH_OPEN}{VOUCH_CLOSE}]")


def vouch(text: str) -> str:
    """Mark text the bot formatted itself (a date it chose to print) as not patient data."""
    return f"{VOUCH_OPEN}{text}{VOUCH_CLOSE}" if text else text


def strip_vouch(text: str) -> str:
    return _VOUCH_RE.sub("", text) if VOUCH_OPEN in text or VOUCH_CLOSE in text else text


# ----------------------------------------------------------------------------------------
# patterns

_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
          r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
# Numeric dates never start or end inside a longer run of dotted or dashed numbers: an IP
# address (10.20.30.4), a version (7.2.11) or a UID (1.2.840.10008) is not a birth date. With
# dots the year has four digits ("3.4.55" is a version as often as a date; after a cue such as
# DOB it is found anyway).
_NUM_START = r"(?<![\w./-])"
_NUM_END = r"(?![./-]?\d)"
_DATE_PATTERNS = [
    rf"{_NUM_START}\d{{1,2}}[/-]\d{{1,2}}[/-](?:\d{{4}}|\d{{2}}){_NUM_END}",                # 03/04/1955, 3-4-55
    rf"{_NUM_START}\d{{1,2}}\.\d{{1,2}}\.(?:1[89]|20)\d{{2}}{_NUM_END}",                     # 3.4.1955
    rf"{_NUM_START}(?:1[89]|20)\d{{2}}[-/.](?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01]){_NUM_END}",  # 1955-03-04
    r"\b(?:1[89]|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\b",         # 19550304 (DICOM DA)
    rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}\.?,?\s+(?:\d{{4}}|'?\d{{2}})\b",  # 4 March 1955
    rf"\b{_MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}\b",                # March 4, 1955
    rf"\b\d{{1,2}}[-/ ]{_MONTH}[-/ ]\d{{2,4}}\b",                               # 04-Mar-1955
]
_DATE_RE = re.compile("|".join(f"(?:{p})" for p in _DATE_PATTERNS), re.IGNORECASE)
# After a birth cue even a short date is a birth date: "DOB 4/3", "born 12 March", "dob: 1955".
_DOB_RE = re.compile(
    r"\b(?:DOB|D\.O\.B\.?|date of birth|birth\s?date|birth\s?day|born(?:\s+on)?|b\.)\s*(?:is\s+|was\s+)?[:#=]?\s*"
    rf"(\d{{1,4}}(?:[/.-]\d{{1,2}}){{0,2}}(?:[/.-]\d{{2,4}})?(?:\s+{_MONTH}\.?(?:,?\s+\d{{2,4}})?)?"
    rf"|{_MONTH}\.?\s+\d{{1,2}}(?:,?\s+\d{{4}})?)",
    re.IGNORECASE,
)
_SSN_RE = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")

_ID_CUE = (
    r"(?:MRN|MR\s*#|MR\s*(?:no\.?|num(?:ber)?)|med(?:ical)?\s*rec(?:ord)?s?(?:\s*(?:no\.?|num(?:ber)?|#))?|"
    r"PID|PT\s*ID|patient\s*(?:id(?:entifier)?|num(?:ber)?|no\.?|#)|patients?'?\s*id|pt\.?\s*(?:id|no\.?|num(?:ber)?|#)|"
    r"hosp(?:ital)?\s*(?:id|no\.?|num(?:ber)?|#)|NHS(?:\s*(?:no\.?|num(?:ber)?|#))?|CHI(?:\s*(?:no\.?|num(?:ber)?))?|"
    r"UR\s*(?:no\.?|num(?:ber)?)|URN|chart\s*(?:no\.?|num(?:ber)?|#)|EMPI|EPI|enc(?:ounter)?\s*(?:no\.?|num(?:ber)?|#)|"
    r"ID|I\.D\.)"
)
_ID_RE = re.compile(
    rf"\b{_ID_CUE}(?![A-Za-z])\s*(?:is\s+|was\s+|of\s+)?[:#=.-]?\s*"
    r"(\d{3}[ -]\d{3}[ -]\d{4}\b|[A-Za-z0-9][A-Za-z0-9._/-]{1,39})",
    re.IGNORECASE,
)
_ACCESSION_RE = re.compile(
    r"\b(?:acc(?:ession)?|acn)(?:\s*(?:no\.?|num(?:ber)?|#))?\s*[:#=.]?\s*([A-Za-z0-9][A-Za-z0-9._-]{1,15})\b", re.IGNORECASE
)

_NAME_TOKEN = r"[A-Z][A-Za-z0-9'’-]*[A-Za-z0-9]|[A-Z]\.?"
# "SMITH^JOHN", "ZZTEST^FAKE0007^^^" — any word with a caret between letters is a DICOM person name.
_DICOM_PN_RE = re.compile(r"(?<![\w^])[A-Za-z][\w'’.-]*(?:\^[\w'’.-]*)+")
# "ZZTEST, FAKE0008", "O'NEILL, MARY ANN", "Jones, Mary"
_LAST_FIRST_RE = re.compile(
    r"\b([A-Z][A-Za-z'’-]*[A-Za-z](?:[ -][A-Z][A-Za-z'’-]*[A-Za-z])?),[ \t]?"
    r"([A-Z][A-Za-z0-9'’-]*[A-Za-z0-9])((?:[ \t][A-Z][A-Za-z0-9'’-]*[A-Za-z0-9]|[ \t][A-Z]\.?)?)"
)
# "patient Jane Doe", "pt: ZZTEST FAKE0011", "Mrs O'Neill", "patient's name is Smith"
_NAME_CUE_RE = re.compile(
    r"\b(?i:(?:patient|pt|pts)(?:'s|’s)?(?:\s+name)?|name|named|called|surname|family\s+name|"
    r"mr|mrs|ms|miss|mx|mister)\.?(?:\s*[:=–-]\s*|\s+)(?i:(?:is|was)\s+)?"
    rf"((?:{_NAME_TOKEN})(?:[ \t]*[,^]?[ \t]+(?:{_NAME_TOKEN})){{0,2}})"
)
_TOKEN_RE = re.compile(r"[A-Za-z0-9]+")
_WORD_RE = re.compile(r"[A-Za-z][A-Za-z'’-]*")

# Words that are never a patient's name here, whatever their capitals.
_VOCABULARY = frozenset("""
AE AET ALL AM AND ANY API ARCHIVE ASAP BUT CC CD CR CT CTA DX DICOM DR DVD DOB ED EHR EMR ER EPIC ETA FIND FOR FYI
HELP HIS HL7 HR ICU ID IMAGE IMAGES IR IT MAMMO MG MPR MR MRA MRI MRN MWL NA NM NO NOT NOW OK OR OT PACS PDF PET
PID PM PN PR PS PT PX RF RIS RR SCP SCU SEG SR STAT STUDY TAT THE TO UK URGENT US USA UTC VNA XA XR XRAY YES
ASAP MONDAY TUESDAY WEDNESDAY THURSDAY FRIDAY SATURDAY SUNDAY TODAY TOMORROW YESTERDAY TONIGHT
JANUARY FEBRUARY MARCH APRIL MAY JUNE JULY AUGUST SEPTEMBER OCTOBER NOVEMBER DECEMBER
CHEST HEAD BRAIN ABDOMEN PELVIS SPINE KNEE HIP SHOULDER HAND FOOT WRIST ANKLE NECK CARDIAC LUNG LIVER RENAL
AXIAL CORONAL SAGITTAL CONTRAST SERIES SCOUT LOCALIZER RECON PRIOR PRIORS VIEWER WORKLIST QUEUE ROUTER GATEWAY
ROOM READING SCANNER CONSOLE MODALITY STATION SERVER NODE NODES PORT TICKET TICKETS ISSUE PROBLEM ERROR
THANKS THANK PLEASE HI HELLO HEY TEAM ON CALL ONCALL ADMIN ADMINS RADIOLOGY RADIOLOGIST TECH TECHS TECHNOLOGIST
IS WAS ARE WERE HAS HAVE HAD NEEDS NEED MISSING WAITING WAITS WAIT SCANNED SENT SHOWS SHOWING STILL ALSO ONLY
IN ON AT BY OF FROM WITH WITHOUT AFTER BEFORE WHO WHOSE WHAT WHEN WHERE WHY HOW THIS THAT THESE THOSE
MERGE MERGED MOVE MOVED SEARCH LIST PORTAL TRANSPORT DEMOGRAPHICS HISTORY DETAILS RECORD RECORDS INFO BANNER
FOLDER REGISTRATION SAFETY RECONCILIATION UPDATE HOSPITAL INFIRMARY CLINIC WING BUILDING CAMPUS SITE WARD
""".split())

_TITLES = frozenset({"mr", "mrs", "ms", "miss", "mx", "mister"})


def _has_lower(text: str) -> bool:
    return any(ch.islower() for ch in text)


# Scanner and station names: a modality and a number ("CT2", "MR1", "US3").
_STATION_RE = re.compile(r"(?:CT|CTA|MR|MRI|US|DX|CR|DR|MG|NM|PET|XA|XR|RF|IR|OT)\d{1,2}[A-Z]?")

_NAME_CUE_SKIP = frozenset({"ID", "MRN", "DOB", "PID", "NO", "NUMBER", "NAME", "IS", "WAS"})


@lru_cache(maxsize=1)
def given_names() -> frozenset[str]:
    """Common given names (one per line in ``given_names.txt``), upper case."""
    text = resources.files("pacsbot.core").joinpath("given_names.txt").read_text(encoding="utf-8")
    return frozenset(line.strip().upper() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def _given_name_re() -> re.Pattern[str]:
    # A lookahead, so that one match does not swallow the start of the next ("Ping Sarah Lee").
    return re.compile(
        r"\b(?=([A-Z][a-z]+|[A-Z]{2,})(?:\s+[A-Z]\.?)?\s+"
        r"([A-Z][a-z'’]+(?:[A-Z][a-z'’]+)*(?:-[A-Z][A-Za-z'’]+)?|[A-Z]{2,}[0-9]*|[A-Z][a-z]*[0-9]+)\b)"
    )


_GIVEN_NAME_RE = _given_name_re()


def normalise(value: str) -> str:
    """An identifier as the seen-list keeps it: its letters and digits in upper case, one
    space between runs (``"zztest^fake0007"`` and ``"ZZTEST, FAKE0007"`` give the same)."""
    return " ".join(t.upper() for t in _TOKEN_RE.findall(value))


# ----------------------------------------------------------------------------------------
# identifiers the archive returned


class SeenLookup(Protocol):
    """What a :class:`Detector` needs of its seen-list: :class:`SeenIdentifiers`, or a store
    that shares one between replicas (``bot.privacy_gate.SeenStore``)."""

    def remember(self, *, patient_ids: Iterable[str] = (), names: Iterable[str] = ()) -> int: ...

    def spans(self, text: str) -> list[tuple[int, int]]: ...


class SeenIdentifiers:
    """Patient IDs and names the DICOM nodes returned lately, kept only as keyed hashes.

    :meth:`remember` adds them (and, for a name, its parts in every order) for ``ttl``
    seconds. ``load`` and ``save`` (optional) let a database share them between replicas:
    ``save(digests, expires_at)`` is called with new digests, ``load()`` returns
    ``{digest: expires_at}`` and is consulted at most every ``refresh`` seconds.
    """

    def __init__(
        self,
        key: bytes,
        *,
        ttl: float = 24 * 3600,
        clock: Callable[[], float] = time.time,
        load: Callable[[], dict[str, float]] | None = None,
        save: Callable[[dict[str, float]], None] | None = None,
        refresh: float = 10.0,
    ) -> None:
        self._key = key
        self.ttl = ttl
        self._clock = clock
        self._load = load
        self._save = save
        self._refresh = refresh
        self._loaded_at = float("-inf")
        self._digests: dict[str, float] = {}
        self._next_expiry = float("inf")  # nothing to purge before then
        self._lock = threading.Lock()
        self._keyed = hmac.new(key, digestmod=hashlib.sha256)  # copied for each digest: no re-keying

    def digest(self, normalised: str) -> str:
        """HMAC-SHA256 of the normalised form under the key, 32 hex digits."""
        h = self._keyed.copy()
        h.update(normalised.encode("utf-8"))
        return h.hexdigest()[:32]

    def remember(self, *, patient_ids: Iterable[str] = (), names: Iterable[str] = ()) -> int:
        """Keep these identifiers for ``ttl`` seconds; returns how many forms were added."""
        forms: set[str] = set()
        for pid in patient_ids:
            value = normalise(pid or "")
            if len(value.replace(" ", "")) >= 3:
                forms.add(value)
                forms.add(value.replace(" ", ""))  # "RX-0045123" typed "RX0045123", and back
        for name in names:
            forms.update(name_forms(name or ""))
        if not forms:
            return 0
        expires = self._clock() + self.ttl
        new = {self.digest(f): expires for f in forms}
        with self._lock:
            self._digests.update(new)
            self._next_expiry = min(self._next_expiry, expires)
        if self._save is not None:
            self._save(new)
        return len(new)

    def current(self) -> dict[str, float]:
        """``{digest: expires_at}`` of what is remembered now."""
        live = self._live()
        with self._lock:
            return dict(live)

    def _live(self) -> dict[str, float]:
        """The digests, loaded when due and purged of expired ones (only when one is due to
        expire, so a long list is not scanned for every message). Not a copy: read only."""
        now = self._clock()
        if self._load is not None and now - self._loaded_at >= self._refresh:
            loaded = self._load()
            with self._lock:
                self._digests.update(loaded)
                self._loaded_at = now
                if loaded:
                    self._next_expiry = min(self._next_expiry, min(loaded.values()))
        if now >= self._next_expiry:
            with self._lock:
                for d in [d for d, exp in self._digests.items() if exp <= now]:
                    del self._digests[d]
                self._next_expiry = min(self._digests.values(), default=float("inf"))
        return self._digests

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where ``text`` mentions a remembered identifier (runs of 1 to 4 words)."""
        digests = self._live()
        if not digests:
            return []
        tokens = [(m.start(), m.end(), m.group().upper()) for m in _TOKEN_RE.finditer(text)]
        # joins[j]: token j continues token j - 1 (only spaces and name punctuation between)
        joins = [False] + [_joinable(text[a[1]:b[0]]) for a, b in zip(tokens, tokens[1:])]
        digest = self.digest
        found: list[tuple[int, int]] = []
        for i in range(len(tokens)):
            words: list[str] = []
            digits = False
            for j in range(i, min(i + 4, len(tokens))):
                if j > i and not joins[j]:
                    break
                word = tokens[j][2]
                words.append(word)
                digits = digits or not word.isalpha()
                if j == i and len(word) < 3:
                    continue  # no remembered form is one word this short
                if digest(" ".join(words)) in digests or (
                        digits and j > i and digest("".join(words)) in digests):  # an ID typed with a dash or space
                    found.append((tokens[i][0], tokens[j][1]))
        return found


def _joinable(gap: str) -> bool:
    """Two tokens belong to one identifier when only spaces and name punctuation lie between."""
    return len(gap) <= 3 and all(ch in " \t,^.-_/'’" for ch in gap)


def name_forms(name: str) -> set[str]:
    """A DICOM person name in the orders and spellings people type it."""
    parts = [normalise(p) for p in re.split(r"[\^,]", name)]
    parts = [p for p in parts[:3] if p]
    if not parts:
        return set()
    forms = {" ".join(parts)}
    if len(parts) >= 2:
        family, given = parts[0], parts[1]
        forms |= {f"{family} {given}", f"{given} {family}"}
        if len(parts) == 3:
            forms |= {f"{given} {parts[2]} {family}", f"{family} {given} {parts[2]}"}
    else:
        single = parts[0]
        if " " not in single and len(single) < 4:
            return set()  # one short word is too common to mask everywhere
    return forms


# ----------------------------------------------------------------------------------------
# the detector


@dataclass(frozen=True)
class Masked:
    """Text with its patient identifiers replaced, and what kinds were found."""

    text: str
    kinds: tuple[str, ...] = ()

    @property
    def found(self) -> bool:
        return bool(self.kinds)


class Detector:
    """Finds patient identifiers in text (see the module's docstring for what it knows).

    ``site_patterns``: the site's identifier regexes (group 1, if any, is what is masked);
    ``keep_words``: the site's system names (nodes, AE titles) never taken for a name;
    ``keep_patterns``: regexes for text that is never patient data (ticket numbers);
    ``mask_accessions``: hide accession numbers after their cue word too.
    """

    def __init__(
        self,
        site_patterns: Iterable[str] = (),
        *,
        keep_words: Iterable[str] = (),
        keep_patterns: Iterable[str] = (),
        seen: SeenLookup | None = None,
        mask_accessions: bool = False,
    ) -> None:
        self.site_patterns = tuple(re.compile(p, re.IGNORECASE) for p in site_patterns)
        self.keep_words = _VOCABULARY | {w.upper() for w in keep_words if w}
        self.keep_patterns = tuple(re.compile(p) for p in keep_patterns)
        self.seen = seen
        self.mask_accessions = mask_accessions
        self._given = given_names()

    # finding ------------------------------------------------------------------------------
    def spans(self, text: str) -> list[tuple[int, int, str]]:
        """``(start, end, kind)`` of every finding, before merging and widening."""
        found: list[tuple[int, int, str]] = []
        add = found.append
        keep = self._kept_ranges(text)
        for m in _DOB_RE.finditer(text):
            add((m.start(1), m.end(1), "date of birth"))
        for m in _DATE_RE.finditer(text):
            add((m.start(), m.end(), "date"))
        for m in _SSN_RE.finditer(text):
            add((m.start(), m.end(), "social security number"))
        for m in _ID_RE.finditer(text):
            value = m.group(1)
            if any(ch.isdigit() for ch in value) and value.upper() not in self.keep_words:
                add((m.start(1), m.end(1), "patient id"))
        for pattern in self.site_patterns:
            for m in pattern.finditer(text):
                start, end = (m.start(1), m.end(1)) if pattern.groups and m.group(1) is not None else (m.start(), m.end())
                if end > start:
                    add((start, end, "patient id"))
        for m in _DICOM_PN_RE.finditer(text):
            add((m.start(), m.end(), "name"))
        for m in _LAST_FIRST_RE.finditer(text):
            self._last_first(m, add)
        for m in _NAME_CUE_RE.finditer(text):
            self._after_cue(m, add)
        for m in _GIVEN_NAME_RE.finditer(text):
            given, family = m.group(1), m.group(2)
            if given.upper() not in self._given or self._is_word(family) or family.upper() in _NOT_SURNAMES:
                continue
            if given.isupper() and not family.isupper():  # "MARY Jones" is not how anyone types
                continue
            add((m.start(1), m.end(2), "name"))
        if self.seen is not None:
            for start, end in self.seen.spans(text):
                add((start, end, "identifier from the archive"))
        if self.mask_accessions:
            for m in _ACCESSION_RE.finditer(text):
                if any(ch.isdigit() for ch in m.group(1)):
                    add((m.start(1), m.end(1), "accession number"))
        if keep:
            found = [s for s in found if s[2] in ("accession number", "identifier from the archive") or not _inside_any(s, keep)]
        return found

    def _is_word(self, token: str) -> bool:
        word = token.upper().strip(".")
        return word in self.keep_words or _STATION_RE.fullmatch(word) is not None

    def _last_first(self, m: re.Match[str], add: Callable[[tuple[int, int, str]], None]) -> None:
        family, given, more = m.group(1), m.group(2), m.group(3).strip()
        if self._is_word(family.split()[-1]) or self._is_word(given) or self._is_word(re.split(r"[-'’]", given)[0]):
            return  # "TIMING OUT, PACS-107": a system word, not a given name
        if not _has_lower(m.string) and not (any(ch.isdigit() for ch in family + given)
                                             or given.upper() in self._given or more.upper() in self._given):
            return  # a message typed in capitals: "DOWN, ASK" is shouting, not a name
        end = m.end() if more and not self._is_word(more) else m.end(2)
        caps = family.replace(" ", "").replace("-", "").replace("'", "").isupper()
        if caps and (given.isupper() or given[:1].isupper() and given.upper() in self._given):
            add((m.start(), end, "name"))
        elif given.upper() in self._given and family[:1].isupper():
            add((m.start(), end, "name"))

    def _after_cue(self, m: re.Match[str], add: Callable[[tuple[int, int, str]], None]) -> None:
        run = m.group(1)
        pieces = list(re.finditer(_NAME_TOKEN, run))
        kept: list[re.Match[str]] = []
        for piece in pieces:
            word = piece.group()
            if self._is_word(word) or word.upper() in _NAME_CUE_SKIP:
                break
            kept.append(piece)
        if not kept:
            return
        cue_text = m.group(0)[: m.start(1) - m.start(0)].strip()
        cue = cue_text.lower()
        first = re.match(r"[A-Za-z]+", cue_text)
        cue_word = first.group() if first else ""
        if cue_word.lower() in _TITLES:
            # A title is never followed by "is" ("the MR is blank"), and "MR", "MS" in capitals
            # are the modality and multiple sclerosis ("MR Prostate") unless the whole message
            # is typed in capitals.
            if re.search(r"\b(?:is|was)$", cue) or cue_text in ("MR", "MS") and _has_lower(m.string):
                return
        # One capitalised common word after "patient" is not a name ("patient Transport");
        # one after a title (Mr, Mrs) or "name" is.
        titled = cue_word.lower() in _TITLES or re.match(r"(?:name|named|called|surname|family)", cue) is not None or "name" in cue
        if len(kept) == 1 and not titled:
            word = kept[0].group()
            # One word in capitals is a surname ("patient SMITH") unless the cue word, or the
            # whole message, is in capitals too ("WRONG PATIENT MERGE?").
            capitals = (word.isupper() and len(word) > 1 and not (cue_word.isupper() and len(cue_word) > 2)
                        and _has_lower(m.string))
            if not (capitals or any(ch.isdigit() for ch in word) or word.upper() in self._given):
                return
        start = m.start(1) + kept[0].start()
        end = m.start(1) + kept[-1].end()
        add((start, end, "name"))

    def _kept_ranges(self, text: str) -> list[tuple[int, int]]:
        ranges = [(m.start(), m.end()) for p in self.keep_patterns for m in p.finditer(text)]
        if not self.mask_accessions:
            ranges += [(m.start(1), m.end(1)) for m in _ACCESSION_RE.finditer(text) if any(ch.isdigit() for ch in m.group(1))]
        return ranges

    # masking ------------------------------------------------------------------------------
    def mask(self, text: str) -> Masked:
        """``text`` with every finding replaced by ``[hidden]`` (vouched text excepted)."""
        if not text:
            return Masked(text or "")
        clean, vouched = _unvouch(text)
        spans = [s for s in self.spans(clean) if not _inside_any(s, vouched)]
        if not spans:
            return Masked(clean)
        widened = sorted((_widen(clean, start, end), kind) for start, end, kind in spans)
        merged: list[list[int]] = []
        for (start, end), _ in widened:
            if merged and start <= merged[-1][1] + _gap_to_join(clean, merged[-1][1], start):
                merged[-1][1] = max(end, merged[-1][1])
            else:
                merged.append([start, end])
        out, last = [], 0
        for start, end in merged:
            out.append(clean[last:start])
            out.append(MASK)
            last = end
        out.append(clean[last:])
        kinds = tuple(dict.fromkeys(kind for _, kind in widened))
        return Masked("".join(out), kinds)


# Capitalised words that follow a given name in ordinary PACS talk ("Will Check", "May Need"),
# and words that follow a colleague's first name in a message typed in capitals ("ASK KEVIN
# ABOUT IT").
_NOT_SURNAMES = frozenset("""
THE AND CT MR PACS VNA ROOM READING IMAGES IMAGE STUDY STUDIES SERIES TEAM DESK ADMIN ON CALL PLEASE THANKS
NEED NEEDS CHECK CHECKED CHECKING HELP TODAY TOMORROW MONDAY TUESDAY WEDNESDAY THURSDAY FRIDAY SATURDAY SUNDAY
ABOUT AGAIN ALREADY ASKED ASKS BACK BUT CALLED CALLING CAME CAN CANT COULD DID DIDNT DOES DONE FIXED GOT HERE
IF JUST KNOWS LEFT LOOKING NOW OR RESTARTED SAID SAYS SO SOON THERE THEN WANTS WENT WILL WONT WOULD YET
""".split())


def _unvouch(text: str) -> tuple[str, list[tuple[int, int]]]:
    """Remove the vouch markers; return the clean text and the vouched ranges in it."""
    if VOUCH_OPEN not in text and VOUCH_CLOSE not in text:
        return text, []
    out: list[str] = []
    ranges: list[tuple[int, int]] = []
    pos = 0
    start: int | None = None
    for ch in text:
        if ch == VOUCH_OPEN:
            start = pos
        elif ch == VOUCH_CLOSE:
            if start is not None:  # a close without an open vouches nothing
                ranges.append((start, pos))
            start = None
        else:
            out.append(ch)
            pos += 1
    return "".join(out), ranges


def _inside_any(span: tuple[int, int, str] | tuple[int, int], ranges: list[tuple[int, int]]) -> bool:
    start, end = span[0], span[1]
    return any(r_start <= start and end <= r_end for r_start, r_end in ranges)


def _widen(text: str, start: int, end: int) -> tuple[int, int]:
    """Grow a span to whole words (and DICOM ``^`` runs), so no fragment is left behind."""
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] in "^_'’" or
                         (text[start - 1] in "-." and start > 1 and text[start - 2].isalnum())):
        start -= 1
    n = len(text)
    while end < n and (text[end].isalnum() or text[end] in "^_'’" or
                       (text[end] in "-." and end + 1 < n and text[end + 1].isalnum())):
        end += 1
    return start, end


def _gap_to_join(text: str, prev_end: int, start: int) -> int:
    """Join two masked runs separated only by spaces or name punctuation into one mask."""
    gap = text[prev_end:start]
    return len(gap) if gap and len(gap) <= 3 and all(ch in " ,^" for ch in gap) else 0
