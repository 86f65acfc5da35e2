"""What a person may ask for, checked before anything goes on the network.

Chat and the command line hand us free text; this module turns it into a
:class:`LocateQuery` or refuses it with a message written for the person who typed it.
The rules are deliberately stricter than DICOM: an accession number or patient ID is
matched exactly, never as a pattern, so no one can list a whole archive from chat.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from datetime import date

from pacsbot.core.errors import UserError

ACCESSION_MAX = 16  # VR SH
PATIENT_ID_MAX = 64  # VR LO

# Letters, digits, and the few punctuation marks real accession numbers and MRNs use.
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._/-]*$")
_SAFE_CHARS = "letters, digits, spaces and . _ - /"
_DATE = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})$")
# Slack and phones turn "--" into a dash; treat them the same.
_DASHES = ("\u2014", "\u2013", "\u2012", "\u2212")


@dataclass(frozen=True)
class DateRange:
    start: date
    end: date

    @property
    def dicom(self) -> str:
        """The StudyDate matching key: ``YYYYMMDD`` or ``YYYYMMDD-YYYYMMDD``."""
        if self.start == self.end:
            return self.start.strftime("%Y%m%d")
        return f"{self.start:%Y%m%d}-{self.end:%Y%m%d}"

    def __str__(self) -> str:
        if self.start == self.end:
            return self.start.isoformat()
        return f"{self.start.isoformat()} to {self.end.isoformat()}"


@dataclass(frozen=True)
class LocateQuery:
    """One validated locate request. ``patient_id`` is PHI: never log it or show it in a channel."""

    accession: str | None = None
    patient_id: str | None = field(default=None, repr=False)
    dates: DateRange | None = None
    nodes: tuple[str, ...] = ()

    @property
    def by_patient(self) -> bool:
        return self.patient_id is not None

    def describe(self, *, show_patient: bool = False) -> str:
        """Plain words for what was asked, PHI-free unless ``show_patient``."""
        if self.accession is not None:
            return f"accession {self.accession}"
        who = f"patient ID {self.patient_id}" if show_patient else "the patient ID you gave"
        return f"{who}" + (f", {self.dates}" if self.dates else "")


@dataclass(frozen=True)
class EchoRequest:
    nodes: tuple[str, ...]  # empty means all


def _clean(value: str) -> str:
    return value.replace("\u00a0", " ").strip()


def _refuse_patterns(value: str, what: str) -> None:
    if "*" in value or "?" in value:
        raise UserError(
            f"Wildcards (* and ?) are not allowed in the {what}: give the exact {what}, and I will look for that one only."
        )
    if "\\" in value:
        raise UserError(f"A backslash is not allowed in the {what} (it would ask for several values at once). Give one exact {what}.")
    if "%" in value:
        raise UserError(f"“%” is not allowed in the {what}: give the exact {what}.")


def validate_accession(raw: str) -> str:
    """An exact accession number (DICOM SH), as typed: matching is case-sensitive."""
    value = _clean(raw)
    if not value:
        raise UserError("The accession number is empty. Example: `/pacs locate A123456`.")
    _refuse_patterns(value, "accession number")
    if len(value) > ACCESSION_MAX:
        raise UserError(
            f"“{value[:40]}” is {len(value)} characters long; an accession number has at most {ACCESSION_MAX}. "
            "Check you did not paste a patient ID or a study UID."
        )
    if not _SAFE.match(value):
        bad = next((c for c in value if not re.match(r"[A-Za-z0-9 ._/-]", c)), value[:1])
        raise UserError(
            f"The accession number contains “{bad}”; it may only contain {_SAFE_CHARS}, starting with a letter or digit."
        )
    return value


def validate_patient_id(raw: str) -> str:
    value = _clean(raw)
    if not value:
        raise UserError("The patient ID is empty. Example: `/pacs locate --patient 123456 --date 20260105`.")
    _refuse_patterns(value, "patient ID")
    if len(value) > PATIENT_ID_MAX:
        raise UserError(f"That patient ID is {len(value)} characters long; DICOM allows at most {PATIENT_ID_MAX}.")
    if not _SAFE.match(value):
        raise UserError(f"The patient ID may only contain {_SAFE_CHARS}, starting with a letter or digit.")
    return value


def _one_date(text: str) -> date:
    match = _DATE.match(text)
    if not match:
        raise UserError(
            f"“{text[:30]}” is not a date. Use YYYYMMDD (like 20260105) or a range like 20260101-20260107."
        )
    year, month, day = (int(g) for g in match.groups())
    try:
        value = date(year, month, day)
    except ValueError:
        raise UserError(f"“{text}” is not a real date (check the month and the day).") from None
    if year < 1900:
        raise UserError(f"“{text}” is before 1900; check the year.")
    return value


def parse_dates(raw: str, *, today: date | None = None) -> DateRange:
    """``YYYYMMDD`` or ``YYYYMMDD-YYYYMMDD`` (``YYYY-MM-DD`` is accepted too). Both ends required."""
    text = _clean(raw)
    for dash in _DASHES:
        text = text.replace(dash, "-")
    if not text:
        raise UserError("The date is empty. Use YYYYMMDD, like 20260105.")
    if "*" in text or "?" in text or "\\" in text:
        raise UserError("Wildcards and lists are not allowed in the date. Use YYYYMMDD or YYYYMMDD-YYYYMMDD.")
    compact = text.replace(" ", "")
    if re.match(r"^\d{8}-\d{8}$", compact):
        start, end = _one_date(compact[:8]), _one_date(compact[9:])
    elif re.match(r"^\d{4}-\d{2}-\d{2}$", compact) or re.match(r"^\d{8}$", compact):
        start = end = _one_date(compact)
    elif re.match(r"^\d{4}-\d{2}-\d{2}-\d{4}-\d{2}-\d{2}$", compact):
        start, end = _one_date(compact[:10]), _one_date(compact[11:])
    elif compact.startswith("-") or compact.endswith("-"):
        raise UserError("Give both ends of a date range, like 20260101-20260107 (open ranges could match years of studies).")
    else:
        raise UserError(f"“{text[:30]}” is not a date. Use YYYYMMDD (like 20260105) or a range like 20260101-20260107.")
    if end < start:
        raise UserError(f"The date range ends ({end}) before it starts ({start}).")
    if today is not None and start > today:
        raise UserError(f"{start} is in the future; check the date.")
    return DateRange(start, end)


def _words(text: str) -> list[str]:
    for dash in _DASHES:
        text = text.replace(dash + "-", "--").replace(dash, "--")
    # Before tokenising: shlex would read a backslash as an escape and drop it, turning the
    # multi-value "A1\A2" into "A1A2". No value pacsbot accepts contains one.
    if "\\" in text:
        raise UserError("A backslash is not allowed (it would ask for several values at once). Give one exact value.")
    # Slack escapes & < > (should_escape); keep them escaped so they are refused as characters.
    try:
        return shlex.split(text)
    except ValueError:
        raise UserError("I could not read that: check the quotes.") from None


def _node_names(values: list[str]) -> tuple[str, ...]:
    names: list[str] = []
    for value in values:
        for part in value.replace(",", " ").split():
            part = part.strip().lower()
            if part and part not in names:
                names.append(part)
    return tuple(names)


LOCATE_USAGE = "/pacs locate <accession> | --patient <id> [--date YYYYMMDD[-YYYYMMDD]] [--node NAME]"


def parse_locate(text: str, *, today: date | None = None) -> LocateQuery:
    """Parse ``A123 [--node pacs]`` or ``--patient ID [--date D] [--node NAME ...]``."""
    words = _words(text)
    accession: str | None = None
    patient: str | None = None
    dates: str | None = None
    nodes: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        option = word.lower()
        if option.startswith("--") and "=" in option:
            option, _, inline_value = word.partition("=")
            option = option.lower()
            words[i:i + 1] = [option, inline_value]
        if option in ("--patient", "--patient-id", "--pid", "--mrn", "--accession", "--acc", "--date", "--dates", "--node", "--nodes"):
            if i + 1 >= len(words) or (words[i + 1].startswith("--") and len(words[i + 1]) > 2):
                raise UserError(f"{option} needs a value. Usage: `{LOCATE_USAGE}`")
            value = words[i + 1]
            if option in ("--patient", "--patient-id", "--pid", "--mrn"):
                if patient is not None:
                    raise UserError("Give one --patient only.")
                patient = value
            elif option in ("--accession", "--acc"):
                if accession is not None:
                    raise UserError("Give one accession number only.")
                accession = value
            elif option in ("--date", "--dates"):
                if dates is not None:
                    raise UserError("Give one --date only (use a range like 20260101-20260107).")
                dates = value
            else:
                nodes.append(value)
            i += 2
            continue
        if word.startswith("-") and len(word) > 1:
            raise UserError(f"I don't know the option {word[:30]}. Usage: `{LOCATE_USAGE}`")
        if accession is not None:
            raise UserError(
                f"One accession number at a time, please (I read “{accession}” and “{word[:20]}”). "
                "If it contains a space, put it in quotes."
            )
        accession = word
        i += 1
    return make_query(accession=accession, patient=patient, dates=dates, nodes=nodes, today=today)


def make_query(
    *,
    accession: str | None = None,
    patient: str | None = None,
    dates: str | None = None,
    nodes: list[str] | tuple[str, ...] = (),
    today: date | None = None,
    usage: str = LOCATE_USAGE,
) -> LocateQuery:
    """Validate the parts of a locate request (from chat or the command line)."""
    if accession is not None and patient is not None:
        raise UserError("Give either an accession number or --patient, not both.")
    if accession is None and patient is None:
        raise UserError(f"What should I look for? Usage: `{usage}`")
    if accession is not None and dates is not None:
        raise UserError("--date goes with --patient (an accession number is already one study).")
    if accession is not None:
        return LocateQuery(accession=validate_accession(accession), nodes=_node_names(list(nodes)))
    assert patient is not None
    return LocateQuery(
        patient_id=validate_patient_id(patient),
        dates=parse_dates(dates, today=today) if dates is not None else None,
        nodes=_node_names(list(nodes)),
    )


def parse_echo(text: str) -> EchoRequest:
    """``all``, nothing (= all), or node names separated by spaces or commas."""
    names = _node_names(_words(text))
    if not names or "all" in names:
        return EchoRequest(())
    return EchoRequest(names)


def resolve_nodes(requested: tuple[str, ...], known: list[str], *, command: str, prefix: str = "/pacs") -> list[str]:
    """The configured node names asked for (all when none), or a clear refusal."""
    if not known:
        raise UserError(
            "No DICOM nodes are configured yet. A PACS admin adds them under `dicom: nodes:` in the pacsbot "
            "configuration (or sets `dicom: demo: true` to try the demo nodes)."
        )
    if not requested:
        return list(known)
    unknown = [n for n in requested if n not in known]
    if unknown:
        raise UserError(
            f"There is no node called “{unknown[0][:32]}”. Configured nodes: {', '.join(known)}. "
            f"Example: `{prefix} {command} {known[0]}`."
        )
    return [n for n in known if n in requested]


# Shared with the worklist check (commands/worklist.py): the same tokenising, the same refusal
# of wildcards and lists, the same node-name handling as locate.
split_words = _words
refuse_patterns = _refuse_patterns
node_names = _node_names
