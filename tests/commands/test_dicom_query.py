"""What people type for echo/locate: accepted exactly, or refused with a message that says why."""

from __future__ import annotations

from datetime import date

import pytest

from pacsbot.commands.query import (
    DateRange,
    make_query,
    parse_dates,
    parse_echo,
    parse_locate,
    resolve_nodes,
    validate_accession,
    validate_patient_id,
)
from pacsbot.core.errors import UserError


@pytest.mark.parametrize("text, expected", [
    ("A123", "A123"),
    ("  A123  ", "A123"),
    ("a123", "a123"),  # kept as typed: matching is case-sensitive
    ("CT-2026.0001/7", "CT-2026.0001/7"),
    ("1234567890123456", "1234567890123456"),  # 16 characters, the SH maximum
    ("ACC 12", "ACC 12"),
])
def test_accession_accepted_exactly(text: str, expected: str) -> None:
    assert validate_accession(text) == expected


@pytest.mark.parametrize("text, message", [
    ("", "accession number is empty"),
    ("   ", "accession number is empty"),
    ("\u00a0", "accession number is empty"),
    ("*", "Wildcards (* and ?) are not allowed"),
    ("A12*", "Wildcards (* and ?) are not allowed"),
    ("A1?3", "Wildcards (* and ?) are not allowed"),
    ("A1\\A2", "backslash is not allowed"),
    ("A1%", "“%” is not allowed"),
    ("12345678901234567", "17 characters long; an accession number has at most 16"),
    ("A1;DROP", "contains “;”"),
    ("A1<b>", "contains “<”"),
    ("A1\u00e9", "contains “\u00e9”"),
    ("-A1", "starting with a letter or digit"),
    ("A1\tB", "contains"),
])
def test_accession_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(UserError) as info:
        validate_accession(text)
    assert message in str(info.value)


def test_patient_id_limits() -> None:
    assert validate_patient_id("MRN-0042") == "MRN-0042"
    assert validate_patient_id("x" * 64) == "x" * 64
    with pytest.raises(UserError, match="65 characters long; DICOM allows at most 64"):
        validate_patient_id("x" * 65)
    for bad in ("", "  ", "12*", "1?", "1\\2", "DOE^JOHN"):
        with pytest.raises(UserError):
            validate_patient_id(bad)


@pytest.mark.parametrize("text, start, end", [
    ("20260105", date(2026, 1, 5), date(2026, 1, 5)),
    ("2026-01-05", date(2026, 1, 5), date(2026, 1, 5)),
    ("20260101-20260107", date(2026, 1, 1), date(2026, 1, 7)),
    ("20260101 - 20260107", date(2026, 1, 1), date(2026, 1, 7)),
    ("20260101\u201320260107", date(2026, 1, 1), date(2026, 1, 7)),  # an en dash from a phone
    ("2026-01-01-2026-01-07", date(2026, 1, 1), date(2026, 1, 7)),
])
def test_dates(text: str, start: date, end: date) -> None:
    assert parse_dates(text) == DateRange(start, end)


def test_date_range_as_dicom() -> None:
    assert parse_dates("20260105").dicom == "20260105"
    assert parse_dates("20260101-20260107").dicom == "20260101-20260107"
    assert str(parse_dates("20260101-20260107")) == "2026-01-01 to 2026-01-07"


@pytest.mark.parametrize("text, message", [
    ("", "date is empty"),
    ("yesterday", "is not a date"),
    ("2026010", "is not a date"),
    ("20260230", "not a real date"),
    ("20261301", "not a real date"),
    ("18991231", "before 1900"),
    ("20260107-20260101", "ends (2026-01-01) before it starts (2026-01-07)"),
    ("20260101-", "Give both ends of a date range"),
    ("-20260101", "Give both ends of a date range"),
    ("2026*", "Wildcards and lists are not allowed"),
    ("20260101\\20260102", "Wildcards and lists are not allowed"),
])
def test_bad_dates(text: str, message: str) -> None:
    with pytest.raises(UserError) as info:
        parse_dates(text)
    assert message in str(info.value)


def test_future_dates_are_refused() -> None:
    with pytest.raises(UserError, match="in the future"):
        parse_dates("20990101", today=date(2026, 1, 5))


def test_locate_by_accession() -> None:
    query = parse_locate("A123")
    assert query.accession == "A123" and query.patient_id is None and not query.by_patient
    assert query.describe() == "accession A123"
    assert parse_locate("A123 --node PACS --node vna").nodes == ("pacs", "vna")
    assert parse_locate("--node pacs,vna A123").nodes == ("pacs", "vna")
    assert parse_locate("--accession=A123").accession == "A123"
    assert parse_locate('"ACC 12"').accession == "ACC 12"


def test_locate_by_patient_keeps_the_id_out_of_repr_and_descriptions() -> None:
    query = parse_locate("--patient MRN-0042 --date 20260105")
    assert query.by_patient and query.patient_id == "MRN-0042" and query.dates == DateRange(date(2026, 1, 5), date(2026, 1, 5))
    assert "MRN-0042" not in repr(query)
    assert "MRN-0042" not in query.describe()
    assert query.describe(show_patient=True) == "patient ID MRN-0042, 2026-01-05"


def test_slack_dashes_are_options() -> None:
    # Slack and phone keyboards turn "--" into an em or en dash.
    assert parse_locate("\u2014patient MRN1 \u2013date 20260105").patient_id == "MRN1"


@pytest.mark.parametrize("text, message", [
    ("", "What should I look for?"),
    ("A1 A2", "One accession number at a time"),
    ("A1 --patient P1", "either an accession number or --patient, not both"),
    ("A1 --date 20260105", "--date goes with --patient"),
    ("--patient", "--patient needs a value"),
    ("--patient --date 20260105", "--patient needs a value"),
    ("--patient P1 --patient P2", "Give one --patient only"),
    ("--bogus x", "I don't know the option --bogus"),
    ("-x", "I don't know the option -x"),
    ('"A1', "check the quotes"),
    ("*", "Wildcards"),
    ("--patient *", "Wildcards"),
])
def test_locate_refusals(text: str, message: str) -> None:
    with pytest.raises(UserError) as info:
        parse_locate(text)
    assert message in str(info.value)


def test_make_query_is_the_same_validation() -> None:
    assert make_query(accession="A1", nodes=["pacs"]).nodes == ("pacs",)
    with pytest.raises(UserError, match="What should I look for"):
        make_query()


def test_echo_arguments() -> None:
    assert parse_echo("").nodes == ()
    assert parse_echo("all").nodes == ()
    assert parse_echo("ALL").nodes == ()
    assert parse_echo("pacs, VNA pacs").nodes == ("pacs", "vna")


def test_only_configured_nodes() -> None:
    known = ["pacs", "vna"]
    assert resolve_nodes((), known, command="echo") == ["pacs", "vna"]
    assert resolve_nodes(("vna",), known, command="echo") == ["vna"]
    with pytest.raises(UserError) as info:
        resolve_nodes(("10.0.0.5",), known, command="echo")
    assert "There is no node called “10.0.0.5”. Configured nodes: pacs, vna." in str(info.value)
    with pytest.raises(UserError, match="No DICOM nodes are configured"):
        resolve_nodes((), [], command="locate")


def test_a_backslash_is_refused_before_quoting_rules_can_eat_it() -> None:
    for text in ("A1\\A2", "--patient P1\\P2", '"A1\\A2"', "A\\*"):
        with pytest.raises(UserError, match="A backslash is not allowed"):
            parse_locate(text)
    with pytest.raises(UserError, match="A backslash is not allowed"):
        parse_echo("pacs\\vna")
