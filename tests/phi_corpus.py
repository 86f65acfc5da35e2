"""A synthetic corpus of Slack messages with patient identifiers, for the privacy detector.

Deterministic (``random.Random(SEED)``, no network, no real patient): every name is built
from syllables, taken from a handful of list names, or in the obviously fake
``ZZTEST^FAKE0001`` style; every number is random.

* :func:`corpus` — at least 600 messages as technologists and radiologists type them in Slack.
  Each :class:`Item` has ``identifiers`` (exact substrings that are patient data and must not
  survive masking) and ``keep`` (exact substrings that must survive: accession numbers after
  their cue, AE titles, node names, modality words, times, ticket refs).
* :func:`hard_cases` — the known gaps, reported by ``benchmarks/privacy.py`` but not asserted:
  names without a cue whose given name is not in ``core/given_names.txt``, lowercase names,
  a lone surname, bare numbers nobody has seen before ...
* :func:`clean_messages` — at least 300 ordinary PACS messages without patient data, to
  measure false positives.

The detector under test is configured with :data:`SITE_PATTERNS` (the site's identifier
shape), ``keep_words`` = :data:`NODE_NAMES` + :data:`AE_TITLES`, ``keep_patterns`` =
:data:`KEEP_PATTERNS`, and a :class:`core.privacy.SeenIdentifiers` that remembered
:data:`SEEN_IDS` and :data:`SEEN_NAMES` (what the archive returned earlier).

:func:`leaks`, :func:`kept` and :func:`fragments` are the scoring rules shared by the tests
and the benchmark.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

SEED = 20260104

SITE_PATTERNS = [r"\bLABPID\d{6}\b"]
KEEP_PATTERNS = [r"\bPACS-\d+\b"]
NODE_NAMES = ["pacs", "vna", "pacs2", "ris", "gw1", "orthanc"]
AE_TITLES = ["CT2_AE", "PACS_DT", "MR1_AE", "US3_AE", "VNA_SCP", "DX2_AE", "MG1_AE", "NM1_AE", "ORTHANC", "PACS_QR"]
MODALITIES = ["CT", "MR", "MRI", "US", "DX", "MG", "NM", "PET", "CR", "XA", "RF"]
ROOMS = ["reading room 3", "reading room 5", "ED", "CT2", "MR1", "room 4", "ICU", "theatre 2", "resus"]

MASK = "[hidden]"


@dataclass(frozen=True)
class Item:
    text: str
    identifiers: tuple[str, ...] = ()
    keep: tuple[str, ...] = ()
    shape: str = ""


# ----------------------------------------------------------------------------------------
# names and values

_SYLLABLES = ("ka lo dor mi re na vel ton bri sa mek zu ran thi gor el va quin ost ber lin mar dek pho ru "
              "sel tam wyn ix oda fen gal hup jor kes lum nor pev rask ul yor zim").split()
LIST_SURNAMES = ["Jones", "Smith", "O'Neill", "Nguyen", "Okafor", "Garcia", "Kowalski", "MacDonald",
                 "Smith-Jones", "Patel", "Brown", "Dubois", "Fitzgerald", "Haddad"]


def list_given_names() -> list[str]:
    """The given names the detector knows (``core/given_names.txt``)."""
    path = Path(__file__).resolve().parent.parent / "core" / "given_names.txt"
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")]


GIVEN_NAMES = list_given_names()
_KNOWN_GIVEN = {g.upper() for g in GIVEN_NAMES}


class Names:
    """Synthetic names and numbers, each used once."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()
        self.fake = 0

    def _unique(self, make: Callable[[], str]) -> str:
        for _ in range(1000):
            value = make()
            if value.upper() not in self.used:
                self.used.add(value.upper())
                return value
        raise RuntimeError("ran out of unique values")

    def syllable_word(self) -> str:
        """A made-up capitalised name, never one of the known given names."""
        def make() -> str:
            word = "".join(self.rng.choice(_SYLLABLES) for _ in range(self.rng.choice((2, 2, 3))))
            return word.capitalize()
        while True:
            word = self._unique(make)
            if len(word) >= 5 and word.upper() not in _KNOWN_GIVEN:
                return word

    def surname(self) -> str:
        if self.rng.random() < 0.35:
            return self.rng.choice(LIST_SURNAMES)
        return self.syllable_word()

    def known_given(self) -> str:
        return self.rng.choice(GIVEN_NAMES)

    def unknown_given(self) -> str:
        return self.syllable_word()

    def given(self) -> str:
        return self.known_given() if self.rng.random() < 0.5 else self.unknown_given()

    def zz(self) -> tuple[str, str]:
        """``("ZZTEST", "FAKE0007")``."""
        self.fake += 1
        return "ZZTEST", f"FAKE{self.fake:04d}"

    def digits(self, n: int) -> str:
        return self._unique(lambda: "".join(self.rng.choice("0123456789") for _ in range(n)))

    def site_id(self) -> str:
        return self._unique(lambda: f"LABPID{self.rng.randrange(1, 999999):06d}")

    def other_id(self) -> str:
        """Record numbers in the shapes other hospitals use."""
        r = self.rng
        shape = r.choice(("digits", "h", "rx", "dash", "letters"))
        if shape == "digits":
            return self.digits(r.choice((6, 7, 8, 10)))
        if shape == "h":
            return self._unique(lambda: f"H{r.randrange(10**6, 10**7)}")
        if shape == "rx":
            return self._unique(lambda: f"RX{r.randrange(10**6, 10**7):07d}")
        if shape == "dash":
            return self._unique(lambda: f"{r.randrange(10, 99)}-{r.randrange(10**5, 10**6)}")
        return self._unique(lambda: f"{r.choice(('AB', 'K', 'MRN', 'UR'))}{r.randrange(10**4, 10**6)}")

    def nhs(self) -> str:
        n = self.digits(10)
        return f"{n[:3]} {n[3:6]} {n[6:]}" if self.rng.random() < 0.7 else n

    def ssn(self) -> str:
        r = self.rng
        return self._unique(lambda: f"{r.choice([x for x in range(100, 900) if x != 666]):03d}-"
                                    f"{r.randrange(1, 100):02d}-{r.randrange(1, 10000):04d}")


_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"]


def a_date(rng: random.Random, style: str | None = None) -> str:
    """A birth date in one of the forms people type."""
    y, m, d = rng.randrange(1925, 2020), rng.randrange(1, 13), rng.randrange(1, 29)
    month = _MONTHS[m - 1]
    style = style or rng.choice(("dicom", "slash", "iso", "d_month_y", "month_d_y", "dd_mon_yyyy", "dots", "slash2"))
    if style == "dicom":
        return f"{y}{m:02d}{d:02d}"
    if style == "slash":
        return f"{d:02d}/{m:02d}/{y}"
    if style == "slash2":
        return f"{d}/{m}/{y % 100:02d}"
    if style == "dots":
        return f"{d}.{m}.{y}"
    if style == "iso":
        return f"{y}-{m:02d}-{d:02d}"
    if style == "d_month_y":
        return f"{d} {rng.choice((month, month[:3]))} {y}"
    if style == "month_d_y":
        return f"{rng.choice((month, month[:3]))} {d}, {y}"
    if style == "dd_mon_yyyy":
        return f"{d:02d}-{month[:3]}-{y}"
    raise ValueError(style)


# ----------------------------------------------------------------------------------------
# the PACS talk around the identifiers

CONTEXT = [
    "images missing on {node} for {acc}",
    "study not showing in the viewer, {acc}",
    "{mod} from {ae} not arriving on {node} since {time}",
    "can you resend {acc} to {node}",
    "{mod} done at {time}, not on {node} yet",
    "see {ticket}",
    "{ticket} reopened",
    "prior {mod} missing on {node}",
    "wrong patient merge? {acc}",
    "{ae} getting association rejected from {node}",
    "series {n} missing on {node}",
    "worklist empty on {ae} since {time}",
    "scanned on {ae} at {time}",
    "rad can't open the {mod}",
    "{mod} head done {time}, {acc}",
    "half the slices missing on {node}",
    "stuck in the {node} queue",
    "needs to go to {node} asap",
    "duplicate study on {node}, {acc}",
    "{mod} report not crossing to the RIS",
    "please check {ticket}",
    "outside CD imported to {node} at {time}",
    "{ae} to {node} C-STORE failing",
    "priors not fetched from {node}",
    "{mod} in {room} sent to the wrong AE",
    "images missing on pacs for {acc}",
    "{mod} chest from {room} at {time} not on {node}",
    "can someone move {acc} from {node} to {node}",
    "radiologist says the {mod} is blank",
    "{ae} keeps timing out, {ticket}",
]
_ACC_CUES = ["acc", "acc", "acc#", "acc:", "accession", "Acc", "ACC", "accession no", "acc no"]


def _case(text: str, case: str) -> str:
    return text.lower() if case == "lower" else text.upper() if case == "upper" else text


def fill(template: str, rng: random.Random, case: str = "as is") -> tuple[str, list[str]]:
    """A context template with values; returns the text and the tokens that must survive."""
    keep: list[str] = []
    out: list[str] = []
    pos = 0
    for m in re.finditer(r"\{(\w+)\}", template):
        out.append(_case(template[pos:m.start()], case))
        pos = m.end()
        kind = m.group(1)
        if kind == "acc":
            number = _accession(rng)
            out.append(f"{_case(rng.choice(_ACC_CUES), case)} {number}")
            keep.append(number)
        elif kind == "node":
            node = _case(rng.choice(NODE_NAMES), case)
            out.append(node)
            keep.append(node)
        elif kind == "ae":
            ae = rng.choice(AE_TITLES)
            out.append(ae)
            keep.append(ae)
        elif kind == "mod":
            mod = rng.choice(MODALITIES)
            out.append(mod)
            keep.append(mod)
        elif kind == "time":
            t = f"{rng.randrange(0, 24):02d}:{rng.choice((0, 5, 15, 30, 45, 50)):02d}"
            out.append(t)
            keep.append(t)
        elif kind == "ticket":
            t = f"PACS-{rng.randrange(1, 400)}"
            out.append(t)
            keep.append(t)
        elif kind == "room":
            out.append(_case(rng.choice(ROOMS), case))
        elif kind == "n":
            out.append(str(rng.randrange(2, 12)))
        else:
            raise KeyError(kind)
    out.append(_case(template[pos:], case))
    return "".join(out), keep


def _accession(rng: random.Random) -> str:
    shape = rng.choice(("a", "acc", "num", "ct", "e", "rad"))
    if shape == "a":
        return f"A{rng.randrange(1000, 9999)}"
    if shape == "acc":
        return f"ACC{rng.randrange(0, 10**6):06d}"
    if shape == "num":
        return str(rng.randrange(10**7, 10**8))
    if shape == "ct":
        return f"CT26{rng.randrange(0, 10**6):06d}"
    if shape == "e":
        return f"E{rng.randrange(0, 10**7):07d}"
    return f"RAD-2026-{rng.randrange(1, 9999):04d}"


# ----------------------------------------------------------------------------------------
# the identifier shapes: each returns (phrase, identifiers, may the phrase change case?)

Phrase = tuple[str, list[str], bool]


def _pick(rng: random.Random, *options: str) -> str:
    return rng.choice(options)


def shape_cue_id(rng: random.Random, n: Names) -> Phrase:
    """A record number after a cue word: ``MRN LABPID010007``, ``pt id 99887766``, ``MR# 4455667``."""
    cue = _pick(rng, "MRN", "MRN:", "mrn", "MRN#", "MR#", "MR #", "medical record number", "med rec no", "ID", "id:",
                "ID#", "patient id", "patient ID", "Patient ID:", "pt id", "pt ID", "PID", "pid", "pid:", "hosp no",
                "hospital number", "Hosp No.", "chart no", "UR no", "URN", "EMPI")
    value = n.site_id() if rng.random() < 0.45 else n.other_id()
    return f"{cue} {value}", [value], True


def shape_nhs(rng: random.Random, n: Names) -> Phrase:
    cue = _pick(rng, "NHS no", "NHS number", "nhs no:", "NHS #", "NHS No.")
    value = n.nhs()
    return f"{cue} {value}", [value], True


def shape_site_id(rng: random.Random, n: Names) -> Phrase:
    """The site's own identifier shape without a cue: ``LABPID010012``."""
    value = n.site_id()
    if rng.random() < 0.2:
        value = value.lower()
    return _pick(rng, f"{value}", f"for {value}", f"({value})", f"{value}'s"), [value], False


def shape_dicom_pn(rng: random.Random, n: Names) -> Phrase:
    """DICOM person names: ``ZZTEST^FAKE0007``, ``KALODOR^MIRENA^ANN``, ``Jones^Mary``."""
    style = rng.choice(("zz", "zz", "upper", "upper_mid", "trailing", "title", "lower"))
    if style == "zz":
        value = "^".join(n.zz())
    elif style == "upper":
        value = f"{n.surname().upper()}^{n.given().upper()}"
    elif style == "upper_mid":
        value = f"{n.surname().upper()}^{n.given().upper()}^{n.given().upper()}"
    elif style == "trailing":
        value = f"{n.surname().upper()}^{n.given().upper()}^^^"
    elif style == "title":
        value = f"{n.surname()}^{n.given()}"
    else:
        family, given = n.zz()
        value = f"{family}^{given}".lower()
    cue = _pick(rng, "", "", "pt ", "patient ", "for ", "Pt: ")
    return f"{cue}{value}", [value], False


def shape_last_first(rng: random.Random, n: Names) -> Phrase:
    """``ZZTEST, FAKE0008``, ``KALODOR, MIRENA``, ``Jones, Mary`` (given name known)."""
    style = rng.choice(("zz", "upper", "upper_two", "title_known", "hyphen"))
    if style == "zz":
        family, given = n.zz()
        value = f"{family}, {given}"
    elif style == "upper":
        value = f"{n.surname().upper()}, {n.given().upper()}"
    elif style == "upper_two":
        value = f"{n.surname().upper()}, {n.given().upper()} {n.given().upper()}"
    elif style == "title_known":
        value = f"{n.surname()}, {n.known_given()}"
    else:
        value = f"{n.syllable_word().upper()}-{n.syllable_word().upper()}, {n.given().upper()}"
    cue = _pick(rng, "", "", "pt ", "for ", "patient: ")
    return f"{cue}{value}", [value], False


def shape_cue_name(rng: random.Random, n: Names) -> Phrase:
    """A name after a cue: ``patient Jane Doe``, ``pt: SMITH JOHN``, ``name: Mirena Kalodor``."""
    style = rng.choice(("title", "upper", "upper_rev", "zz", "initial"))
    if style == "title":
        value = f"{n.given()} {n.surname()}"
    elif style == "upper":
        value = f"{n.surname().upper()} {n.given().upper()}"
    elif style == "upper_rev":
        value = f"{n.given().upper()} {n.surname().upper()}"
    elif style == "zz":
        value = " ".join(n.zz())
    else:
        value = f"{n.given()} {rng.choice('ABCDEJKLMRST')}. {n.surname()}"
    cue = _pick(rng, "patient", "patient", "pt", "pt:", "Pt", "Patient:", "patient name", "patient name:", "pt name:",
                "name:", "Name:", "name -", "patient's name is", "patient called", "pt named")
    return f"{cue} {value}", [value], False


def shape_title(rng: random.Random, n: Names) -> Phrase:
    """``Mr Smith``, ``Mrs O'Neill``, ``Ms Kalodor``, ``Mrs Mary Kalodor``."""
    title = _pick(rng, "Mr", "Mrs", "Ms", "Miss", "Mr.", "Mrs.", "mr", "mrs")
    value = f"{n.given()} {n.surname()}" if rng.random() < 0.25 else n.surname()
    return f"{title} {value}", [value], False


def shape_given_surname(rng: random.Random, n: Names) -> Phrase:
    """A known given name and a surname without any cue: ``for Mary Jones``."""
    style = rng.choice(("title", "title", "title", "initial", "upper", "zz"))
    if style == "title":
        value = f"{n.known_given()} {n.surname()}"
    elif style == "initial":
        value = f"{n.known_given()} {rng.choice('ABCDEJKLMRST')}. {n.surname()}"
    elif style == "upper":
        value = f"{n.known_given()} {n.surname()}".upper()
    else:
        value = f"{n.known_given()} FAKE{9000 + n.fake:04d}"
        n.fake += 1
    phrase = _pick(rng, f"for {value}", f"{value}'s scan", f"{value}", f"where are the knee xrays for {value}",
                   f"has anyone seen {value}", f"{value} -")
    return phrase, [value], False


def shape_date(rng: random.Random, n: Names) -> Phrase:
    """A birth date without a cue, in every common form."""
    value = a_date(rng)
    if rng.random() < 0.15:
        value = value.upper()
    return _pick(rng, value, value, f"({value})"), [value], False


def shape_dob(rng: random.Random, n: Names) -> Phrase:
    """A birth date after a cue: ``DOB: 3/4/55``, ``born 12 March 1961``, ``DOB 4/3``."""
    cue = _pick(rng, "DOB", "DOB:", "dob", "dob:", "D.O.B.", "born", "born on", "date of birth", "Date of birth:", "DOB -")
    if rng.random() < 0.15:
        d, m = rng.randrange(1, 29), rng.randrange(1, 13)
        value = f"{d}/{m}"
    else:
        value = a_date(rng)
    return f"{cue} {value}", [value], True


def shape_ssn(rng: random.Random, n: Names) -> Phrase:
    value = n.ssn()
    cue = _pick(rng, "SSN ", "ssn: ", "SSN# ", "social ", "")
    return f"{cue}{value}", [value], True


# --- seen by the archive: the corpus remembers these in the DICOM form the archive returns

SEEN_NAMES: list[str] = []
SEEN_IDS: list[str] = []


def _seen_pool() -> tuple[list[tuple[str, str]], list[str]]:
    rng = random.Random(SEED + 1)
    n = Names(rng)
    n.fake = 5000
    names = []
    for i in range(40):
        if i % 3 == 0:
            family, given = n.zz()
        elif i % 3 == 1:
            family, given = n.syllable_word().upper(), n.syllable_word().upper()
        else:
            family, given = rng.choice(LIST_SURNAMES).upper(), n.syllable_word().upper()
        names.append((family, given))
    ids = [n.other_id() for _ in range(40)]
    return names, ids


_SEEN_NAME_PARTS, SEEN_IDS = _seen_pool()
SEEN_NAMES = [f"{family}^{given}" for family, given in _SEEN_NAME_PARTS]


def shape_seen_name(rng: random.Random, n: Names) -> Phrase:
    """A name the archive returned earlier, typed without its punctuation, in any order and case."""
    family, given = rng.choice(_SEEN_NAME_PARTS)
    style = rng.choice(("fg", "gf", "lower", "title_gf", "title_fg"))
    value = {"fg": f"{family} {given}", "gf": f"{given} {family}", "lower": f"{family} {given}".lower(),
             "title_gf": f"{given.title()} {family.title()}", "title_fg": f"{family.title()} {given.title()}"}[style]
    return _pick(rng, value, f"for {value}", f"{value}'s"), [value], False


def shape_seen_id(rng: random.Random, n: Names) -> Phrase:
    """A patient ID the archive returned earlier, typed without a cue."""
    value = rng.choice(SEEN_IDS)
    return _pick(rng, value, f"for {value}", f"#{value}", f"{value}'s"), [value], False


SHAPES: dict[str, Callable[[random.Random, Names], Phrase]] = {
    "id after cue": shape_cue_id,
    "NHS number": shape_nhs,
    "site id, no cue": shape_site_id,
    "DICOM person name": shape_dicom_pn,
    "LAST, FIRST": shape_last_first,
    "name after cue": shape_cue_name,
    "title + surname": shape_title,
    "given + surname, no cue": shape_given_surname,
    "date, no cue": shape_date,
    "date of birth after cue": shape_dob,
    "SSN": shape_ssn,
    "seen name": shape_seen_name,
    "seen id": shape_seen_id,
}

_ENDINGS = ["", "", "", ".", "?", "!", " ??", " thx", " pls", " - urgent"]


def _message(rng: random.Random, phrases: list[Phrase], shape: str) -> Item:
    case = rng.choices(("as is", "lower", "upper"), weights=(75, 15, 10))[0]
    texts = []
    for text, _, case_free in phrases:
        texts.append(_case(text, case) if case_free and case != "as is" else text)
    # identifiers change case with their cue word when the phrase may change case
    ids = [_case(i, case) if case_free else i for _, ident, case_free in phrases for i in ident]
    joined = rng.choice((" ", ", ", " / ", " - ")).join(texts)
    ctx1, keep1 = fill(rng.choice(CONTEXT), rng, case)
    ctx2, keep2 = fill(rng.choice(CONTEXT), rng, case)
    layout = rng.choice(("end", "end", "start", "start", "middle", "alone"))
    ending = rng.choice(_ENDINGS)
    if layout == "end":
        text, keep = f"{ctx1} {joined}{ending}", keep1
    elif layout == "start":
        text, keep = f"{joined}{rng.choice((' ', ': ', ' - ', ', '))}{ctx1}{ending}", keep1
    elif layout == "middle":
        text, keep = f"{ctx1} {joined}, {ctx2}{ending}", keep1 + keep2
    else:
        text, keep = f"{joined}{ending}", []
    return Item(text, tuple(ids), tuple(keep), shape)


_TWO = [("DICOM person name", "date, no cue"), ("DICOM person name", "date of birth after cue"),
        ("id after cue", "name after cue"), ("LAST, FIRST", "id after cue"), ("name after cue", "date of birth after cue"),
        ("seen name", "date of birth after cue"), ("title + surname", "id after cue"), ("given + surname, no cue", "date, no cue"),
        ("site id, no cue", "DICOM person name"), ("seen id", "seen name"), ("id after cue", "SSN"),
        ("NHS number", "name after cue")]


def corpus(per_shape: int = 44, pairs: int = 110) -> list[Item]:
    """At least 600 messages: ``per_shape`` for each shape and ``pairs`` with two identifiers."""
    rng = random.Random(SEED)
    names = Names(rng)
    items: list[Item] = []
    for shape, make in SHAPES.items():
        for _ in range(per_shape):
            items.append(_message(rng, [make(rng, names)], shape))
    for i in range(pairs):
        a, b = _TWO[i % len(_TWO)]
        items.append(_message(rng, [SHAPES[a](rng, names), SHAPES[b](rng, names)], f"{a} + {b}"))
    # two worked examples from the issue, verbatim
    items.append(Item("images missing on pacs for acc A1002 pt ZZTEST^FAKE0007 DOB 19940101, CT2 at 14:30",
                      ("ZZTEST^FAKE0007", "19940101"), ("pacs", "A1002", "14:30"), "issue example"))
    items.append(Item("where are the knee xrays for Mary Jones", ("Mary Jones",), (), "issue example"))
    return items


# ----------------------------------------------------------------------------------------
# known gaps (reported, not asserted)

def hard_cases() -> list[Item]:
    """Identifiers the detector is not expected to find: no cue, no known given name, no
    capitals, nobody saw them before. The benchmark reports how many leak."""
    rng = random.Random(SEED + 2)
    n = Names(rng)
    n.fake = 8000
    items: list[Item] = []

    def add(text: str, ident: str, shape: str) -> None:
        ctx, keep = fill(rng.choice(CONTEXT), rng)
        items.append(Item(f"{text} {ctx}" if rng.random() < 0.5 else f"{ctx} {text}", (ident,), tuple(keep), shape))

    for _ in range(10):
        value = f"{n.unknown_given()} {n.surname()}"
        add(f"for {value}", value, "unknown given name + surname, no cue")
    for _ in range(10):
        value = f"{n.known_given()} {rng.choice(LIST_SURNAMES)}".lower()
        add(rng.choice((f"for {value}", f"where are the xrays for {value}")), value, "lowercase name, no cue")
    for _ in range(6):
        value = f"{n.surname()}, {n.unknown_given()}"
        add(value, value, "Title-case LAST, First with an unknown given name")
    for _ in range(6):
        value = n.syllable_word()
        add(rng.choice((f"pt {value}'s", f"patient {value}")), value, "lone surname after pt/patient")
    for _ in range(6):
        value = n.syllable_word()
        add(f"{value}'s {rng.choice(MODALITIES)}", value, "lone surname, no cue")
    for _ in range(6):
        value = f"{n.unknown_given()} {n.syllable_word()}".upper()
        add(f"for {value}", value, "ALL-CAPS name, unknown given name, no cue")
    for _ in range(6):
        value = n.other_id()
        add(f"the {value} one", value, "bare record number nobody has seen")
    for _ in range(4):
        value = f"{rng.choice(('fourth', 'ninth', 'twelfth'))} of {rng.choice(_MONTHS)} {rng.randrange(1930, 2010)}"
        add(f"born the {value}", value, "date in words")
    return items


# ----------------------------------------------------------------------------------------
# messages without patient data

_CLEAN_STANDALONE = [
    "viewer frozen in reading room 3",
    "viewer frozen in reading room 5 again",
    "Will check after lunch",
    "May need a restart of the router tonight",
    "Mark it resolved please",
    "June rota is out, check your shifts",
    "Thanks Sarah!",
    "Kevin restarted the router, all good now",
    "Patient Transport says CT2 is free",
    "ID badge reader in room 4 is broken",
    "PET/CT fusion not loading in the viewer",
    "Reading Room 3 PC rebooted",
    "anyone else seeing slow priors this morning?",
    "Monday: viewer upgrade, expect a short outage",
    "STAT head CT waiting in the ED queue",
    "URGENT: CT2 down, scanning on CT1",
    "ok thanks, closing",
    "Can't log in to the reading room workstation",
    "Restarted the DICOM router, queue draining",
    "Hanging protocols reset after the update",
    "New AE title set up for the portable DX",
    "The VNA migration job is at 72%",
    "Monitor calibration due in reading room 5",
    "Printer in the ED is out of film",
    "Who has the on-call phone tonight?",
    "Dictation mic not working in room 4",
    "MWL not updating on the US carts",
    "Downtime procedure card is in the red folder",
    "Paging the PACS admin on call",
    "Voice recognition crashed twice today",
    "Teleradiology link back up",
    "Workstation 12 needs a new GPU",
    "Key images not showing in the report",
    "Measurements lost after saving",
    "Hologic tomo not displaying slices",
    "3D lab cannot pull the CTA",
    "Great, working again",
    "Still broken for me",
    "Is the viewer slow for everyone or just me?",
    "Order in RIS but not on the worklist",
    "Who owns the router config?",
    "Can we get a second monitor in ICU?",
    "Chris from IT is on it",
    "Grace period on the licence ends Friday",
    "Austin office link is slow",
    "Jordan block updated the firmware",
    "Ping Sarah Lee in IT if it happens again",
]


def clean_messages(count: int = 320) -> list[Item]:
    """Ordinary PACS messages without patient data (staff first names appear, as they do)."""
    rng = random.Random(SEED + 3)
    items: list[Item] = [Item(t, (), (), "clean") for t in _CLEAN_STANDALONE]
    seen = {i.text for i in items}
    while len(items) < count:
        case = rng.choices(("as is", "lower", "upper"), weights=(80, 15, 5))[0]
        text, keep = fill(rng.choice(CONTEXT), rng, case)
        if rng.random() < 0.5:
            more, keep2 = fill(rng.choice(CONTEXT), rng, case)
            text, keep = f"{text}{rng.choice((', ', '. ', ' - ', ' and '))}{more}", keep + keep2
        if rng.random() < 0.3:
            more, keep2 = fill(rng.choice(_CLEAN_EXTRAS), rng, case)
            text, keep = f"{text}. {more}", keep + keep2
        text += rng.choice(_ENDINGS)
        if text not in seen:
            seen.add(text)
            items.append(Item(text, (), tuple(keep), "clean"))
    return items


_CLEAN_EXTRAS = [
    "C-ECHO from {ae} to 10.20.30.{n} port 104 fails",
    "viewer 7.2.{n} upgrade tonight at {time}",
    "{n} studies queued on {ae}",
    "Study has {n} series, expected 12",
    "reading room {n} is fine",
    "{ae} port 11112 open again",
    "called the vendor at {time}",
    "{mod} ok, {mod} still slow",
    "on-call rad informed at {time}",
    "ticket is {ticket}",
]


# ----------------------------------------------------------------------------------------
# scoring

_TOKEN = re.compile(r"[A-Za-z0-9]+")


def _tokens(text: str) -> Counter[str]:
    return Counter(t.upper() for t in _TOKEN.findall(text))


def leaks(text: str, masked: str, identifiers: Iterable[str]) -> list[str]:
    """The identifiers of which anything survived masking: the whole string, or any piece of
    two or more letters/digits that the masked text holds more often than the text around the
    identifiers did (so ``[hidden] FAKE0007`` and ``Mary [hidden]`` are leaks)."""
    identifiers = list(identifiers)
    outside = text
    for ident in sorted(identifiers, key=len, reverse=True):
        outside = outside.replace(ident, " ")
    around, after = _tokens(outside), _tokens(masked)
    bad = []
    for ident in identifiers:
        if ident in masked and ident not in outside:
            bad.append(ident)
            continue
        if any(len(p) >= 2 and after[p.upper()] > around[p.upper()] for p in _TOKEN.findall(ident)):
            bad.append(ident)
    return bad


def _count_token(text: str, token: str) -> int:
    return len(re.findall(rf"(?<![A-Za-z0-9_]){re.escape(token)}(?![A-Za-z0-9_])", text))


def kept(text: str, masked: str, keep: Iterable[str]) -> tuple[int, int, list[str]]:
    """``(survived, total, lost)`` for the keep tokens (each counted as often as it was put in)."""
    need = Counter(keep)
    survived, lost = 0, []
    for token, n in need.items():
        missing = max(0, _count_token(text, token) - _count_token(masked, token))
        ok = max(0, n - missing)
        survived += ok
        lost += [token] * (n - ok)
    return survived, sum(need.values()), lost


_ADJACENT = re.compile(r"([A-Za-z0-9]+)[\^'’._-]?" + re.escape(MASK) + "|" + re.escape(MASK) + r"[\^'’._-]?([A-Za-z0-9]+)")


def fragments(masked: str, identifiers: Iterable[str]) -> list[str]:
    """Runs of 3+ letters/digits glued to ``[hidden]`` that are part of an identifier
    (``[hidden]0007``, ``ZZTEST^[hidden]``)."""
    squashed = ["".join(_TOKEN.findall(i)).upper() for i in identifiers]
    out = []
    for m in _ADJACENT.finditer(masked):
        run = (m.group(1) or m.group(2)).upper()
        if len(run) >= 3 and any(run in s for s in squashed):
            out.append(m.group())
    return out
