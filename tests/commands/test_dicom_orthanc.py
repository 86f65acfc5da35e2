"""The diagnostics against a real archive: Orthanc (Debian package), started for these tests
with its own config, ports and storage, loaded with synthetic studies, stopped afterwards.

Orthanc plays the PACS; the demo VNA (an in-process SCP) holds the complete archive, so the
verdicts compare a real PACS with a reference. Skipped only when the Orthanc binary is not
installed; CI runs with --require-integration, which turns that skip into a failure.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pacsbot.bot.cli import main
from pacsbot.commands.demo import DemoNetwork, demo_studies, instance_files, pacs_copy
from pacsbot.commands.locate import LocateOptions, locate_on_node
from pacsbot.commands.query import parse_locate
from pacsbot.commands.scu import FIND_MODEL, open_session, target_for
from pacsbot.commands.service import Diagnostics
from tests.dicom_support import closed_port, demo_network, dicom_settings, node_dicts, tiny_studies  # noqa: F401
from tests.harness import ADMIN, Harness, texts_of
from tests.orthanc import Orthanc, orthanc_binary

pytestmark = [pytest.mark.integration, pytest.mark.orthanc]

LIMIT = 6  # Orthanc's LimitFindResults: a C-FIND past it ends with 0xFE00
ON_ORTHANC = {"A1001", "A1002", "A1005", "A1006", "A2002"}
FREQUENT = "DEMO-FREQ"  # a patient with more studies than LIMIT


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    if orthanc_binary() is None:
        pytest.skip("Orthanc is not installed (apt-get install orthanc); .ci/run installs it")
    server = Orthanc(tmp_path_factory.mktemp("orthanc"), callers=["PACSBOT"], limit_find_results=LIMIT)
    server.start()
    try:
        # Test set-up stores through Orthanc's REST API; pacsbot itself never stores anything.
        studies = [s for s in pacs_copy(demo_studies()) if s.accession in ON_ORTHANC]
        studies += tiny_studies(FREQUENT, LIMIT + 2, prefix="F")
        for study in studies:
            server.upload(instance_files(study))
        yield server
    finally:
        server.stop()


def orthanc_node(server: Orthanc, **extra: Any) -> dict[str, Any]:
    return server.node("pacs", **extra)


@pytest.fixture
def diag(orthanc: Orthanc, demo_network: DemoNetwork) -> Diagnostics:  # noqa: F811
    vna = [n for n in node_dicts(demo_network) if n["name"] == "vna"]
    return Diagnostics(dicom_settings([*vna, orthanc_node(orthanc)]))


def headline(diag: Diagnostics, text: str) -> str:
    return diag.locate(parse_locate(text), diag.select([], command="locate")).verdict.headline


def test_echo(orthanc: Orthanc) -> None:
    settings = dicom_settings([orthanc_node(orthanc)])
    result = Diagnostics(settings).echo(Diagnostics(settings).select([], command="echo"))[0]
    assert result.ok and result.ms < 5000
    with open_session(target_for(settings, settings.nodes[0]), contexts=[FIND_MODEL]) as session:
        assert session.probe.nodelay is True


def test_counts_agree_with_orthanc_itself(orthanc: Orthanc) -> None:
    settings = dicom_settings([orthanc_node(orthanc)])
    target = target_for(settings, settings.nodes[0])
    reported = locate_on_node(target, parse_locate("A1001"), LocateOptions())
    counted = locate_on_node(target, parse_locate("A1001"), LocateOptions(count_mode="count"))
    rest = orthanc.study_instance_count("A1001")
    assert reported.ok and counted.ok, (reported.failure, counted.failure)
    study, recount = reported.studies[0], counted.studies[0]
    assert study.counts_from == "node" and recount.counts_from == "counted"  # asked for explicitly: Orthanc answers
    assert [study.instance_count] == [recount.instance_count] == rest == [242]
    assert study.series_count == recount.series_count == 3 and study.modalities == ("CT",)
    assert [s.instances for s in study.series or ()] == [2, 180, 60]


def test_missing_on_pacs(diag: Diagnostics) -> None:
    report = diag.locate(parse_locate("A1002"), diag.select([], command="locate"))
    assert report.verdict.headline == "A1002: on vna with 412 images, on pacs with 300 — 112 missing on pacs"
    assert "Missing on pacs: series 3 (CT CORONAL MPR, 112 images)." in [f.text for f in report.verdict.findings]


def test_complete_misidentified_split_and_not_found(diag: Diagnostics) -> None:
    assert headline(diag, "A1001") == "A1001: on vna and pacs, complete on each: 242 images in 3 series"
    assert headline(diag, "A1004") == ("A1004: on vna with 2 images — not on pacs; pacs has the same patient and date "
                                       "under another accession (A1005) — possibly mis-identified")
    split = diag.locate(parse_locate("A1006"), diag.select([], command="locate"))
    assert any(f.text.startswith("Split study: pacs holds it under 2 study UIDs") for f in split.verdict.findings)
    assert headline(diag, "A1003") == "A1003: on vna with 83 images — not on pacs"
    assert headline(diag, "A9999") == "A9999: not found on any node"


def test_accession_matching_is_case_sensitive(diag: Diagnostics) -> None:
    report = diag.locate(parse_locate("a1001", ), diag.select(["pacs"], command="locate"))
    assert report.verdict.headline == "a1001: not found on any node"
    assert any("Did you mean A1001?" in f.text for f in report.verdict.findings)


def test_orthanc_result_limit_is_truncated_not_success(diag: Diagnostics) -> None:
    report = diag.locate(parse_locate(f"--patient {FREQUENT}"), diag.select(["pacs"], command="locate"))
    node = report.nodes[0]
    assert node.ok and node.truncated and node.truncated_by == "node" and len(node.studies) == LIMIT
    assert any("stopped its answer at its own result limit" in f.text for f in report.verdict.findings)


def test_our_cap_cancels_the_query(orthanc: Orthanc) -> None:
    diag = Diagnostics(dicom_settings([orthanc_node(orthanc)], max_matches=3))
    node = diag.locate(parse_locate(f"--patient {FREQUENT}"), diag.select([], command="locate")).nodes[0]
    assert node.ok and node.truncated and node.truncated_by == "cap" and len(node.studies) == 3
    assert Diagnostics(dicom_settings([orthanc_node(orthanc)])).echo(diag.select([], command="echo"))[0].ok


def test_calling_ae_not_registered_for_find(orthanc: Orthanc) -> None:
    diag = Diagnostics(dicom_settings([orthanc_node(orthanc)], ae_title="STRANGER"))
    targets = diag.select([], command="locate")
    assert diag.echo(targets)[0].ok  # Orthanc answers C-ECHO from anyone...
    node = diag.locate(parse_locate("A1001"), targets).nodes[0]  # ...but C-FIND only from known AE titles
    assert node.failure is not None and node.failure.code == "find-not-permitted"
    assert node.failure.message == ("echo works but C-FIND aborted: the calling AE title STRANGER is probably not "
                                    "registered on that node")


def test_wrong_called_ae_title_is_rejected(orthanc: Orthanc) -> None:
    diag = Diagnostics(dicom_settings([orthanc_node(orthanc, ae_title="NOT_ORTHANC")]))
    result = diag.echo(diag.select([], command="echo"))[0]
    assert result.failure is not None and result.failure.code == "rejected"
    assert result.failure.message == "association rejected: the node's AE title is not NOT_ORTHANC"


def test_a_refusing_node_next_to_orthanc(orthanc: Orthanc) -> None:
    port = closed_port()
    dead = {"name": "old-pacs", "ae_title": "OLD", "host": "127.0.0.1", "port": port}
    diag = Diagnostics(dicom_settings([orthanc_node(orthanc), dead]))
    report = diag.locate(parse_locate("A1001"), diag.select([], command="locate"))
    assert report.verdict.headline == "A1001: on pacs with 242 images (old-pacs could not be checked)"
    assert f"Could not check old-pacs: connection refused by 127.0.0.1:{port}." in [f.text for f in report.verdict.findings]


def test_cli_against_orthanc(tmp_path: Path, orthanc: Orthanc, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "pacsbot.yml"
    cfg.write_text(json.dumps({"database": {"url": f"sqlite:///{tmp_path / 'db.sqlite'}"},
                               "dicom": {"nodes": [orthanc_node(orthanc)]}}))
    assert main(["--config", str(cfg), "locate", "A1002", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["nodes"][0]["studies"][0]["instance_count"] == 300
    assert main(["--config", str(cfg), "echo", "pacs"]) == 0


class TestThroughSlack:
    @pytest.fixture
    def settings_overrides(self, orthanc: Orthanc, demo_network: DemoNetwork) -> dict[str, Any]:  # noqa: F811
        vna = [n for n in node_dicts(demo_network) if n["name"] == "vna"]
        return {"dicom": {"nodes": [*vna, orthanc_node(orthanc)]}}

    def test_locate_and_echo(self, harness: Harness) -> None:
        assert harness.command(ADMIN, "locate A1002").text == ":mag: Checking 2 nodes for accession A1002…"
        harness.drain()
        reply = harness.mock.calls_to("response_url")[-1].params
        assert reply["text"] == "A1002: on vna with 412 images, on pacs with 300 — 112 missing on pacs"
        assert "`ORTHANC@127.0.0.1:" in texts_of(reply["blocks"])
        harness.command(ADMIN, "echo pacs")
        harness.drain()
        assert "*pacs* ok in" in texts_of(harness.mock.calls_to("response_url")[-1].params["blocks"])
