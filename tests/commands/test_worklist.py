"""The Modality Worklist check against the demo worklist SCP (real associations, no mocks):
what a person may type, each verdict, the station and date filters, PHI only when asked,
caps and time-outs like locate, and that locate never asks a worklist node."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from pacsbot.commands.config import DicomSettings
from pacsbot.commands.demo import WORKLIST_SCENARIOS, DemoNetwork, DemoNode, DemoOrder, DemoWorklist, demo_orders, demo_studies
from pacsbot.commands.query import parse_locate
from pacsbot.commands.results import to_public_dict
from pacsbot.commands.scu import WORKLIST_MODEL, open_session, target_for
from pacsbot.commands.service import Diagnostics, worklist_audit
from pacsbot.commands.worklist import (
    Performed,
    WorklistQuery,
    day_words,
    parse_worklist,
    worklist_identifier,
    worklist_on_node,
)
from pacsbot.core.errors import UserError
from tests.dicom_support import closed_port, demo_network, dicom_settings, node_dicts  # noqa: F401 - fixture

TODAY = date(2026, 12, 3)


@pytest.fixture(scope="module")
def ris() -> Iterator[DemoWorklist]:
    with DemoWorklist(today=TODAY) as node:
        yield node


def ris_node(node: DemoNode, **extra: Any) -> dict[str, Any]:
    return {**node.node_config().model_dump(mode="json", exclude_none=True), **extra}


@pytest.fixture(scope="module")
def network() -> Iterator[DemoNetwork]:
    """The demo archives and worklist, the worklist's today fixed to TODAY."""
    with DemoNetwork(worklist_day=TODAY) as net:
        yield net


@pytest.fixture
def diag(network: DemoNetwork) -> Diagnostics:
    nodes = [n.model_dump(mode="json", exclude_none=True) for n in network.node_configs(with_worklist=True)]
    return Diagnostics(dicom_settings(nodes))


def check(diag: Diagnostics, text: str, **kw: Any) -> Any:
    return diag.worklist(parse_worklist(text, today=TODAY), diag.select([], command="worklist"), today=TODAY, **kw)


# ----------------------------------------------------------------------------------------
# what a person may type


@pytest.mark.parametrize("text, expected", [
    ("CT2", WorklistQuery(station="CT2", day=TODAY)),
    ("ct2", WorklistQuery(station="CT2", day=TODAY)),
    ("CT", WorklistQuery(modality="CT", day=TODAY)),
    ("CT2 tomorrow", WorklistQuery(station="CT2", day=date(2026, 12, 4))),
    ("CT2 Today", WorklistQuery(station="CT2", day=TODAY)),
    ("CT2 20261204", WorklistQuery(station="CT2", day=date(2026, 12, 4))),
    ("MR 2026-12-01", WorklistQuery(modality="MR", day=date(2026, 12, 1))),
    ("A1101", WorklistQuery(accession="A1101")),
    ("a1101", WorklistQuery(accession="a1101")),  # as typed: accessions are case-sensitive
    ("A1102 on CT2", WorklistQuery(accession="A1102", station="CT2")),
    ("--accession CT2", WorklistQuery(accession="CT2")),
    ("--station A1234 tomorrow", WorklistQuery(station="A1234", day=date(2026, 12, 4))),
    ("CT_SCANNER_1 --node ris", WorklistQuery(station="CT_SCANNER_1", day=TODAY, nodes=("ris",))),
    ("--modality us --date 20261205", WorklistQuery(modality="US", day=date(2026, 12, 5))),
])
def test_queries_that_are_understood(text: str, expected: WorklistQuery) -> None:
    assert parse_worklist(text, today=TODAY) == expected


@pytest.mark.parametrize("text, message", [
    ("", "Which worklist? Give a station AE title, a modality or an accession number"),
    ("CT*", "Wildcards (* and ?) are not allowed in the station AE title"),
    ("A1*01", "Wildcards (* and ?) are not allowed in the station AE title"),
    ("--accession A1*", "Wildcards (* and ?) are not allowed in the accession number"),
    ("A1101\\A1102", "A backslash is not allowed"),
    ("CT2 20261201-20261207", "One day at a time"),
    ("CT2 2026-13-01", "is not a real date"),
    ("CT2 A1101", "I read “CT2” as the station; what is “A1101”?"),
    ("A1101 tomorrow", "no date needed"),
    ("CT2 today tomorrow", "Give one date only"),
    ("CT2 --verbose", "I don't know the option --verbose"),
    ("--station ABCDEFGHIJKLMNOPQ", "DICOM allows at most 16"),
    ("--modality XYZ", "is not a modality I know"),
    ("--station CT2 --modality CT", "Give a station or a modality, not both"),
    ("A12345678901234567", "an accession number has at most 16"),
    ("A1101 on", "Write it as `<accession> on <station AE>`"),
    ("--node", "--node needs a value"),
])
def test_queries_that_are_refused_say_why(text: str, message: str) -> None:
    with pytest.raises(UserError) as info:
        parse_worklist(text, today=TODAY)
    assert message in str(info.value)


def test_the_identifier_asks_the_worklist_model_keys() -> None:
    ds = worklist_identifier(parse_worklist("CT2 tomorrow", today=TODAY), want_phi=False)
    step = ds.ScheduledProcedureStepSequence[0]
    assert (step.ScheduledStationAETitle, step.ScheduledProcedureStepStartDate, step.Modality) == ("CT2", "20261204", "")
    assert "ScheduledProcedureStepStartTime" in step and "ScheduledProcedureStepDescription" in step
    assert {"AccessionNumber", "RequestedProcedureID", "RequestedProcedureDescription"} <= {e.keyword for e in ds}
    assert "PatientName" not in ds and "PatientID" not in ds
    by_accession = worklist_identifier(parse_worklist("A1102 on CT2", today=TODAY), want_phi=True)
    assert by_accession.AccessionNumber == "A1102" and by_accession.PatientName == "" and by_accession.PatientID == ""
    # the station asked about is for the verdict: the order is looked for on every station
    assert by_accession.ScheduledProcedureStepSequence[0].ScheduledStationAETitle == ""


def test_day_words() -> None:
    assert day_words(TODAY, TODAY) == "today"
    assert day_words(date(2026, 12, 4), TODAY) == "tomorrow (4 Dec)"
    assert day_words(date(2026, 12, 2), TODAY) == "yesterday (2 Dec)"
    assert day_words(date(2026, 12, 24), TODAY) == "24 Dec"
    assert day_words(date(2027, 1, 2), TODAY) == "2 Jan 2027"


# ----------------------------------------------------------------------------------------
# the verdicts


def test_on_the_station_worklist(diag: Diagnostics) -> None:
    report = check(diag, "A1101")
    assert report.verdict.headline == "A1101: on the CT2 worklist for 14:30"
    assert report.verdict.severity == "ok" and report.all_answered
    assert check(diag, "A1101 on CT2").verdict.headline == "A1101: on the CT2 worklist for 14:30"
    [item] = report.items
    assert (item.accession, item.requested_procedure_id, item.modality, item.station_ae, item.station_name) == (
        "A1101", "RP1101", "CT", "CT2", "CT SCANNER 2")
    assert (item.date, item.pretty_time, item.procedure) == ("20261203", "14:30", "CT HEAD WITHOUT CONTRAST")


def test_scheduled_for_another_station(diag: Diagnostics) -> None:
    verdict = check(diag, "A1102 on CT2").verdict
    assert verdict.headline == "A1102: scheduled for CT1, not CT2"
    assert verdict.severity == "warn"
    assert "CT2 will not see it on its worklist" in verdict.findings[0].text
    assert check(diag, "A1102").verdict.headline == "A1102: on the CT1 worklist for 10:15"


def test_scheduled_for_another_day(diag: Diagnostics) -> None:
    verdict = check(diag, "A1103 on CT2").verdict
    assert verdict.headline == "A1103: scheduled for tomorrow (4 Dec) on CT2 for 09:00"
    assert verdict.severity == "warn"
    assert "not on today's worklist" in verdict.findings[0].text


def test_not_on_any_worklist(diag: Diagnostics) -> None:
    verdict = check(diag, "A1199").verdict
    assert verdict.headline == "A1199: not on any worklist — the order may not have reached the RIS/broker"
    assert verdict.severity == "bad"
    lower = check(diag, "a1101").verdict
    assert lower.headline.startswith("a1101: not on any worklist") and any("Did you mean A1101?" in f.text for f in lower.findings)


def test_already_performed_from_a_locate(diag: Diagnostics) -> None:
    located = diag.locate(parse_locate("A1001"), diag.select([], command="locate"))
    verdict = check(diag, "A1001", performed=located).verdict
    assert verdict.headline == "A1001: already performed — 242 images in the archive (vna, pacs)"
    assert verdict.severity == "ok"
    # or just an image count, from wherever the caller has it
    assert check(diag, "A1001", performed=242).verdict.headline == "A1001: already performed — 242 images in the archive"
    # not performed: the locate found nothing, so the worklist verdict stands
    nothing = diag.locate(parse_locate("A1199"), diag.select([], command="locate"))
    assert check(diag, "A1199", performed=nothing).verdict.headline.startswith("A1199: not on any worklist")
    assert Performed.of(0) == Performed(False, 0)


def test_performed_but_still_on_the_worklist(diag: Diagnostics) -> None:
    verdict = check(diag, "A1101", performed=12).verdict
    assert verdict.headline == "A1101: already performed — 12 images in the archive; still on the CT2 worklist for 14:30"
    assert verdict.severity == "info" and "not closed" in verdict.findings[0].text


def test_the_demo_scenarios_each_show_their_verdict(diag: Diagnostics) -> None:
    assert set(WORKLIST_SCENARIOS) == {"A1101", "A1102", "A1103", "A1001", "A1199"}
    orders = {o.accession for o in demo_orders(TODAY)}
    assert "A1001" not in orders and "A1199" not in orders and {"A1101", "A1102", "A1103"} <= orders
    assert "A1001" in {s.accession for s in demo_studies()}  # performed: it is in the demo archive
    assert demo_orders(TODAY) == demo_orders(TODAY)  # deterministic


# ----------------------------------------------------------------------------------------
# station and date filters


def test_a_stations_list_for_a_day(diag: Diagnostics) -> None:
    report = check(diag, "CT2")
    assert [(i.accession, i.pretty_time) for i in report.items] == [("A1101", "14:30"), ("A1104", "16:00")]
    assert report.verdict.headline == "CT2 worklist for today (3 Dec): 2 scheduled"
    tomorrow = check(diag, "CT2 tomorrow")
    assert [i.accession for i in tomorrow.items] == ["A1103"]
    assert tomorrow.verdict.headline == "CT2 worklist for tomorrow (4 Dec): 1 scheduled"


def test_a_modality_list(diag: Diagnostics) -> None:
    report = check(diag, "CT")
    assert [i.accession for i in report.items] == ["A1102", "A1101", "A1104"]  # by time
    assert {i.station_ae for i in report.items} == {"CT1", "CT2"}


def test_an_empty_list_says_what_to_check(diag: Diagnostics) -> None:
    verdict = check(diag, "CT9").verdict
    assert verdict.headline == "The CT9 worklist for today (3 Dec) is empty on ris"
    assert verdict.severity == "warn" and "station AE title CT9" in verdict.findings[0].text


def test_a_lenient_node_cannot_widen_the_answer(ris: DemoWorklist) -> None:
    class Lenient(DemoWorklist):
        @staticmethod
        def _order_matches(order: DemoOrder, query: Any, step: Any) -> bool:
            return True

    with Lenient(today=TODAY) as node:
        settings = dicom_settings([ris_node(node)])
        target = target_for(settings, settings.nodes[0])
        assert [i.accession for i in worklist_on_node(target, parse_worklist("CT2", today=TODAY), cap=25).items] == [
            "A1101", "A1104"]
        assert [i.accession for i in worklist_on_node(target, parse_worklist("A1102", today=TODAY), cap=25).items] == ["A1102"]


# ----------------------------------------------------------------------------------------
# patient details only when asked


def test_phi_only_when_asked_and_never_in_repr_json_or_audit(network: DemoNetwork) -> None:
    told: list[tuple[list[str], list[str]]] = []
    nodes = [n.model_dump(mode="json", exclude_none=True) for n in network.node_configs(with_worklist=True)]
    diag = Diagnostics(dicom_settings(nodes), on_identifiers=lambda ids, names: told.append((ids, names)))
    without = check(diag, "CT2")
    assert all(i.patient_id is None and i.patient_name is None for i in without.items)
    assert told == []
    shown = check(diag, "CT2", want_phi=True)
    assert [i.patient_name for i in shown.items] == ["DEMO^WORKLIST1", "DEMO^WORKLIST4"]
    assert [i.patient_id for i in shown.items] == ["DEMO-W001", "DEMO-W004"]
    assert told == [(["DEMO-W001", "DEMO-W004"], ["DEMO^WORKLIST1", "DEMO^WORKLIST4"])]
    assert "DEMO^" not in repr(shown) and "DEMO-W" not in repr(shown)
    public = json.dumps(to_public_dict(shown))
    assert "DEMO^" not in public and "DEMO-W" not in public
    assert "DEMO^WORKLIST1" in json.dumps(to_public_dict(shown, include_phi=True))
    query = parse_worklist("CT2", today=TODAY)
    rows = worklist_audit(shown, query, run="r1", via="cli", phi_shown=True)
    text = json.dumps([r.details for r in rows])
    assert "DEMO^" not in text and "DEMO-W" not in text
    [row] = rows
    assert row.target == "node:ris" and row.outcome == "ok"
    assert row.details["query"] == {"station": "CT2", "date": "20261203"}
    assert row.details["orders"] == 2 and row.details["accessions"] == ["A1101", "A1104"] and row.details["phi_shown"]
    by_accession = worklist_audit(check(diag, "A1102 on CT2"), parse_worklist("A1102 on CT2", today=TODAY), run="r2",
                                  via="slack", phi_shown=False)
    assert by_accession[0].details["query"] == {"accession": "A1102", "station": "CT2"}
    assert by_accession[0].details["verdict"] == "warn"


# ----------------------------------------------------------------------------------------
# caps, limits and time-outs: like locate


def many_orders(count: int) -> list[DemoOrder]:
    model = demo_orders(TODAY)[0]
    from dataclasses import replace

    return [replace(model, accession=f"M{i:04d}", time=f"{8 + i // 60:02d}{i % 60:02d}00") for i in range(count)]


def test_cap_sends_c_cancel_and_reports_truncated() -> None:
    with DemoWorklist(orders=many_orders(30), today=TODAY, response_delay=0.02) as node:
        diag = Diagnostics(dicom_settings([ris_node(node)], max_matches=5))
        report = check(diag, "CT2")
        deadline = time.monotonic() + 5
        while not node.cancelled and time.monotonic() < deadline:
            time.sleep(0.05)
        assert node.cancelled == 1
    [answer] = report.nodes
    assert answer.truncated and answer.truncated_by == "cap" and len(answer.items) == 5
    assert report.verdict.headline == "CT2 worklist for today (3 Dec): 5+ scheduled"
    assert report.verdict.severity == "warn"
    assert "more than 5 matches; I stopped the query there (C-CANCEL)" in report.verdict.findings[0].text


def test_a_nodes_own_limit_is_truncated_not_success() -> None:
    with DemoWorklist(orders=many_orders(10), today=TODAY, result_limit=3) as node:
        report = check(Diagnostics(dicom_settings([ris_node(node)])), "CT2")
    assert report.nodes[0].truncated_by == "node" and len(report.items) == 3
    assert "its own result limit" in report.verdict.findings[0].text


def test_a_stalled_worklist_times_out_without_holding_up_the_others(ris: DemoWorklist) -> None:
    with DemoWorklist("slow", "SLOW_RIS", today=TODAY, stall_first_finds=1, stall_seconds=3) as slow:
        dead = {"name": "dead", "ae_title": "DEAD", "host": "127.0.0.1", "port": closed_port(), "kind": "worklist"}
        diag = Diagnostics(dicom_settings([ris_node(ris), ris_node(slow, timeouts={"dimse": 1}), dead]))
        started = time.monotonic()
        report = check(diag, "A1101")
        took = time.monotonic() - started
    ok, stalled, refused = report.nodes
    assert ok.ok and [i.accession for i in ok.items] == ["A1101"]
    assert stalled.failure is not None and stalled.failure.code == "timeout"
    assert stalled.failure.message == "no answer to the C-FIND within 1 s"
    assert refused.failure is not None and refused.failure.code == "refused"
    assert took < 3
    assert report.verdict.headline == "A1101: on the CT2 worklist for 14:30 (slow and dead could not be checked)"
    assert report.verdict.severity == "warn"


def test_no_worklist_node_answered() -> None:
    dead = {"name": "dead", "ae_title": "DEAD", "host": "127.0.0.1", "port": closed_port(), "kind": "worklist"}
    verdict = check(Diagnostics(dicom_settings([dead])), "A1101").verdict
    assert verdict.severity == "bad" and verdict.headline == "Could not check the worklist for A1101: no worklist node answered."


def test_echo_works_but_the_worklist_query_is_not_permitted() -> None:
    with DemoWorklist("picky", "PICKY", today=TODAY, find_callers=["OTHER"]) as node:
        report = check(Diagnostics(dicom_settings([ris_node(node)])), "CT2")
    failure = report.nodes[0].failure
    assert failure is not None and failure.code == "find-not-permitted"
    assert "calling AE title PACSBOT is probably not allowed to query this worklist" in failure.message


def test_an_archive_configured_as_a_worklist_node_is_named(network: DemoNetwork) -> None:
    wrong = {**network.pacs.node_config().model_dump(mode="json", exclude_none=True), "name": "notris", "kind": "worklist"}
    report = check(Diagnostics(dicom_settings([wrong])), "CT2")
    failure = report.nodes[0].failure
    assert failure is not None and failure.code == "no-service"
    assert failure.message == "the node accepted the association but does not offer Modality Worklist C-FIND"


def test_the_worklist_model_is_what_is_requested(ris: DemoWorklist) -> None:
    settings = dicom_settings([ris_node(ris)])
    with open_session(target_for(settings, settings.nodes[0]), contexts=[WORKLIST_MODEL]) as session:
        requested = {str(c.abstract_syntax) for c in session.assoc.requestor.requested_contexts}
    assert requested == {str(WORKLIST_MODEL)} == {"1.2.840.10008.5.1.4.31"}


# ----------------------------------------------------------------------------------------
# locate and reconcile never ask a worklist node; echo does


def test_locate_skips_worklist_nodes(diag: Diagnostics, network: DemoNetwork) -> None:
    assert [t.name for t in diag.select([], command="locate")] == ["vna", "pacs"]
    assert [t.name for t in diag.select([], command="worklist")] == ["ris"]
    assert [t.name for t in diag.select([], command="echo")] == ["vna", "pacs", "ris"]
    before = list(network.worklist.queries)
    report = diag.locate(parse_locate("A1002"), diag.select([], command="locate"))
    assert [n.node.name for n in report.nodes] == ["vna", "pacs"]
    assert network.worklist.queries == before
    with pytest.raises(UserError, match="“ris” is a worklist node .* so locate does not ask it"):
        diag.select(["ris"], command="locate")
    with pytest.raises(UserError, match="“ris” is a worklist node"):
        diag.locate(parse_locate("A1002"), [diag.target("ris")])
    with pytest.raises(UserError, match="“pacs” is not a worklist node"):
        diag.select(["pacs"], command="worklist")
    with pytest.raises(UserError, match="“ris” is a worklist node"):
        diag.reconcile("ris", "vna", TODAY)
    assert all(r.ok for r in diag.echo(diag.select(["ris"], command="echo")))


def test_no_worklist_node_configured(network: DemoNetwork) -> None:
    diag = Diagnostics(dicom_settings(node_dicts(network)))
    with pytest.raises(UserError, match="No worklist node is configured.*kind: worklist"):
        diag.select([], command="worklist")


def test_only_worklist_nodes_configured(ris: DemoWorklist) -> None:
    diag = Diagnostics(dicom_settings([ris_node(ris)]))
    with pytest.raises(UserError, match="Only worklist nodes are configured \\(ris\\); locate needs an archive"):
        diag.select([], command="locate")


def test_a_worklist_node_cannot_be_reconciled() -> None:
    nodes = [{"name": "pacs", "ae_title": "P", "host": "h", "port": 104},
             {"name": "ris", "ae_title": "R", "host": "h", "port": 104, "kind": "worklist"}]
    with pytest.raises(ValueError, match="'ris' is a worklist node"):
        DicomSettings.model_validate({"nodes": nodes, "reconcile": {"pairs": [{"source": "pacs", "archive": "ris"}]}})


def test_the_demo_network_keeps_its_members_and_adds_the_worklist_on_request(demo_network: DemoNetwork) -> None:  # noqa: F811
    assert [n.name for n in demo_network.members] == ["vna", "pacs"]
    assert [n.name for n in demo_network.node_configs()] == ["vna", "pacs"]
    configs = demo_network.node_configs(with_worklist=True)
    assert [(n.name, n.kind, n.ae_title) for n in configs] == [
        ("vna", "vna", "DEMO_VNA"), ("pacs", "pacs", "DEMO_PACS"), ("ris", "worklist", "DEMO_RIS")]
    assert demo_network.worklist.port and Diagnostics(dicom_settings(
        [n.model_dump(mode="json", exclude_none=True) for n in configs])).echo(
        [target_for(dicom_settings([c.model_dump(mode="json")]), c) for c in configs[2:]])[0].ok


# ----------------------------------------------------------------------------------------
# pacsbot worklist (bot/cli/worklist.py), with the demo worklist


def run_cli(tmp_path: Any, *argv: str) -> int:
    import argparse

    from pacsbot.bot.cli import worklist as cli

    config = tmp_path / "pacsbot.yml"
    config.write_text(f"dicom:\n  demo: true\ndatabase:\n  url: sqlite:///{tmp_path / 'db.sqlite'}\n")
    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["worklist", "--config", str(config), *argv])
    try:
        return int(args.func(args))
    except UserError as exc:
        return exc.exit_status


def audit_rows(tmp_path: Any) -> list[tuple[str, str, str, str]]:
    import sqlite3

    with sqlite3.connect(tmp_path / "db.sqlite") as db:
        return list(db.execute("select action, target, outcome, details from audit_log order by id"))


def test_the_command_line_checks_audits_and_refuses(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(tmp_path, "CT2", "--show-phi") == 0
    out = capsys.readouterr().out
    assert "CT2 worklist for today" in out and "DEMO^WORKLIST" in out
    assert run_cli(tmp_path, "A1001", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["verdict"]["headline"] == "A1001: already performed — 242 images in the archive (vna, pacs)"
    assert "DEMO^" not in json.dumps(data)
    assert run_cli(tmp_path, "CT*") == 2
    assert run_cli(tmp_path, "CT2", "--node", "pacs") == 2
    rows = audit_rows(tmp_path)
    assert [(a, t, o) for a, t, o, _ in rows] == [
        ("dicom.worklist", "node:ris", "ok"),
        ("dicom.worklist", "node:ris", "ok"), ("dicom.locate", "node:vna", "ok"), ("dicom.locate", "node:pacs", "ok"),
        ("dicom.worklist", "", "refused"), ("dicom.worklist", "", "refused")]
    details = " ".join(d for *_, d in rows)
    assert "DEMO^" not in details and "DEMO-W" not in details
    assert json.loads(rows[0][3])["phi_shown"] is True
