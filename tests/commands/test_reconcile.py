"""The daily reconciliation without Slack: comparison, paging, counts, dead nodes, settings, CLI.

Against real in-process DICOM SCPs (``DemoNode``): a source that holds a day of studies and an
archive that lacks some and has one incomplete. What is expected is derived from the data set
up here (``daily_studies`` / ``archive_copy``), not written out by hand.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from pacsbot.bot.audit import Audit
from pacsbot.bot.cli import main
from pacsbot.bot.settings import ConfigError, load_settings
from pacsbot.bot.storage import Database
from pacsbot.commands.config import DicomSettings, ReconcileSettings
from pacsbot.commands.demo import (
    DAILY_INCOMPLETE,
    DAILY_MISSING,
    DAILY_ONLY_ON_ARCHIVE,
    DemoNetwork,
    DemoNode,
    archive_copy,
    daily_studies,
)
from pacsbot.commands.reconcile import (
    CSV_COLUMNS,
    DayListing,
    DayStudy,
    choose_pairs,
    compare,
    csv_text,
    parse_day,
    reconcile,
    to_json,
)
from pacsbot.commands.reconcile import summary as vouched_summary
from pacsbot.commands.results import Failure, NodeRef
from pacsbot.commands.scu import target_for
from pacsbot.commands.service import Diagnostics
from pacsbot.core.errors import UserError
from pacsbot.core.privacy import strip_vouch, vouch
from tests.dicom_support import closed_port, demo_network, node_dicts  # noqa: F401 - fixture

DAY = date(2026, 1, 4)


def summary(report: Any, **kw: Any) -> str:
    """The summary as people read it (the day in it is the bot's own, vouched for the privacy gate)."""
    return strip_vouch(vouched_summary(report, **kw))


def ref(name: str) -> NodeRef:
    return NodeRef(name, "other", name.upper(), "127.0.0.1", 104)


# ----------------------------------------------------------------------------------------
# pure comparison


def test_compare_sorts_each_study_into_its_status() -> None:
    src = DayListing(ref("pacs"), "20260104", (
        DayStudy("1.1", "A1", ("CT",), "20260104", "080000", 10, "node"),
        DayStudy("1.2", "A2", ("MR",), "20260104", "090000", 10, "node"),
        DayStudy("1.3", "A3", ("CR",), "20260104", "100000", 2, "node"),
        DayStudy("1.4", "A4", ("US",), "20260104", "110000", None, "unknown"),
        DayStudy("1.5", "A5", ("DX",), "20260104", "120000", 3, "node"),
    ))
    arc = DayListing(ref("vna"), "20260104", (
        DayStudy("1.1", "A1", ("CT",), "20260104", "080000", 10, "node"),
        DayStudy("1.2", "A2", ("MR",), "20260104", "090000", 7, "node"),
        DayStudy("1.4", "A4", ("US",), "20260104", "110000", 40, "node"),
        DayStudy("1.5", "A5", ("DX",), "20260104", "120000", 4, "node"),
        DayStudy("1.9", "A9", ("CT",), "20260104", "130000", 5, "node"),
    ))
    report = compare(DAY, src, arc)
    assert [(r.status, r.accession) for r in report.rows] == [
        ("missing_on_archive", "A3"), ("incomplete", "A2"), ("count_unknown", "A4"),
        ("missing_on_source", "A9"), ("more_on_archive", "A5"), ("ok", "A1")]
    assert report.compared and not report.all_archived and report.outcome == "differences"
    text = summary(report)
    assert text.startswith(":warning: pacs → vna, 2026-01-04: 5 studies on pacs, 5 on vna — 1 missing from vna: A3; "
                           "1 incomplete: A2 (7 of 10 images).")
    assert "Instance counts unknown for 1 study" in text and "1 only on vna (informational)" in text
    counts = report.counts()
    assert counts["missing_on_archive"] == 1 and counts["incomplete"] == 1 and "A3" not in json.dumps(counts)


def test_all_archived_and_the_list_is_capped() -> None:
    same = tuple(DayStudy(f"1.{i}", f"A{i}", ("CR",), "20260104", "080000", 1, "node") for i in range(3))
    report = compare(DAY, DayListing(ref("pacs"), "20260104", same), DayListing(ref("vna"), "20260104", same))
    assert summary(report) == ":white_check_mark: pacs → vna, 2026-01-04: 3 studies on pacs, 3 on vna — all archived and complete."
    assert vouch("2026-01-04") in vouched_summary(report)  # not masked as a patient's date in the channel
    many = tuple(DayStudy(f"1.{i}", f"A{i:03d}", ("CR",), "20260104", f"08{i % 60:02d}00", 1, "node") for i in range(25))
    report = compare(DAY, DayListing(ref("pacs"), "20260104", many), DayListing(ref("vna"), "20260104", ()))
    assert "25 missing from vna: A000, A001" in summary(report) and "A019 and 5 more — see the CSV." in summary(report)
    assert "A020" not in summary(report)


def test_a_node_that_failed_is_not_zero_studies() -> None:
    src = DayListing(ref("pacs"), "20260104", (DayStudy("1.1", "A1", (), "20260104", "", 1, "node"),))
    dead = DayListing(ref("vna"), "20260104", failure=Failure("refused", "connection refused by 127.0.0.1:104"))
    report = compare(DAY, src, dead)
    assert not report.compared and report.rows == () and report.outcome == "failed" and not report.all_archived
    assert summary(report) == (":x: pacs → vna, 2026-01-04: the comparison could not be made — pacs answered (1 study); "
                               "vna: connection refused by 127.0.0.1:104.")
    assert report.counts()["archive_studies"] is None
    assert to_json(report)["archive"]["studies"] is None


def test_csv_has_no_patient_data_and_defuses_formulas() -> None:
    src = DayListing(ref("pacs"), "20260104", (DayStudy("1.1", "=HYPERLINK(1)", ("CT", "SR"), "20260104", "081500.25", 5, "node"),))
    report = compare(DAY, src, DayListing(ref("vna"), "20260104", ()))
    rows = list(csv.reader(io.StringIO(csv_text(report))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert rows[1] == ["missing_on_archive", "'=HYPERLINK(1)", "CT/SR", "2026-01-04", "08:15:00", "5", "", "1.1"]


@pytest.mark.parametrize("text, message", [
    ("", "Which day?"),
    ("tomorrow", "is not a day I understand"),
    ("2026-02-30", "is not a real date"),
    ("2026-01-06", "is in the future"),
    ("2024-12-01", "more than 366 days ago"),
])
def test_bad_days_are_refused_in_plain_words(text: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse_day(text, today=date(2026, 1, 5))


def test_days_and_pairs() -> None:
    today = date(2026, 1, 5)
    assert parse_day("yesterday", today=today) == date(2026, 1, 4)
    assert parse_day("today", today=today) == today and parse_day("20260101", today=today) == date(2026, 1, 1)
    assert choose_pairs(None, None, configured=[], known=["vna", "pacs"]) == [("pacs", "vna")]
    assert choose_pairs(None, None, configured=[("pacs", "vna2")], known=["pacs", "vna2"]) == [("pacs", "vna2")]
    assert choose_pairs("vna", "pacs", configured=[], known=["pacs", "vna"]) == [("vna", "pacs")]
    with pytest.raises(UserError, match="There is no node called “ct9”"):
        choose_pairs("pacs", "ct9", configured=[], known=["pacs", "vna"])
    with pytest.raises(UserError, match="No reconciliation is configured"):
        choose_pairs(None, None, configured=[], known=["ct1"])
    with pytest.raises(UserError, match="pacsbot reconcile --date YYYY-MM-DD --source NODE --archive NODE"):
        choose_pairs(None, None, configured=[], known=["ct1", "ct2"], prefix="pacsbot")
    with pytest.raises(UserError, match="No DICOM nodes are configured yet"):
        choose_pairs(None, None, configured=[], known=[], prefix="pacsbot")


# ----------------------------------------------------------------------------------------
# settings


def test_settings_name_the_key_of_an_unknown_node() -> None:
    nodes = [{"name": "pacs", "ae_title": "P", "host": "127.0.0.1", "port": 104},
             {"name": "vna", "ae_title": "V", "host": "127.0.0.1", "port": 105}]
    ok = DicomSettings.model_validate({"nodes": nodes, "reconcile": {"pairs": [{"source": "pacs", "archive": "vna", "at": "6:30"}]}})
    assert ok.reconcile.pairs[0].at == "06:30" and ok.reconcile.pairs[0].hour_minute == (6, 30)
    with pytest.raises(ConfigError, match=r"dicom.reconcile.pairs\[0\].archive: there is no node called 'vna9'"):
        load_settings(None, overrides={"dicom": {"nodes": nodes, "demo": "false",
                                                 "reconcile": {"pairs": [{"source": "pacs", "archive": "vna9", "channel": "C0ADM"}]}}})
    with pytest.raises(ConfigError, match="is not a time of day"):
        load_settings(None, overrides={"dicom": {"nodes": nodes, "reconcile": {"pairs": [{"source": "pacs", "archive": "vna", "at": "25:00", "channel": "C0ADM"}]}}})
    with pytest.raises(ConfigError, match=r"pairs\[0\].channel is not set and there is no tickets.admin_channel"):
        load_settings(None, overrides={"dicom": {"nodes": nodes, "reconcile": {"pairs": [{"source": "pacs", "archive": "vna"}]}}})
    # YAML 1.1 reads an unquoted 06:30 as 390 (minutes): take it as meant.
    assert DicomSettings.model_validate({"nodes": nodes, "reconcile": {"pairs": [{"source": "pacs", "archive": "vna", "at": 390}]}}).reconcile.pairs[0].at == "06:30"


# ----------------------------------------------------------------------------------------
# against real DICOM nodes


@pytest.fixture(scope="module")
def day_nodes() -> Iterator[tuple[DemoNode, DemoNode]]:
    studies = daily_studies(DAY)
    with DemoNode("pacs", "SRC_PACS", studies, report_counts=False) as source, \
            DemoNode("vna", "ARC_VNA", archive_copy(studies), report_counts=True) as archive:
        yield source, archive


def targets(*nodes: DemoNode, **node_extra: Any) -> tuple[DicomSettings, list[Any]]:
    settings = DicomSettings.model_validate({"nodes": [n.node_config().model_dump() for n in nodes]})
    return settings, [target_for(settings, n) for n in settings.nodes]


def expected(studies: list[Any]) -> tuple[list[str], list[str]]:
    """(missing from the archive, incomplete), derived from the two nodes' data."""
    source, archive = studies
    on_archive = {s.uid: s for s in archive.studies}
    missing = sorted(s.accession for s in source.studies if s.uid not in on_archive)
    short = sorted(s.accession for s in source.studies
                   if s.uid in on_archive and on_archive[s.uid].instance_count < s.instance_count)
    return missing, short


def test_two_real_nodes_one_lacking_studies_and_one_incomplete(day_nodes: tuple[DemoNode, DemoNode]) -> None:
    source, archive = day_nodes
    missing, short = expected([source, archive])
    assert missing == sorted(DAILY_MISSING) and short == [DAILY_INCOMPLETE]  # the set-up is what we think it is
    _, (src, arc) = targets(source, archive)
    report = reconcile(src, arc, DAY, ReconcileSettings())
    assert report.compared
    assert sorted(r.accession for r in report.missing_on_archive) == missing
    assert [r.accession for r in report.incomplete] == short
    assert [r.accession for r in report.missing_on_source] == [DAILY_ONLY_ON_ARCHIVE]
    incomplete = report.incomplete[0]
    truth = next(s for s in source.studies if s.accession == DAILY_INCOMPLETE)
    assert incomplete.source_instances == truth.instance_count
    assert incomplete.archive_instances == truth.instance_count - truth.series[-1].count
    # The source reports no counts: they were counted (image by image here), and said so.
    assert report.source.counts_from() == {"images": len(source.studies)}
    assert report.archive.counts_from() == {"node": len(archive.studies)}
    assert len(report.source.studies) == len(source.studies) and report.source.paged_by == ()
    ok = [r for r in report.rows if r.status == "ok"]
    assert len(ok) == len(source.studies) - len(missing) - len(short)
    text = summary(report)
    assert f"{len(missing)} missing from vna: {', '.join(sorted(missing, key=lambda a: next(s.study_time for s in source.studies if s.accession == a)))}" in text
    assert f"1 incomplete: {DAILY_INCOMPLETE} ({incomplete.archive_instances} of {incomplete.source_instances} images)" in text
    assert "DEMO" not in text and "DEMO" not in csv_text(report)  # no patient names or IDs
    assert set(source.queries) <= {"STUDY", "SERIES", "IMAGE"} and set(archive.queries) == {"STUDY"}


def test_a_day_with_nothing_and_counts_from_series(day_nodes: tuple[DemoNode, DemoNode]) -> None:
    source, archive = day_nodes
    _, (src, arc) = targets(source, archive)
    empty = reconcile(src, arc, DAY - timedelta(days=1), ReconcileSettings())
    assert empty.compared and empty.rows == () and empty.all_archived
    assert "0 studies on pacs, 0 on vna — all archived and complete" in summary(empty)
    # Reversed (vna as the source) with image counting switched off: counts come from SERIES
    # level where the node reports them, else they are "unknown" — and the report says so.
    reverse = reconcile(arc, src, DAY, ReconcileSettings(image_count_limit=0))
    on_both = len(reverse.rows) - len(reverse.missing_on_archive) - len(reverse.missing_on_source)
    assert reverse.compared and len(reverse.count_unknown) == on_both > 0
    assert "Instance counts unknown for" in summary(reverse)


@pytest.mark.parametrize("limit, own_cap", [(4, None), (0, 3)])
def test_a_node_that_caps_results_is_listed_in_pages(limit: int, own_cap: int | None) -> None:
    studies = daily_studies(DAY, count=30, prefix="P")
    with DemoNode("pacs", "SRC_PACS", studies, result_limit=limit) as source, \
            DemoNode("vna", "ARC_VNA", archive_copy(studies, missing=("P1010",), incomplete=(), only_on_archive=None)) as archive:
        _, (src, arc) = targets(source, archive)
        report = reconcile(src, arc, DAY, ReconcileSettings(), source_cap=own_cap)
    assert report.compared and report.source.paged_by == ("time",) and report.source.complete
    assert len(report.source.studies) == 30 and report.source.queries > 1
    assert [r.accession for r in report.missing_on_archive] == ["P1010"] and not report.incomplete
    assert report.archive.paged_by == () and report.archive.queries == 1


def test_an_archive_that_stalls_once_is_asked_again() -> None:
    """A C-FIND the archive takes and never answers (busy for a moment) fails the listing only if
    it happens again: one more try on a fresh association, within the node's time budget."""
    studies = daily_studies(DAY, count=8, prefix="T")
    with DemoNode("pacs", "SRC_PACS", studies) as source, \
            DemoNode("vna", "ARC_VNA", studies, stall_first_finds=1, stall_seconds=3) as archive:
        settings = DicomSettings.model_validate({"nodes": [
            source.node_config().model_dump(),
            {**archive.node_config().model_dump(), "timeouts": {"dimse": 1, "total": 20}},
        ]})
        src, arc = (target_for(settings, n) for n in settings.nodes)
        report = reconcile(src, arc, DAY, ReconcileSettings())
        assert report.compared and len(report.archive.studies) == 8 and archive.queries == ["STUDY", "STUDY"]
        # twice stalled: the honest failure, not a hang
        stuck = DemoNode("vna2", "ARC_VNA2", studies, stall_first_finds=5, stall_seconds=3)
        with stuck:
            settings = DicomSettings.model_validate({"nodes": [
                source.node_config().model_dump(),
                {**stuck.node_config().model_dump(), "timeouts": {"dimse": 1, "total": 20}},
            ]})
            src, arc = (target_for(settings, n) for n in settings.nodes)
            failed = reconcile(src, arc, DAY, ReconcileSettings())
        assert not failed.compared and "no answer to the C-FIND within 1 s" in summary(failed)


def test_a_crowded_second_is_split_by_modality() -> None:
    base = daily_studies(DAY, count=6, prefix="S")
    same_second = [s.__class__(**{**s.__dict__, "study_time": "101010"}) for s in base]
    with DemoNode("pacs", "SRC_PACS", same_second, result_limit=3) as source, \
            DemoNode("vna", "ARC_VNA", same_second) as archive:
        _, (src, arc) = targets(source, archive)
        report = reconcile(src, arc, DAY, ReconcileSettings())
    assert report.compared, summary(report)
    assert report.source.paged_by == ("modality", "time")
    by_modality: dict[str, int] = {}
    for s in same_second:
        by_modality[s.modalities[0]] = by_modality.get(s.modalities[0], 0) + 1
    assert report.source.complete == (max(by_modality.values()) <= 3)
    assert len(report.source.studies) == sum(min(n, 3) for n in by_modality.values())


def test_a_dead_node_is_an_error_not_zero_studies(day_nodes: tuple[DemoNode, DemoNode]) -> None:
    source, _ = day_nodes
    dead = {"name": "vna", "ae_title": "DEAD", "host": "127.0.0.1", "port": closed_port()}
    settings = DicomSettings.model_validate({"nodes": [source.node_config().model_dump(), dead]})
    report = Diagnostics(settings).reconcile("pacs", "vna", DAY)
    assert not report.compared and report.outcome == "failed"
    assert report.source.ok and len(report.source.studies) == len(source.studies)
    assert report.archive.failure is not None and report.archive.failure.code == "refused"
    assert "the comparison could not be made" in summary(report) and "0 on vna" not in summary(report)


# ----------------------------------------------------------------------------------------
# the command line


def config(tmp_path: Path, db_url: str, dicom: dict[str, Any]) -> str:
    path = tmp_path / "pacsbot.yml"
    path.write_text(json.dumps({"database": {"url": db_url}, "dicom": dicom}))
    return str(path)


def audit_of(db_url: str) -> list[Any]:
    db = Database(db_url)
    try:
        return [r for r in Audit(db).query() if r.action == "dicom.reconcile"]
    finally:
        db.dispose()


def test_cli_json_csv_exit_status_and_audit(tmp_path: Path, db_url: str, demo_network: DemoNetwork,  # noqa: F811
                                            capsys: pytest.CaptureFixture[str]) -> None:
    cfg = config(tmp_path, db_url, {"nodes": node_dicts(demo_network)})
    day = demo_network.daily_day.isoformat()
    out_csv = tmp_path / "out.csv"
    assert main(["--config", cfg, "reconcile", "--date", day, "--json", "--csv", str(out_csv)]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["outcome"] == "differences" and data["day"] == day
    assert sorted(r["accession"] for r in data["rows"] if r["status"] == "missing_on_archive") == sorted(DAILY_MISSING)
    assert [r["accession"] for r in data["rows"] if r["status"] == "incomplete"] == [DAILY_INCOMPLETE]
    assert data["source"]["node"] == "pacs" and data["archive"]["node"] == "vna"
    assert data["source"]["studies"] == len(demo_network.daily)
    assert out_csv.read_text().splitlines()[0] == ",".join(CSV_COLUMNS)
    rows = audit_of(db_url)
    assert [(r.target, r.outcome) for r in rows] == [("node:pacs>vna", "ok")]
    assert rows[0].actor.startswith("cli:") and rows[0].details["result"] == "differences"
    assert rows[0].details["missing_on_archive"] == len(DAILY_MISSING)
    assert not any(a in json.dumps(rows[0].details) for a in DAILY_MISSING)  # counts only in the audit

    # The other way round, vna holds everything pacs... does not: exit 1 too; a complete day: 0.
    empty_day = (demo_network.daily_day - timedelta(days=3)).isoformat()
    assert main(["--config", cfg, "reconcile", "--date", empty_day]) == 0
    assert "0 studies on pacs, 0 on vna — all archived and complete." in capsys.readouterr().out


def test_cli_refusals_exit_2_and_dead_node_exit_1(tmp_path: Path, db_url: str, demo_network: DemoNetwork,  # noqa: F811
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    dead = {"name": "dead", "ae_title": "DEAD", "host": "127.0.0.1", "port": closed_port()}
    cfg = config(tmp_path, db_url, {"nodes": [*node_dicts(demo_network), dead]})
    assert main(["--config", cfg, "reconcile", "--date", "2999-01-01"]) == 2
    assert "is in the future" in capsys.readouterr().err
    assert main(["--config", cfg, "reconcile", "--source", "pacs"]) == 2
    assert main(["--config", cfg, "reconcile", "--source", "pacs", "--archive", "ct9"]) == 2
    assert "There is no node called “ct9”" in capsys.readouterr().err
    assert main(["--config", cfg, "reconcile", "--source", "pacs", "--archive", "dead", "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["outcome"] == "failed" and data["archive"]["failure"]["code"] == "refused" and data["rows"] == []
    assert [r.outcome for r in audit_of(db_url)] == ["refused", "refused", "refused", "failed"]
