"""The console out of the box: demo DICOM nodes, a banner that says what to try, real verdicts."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest

from pacsbot.bot.console import Console
from tests.harness import make_settings


@pytest.fixture
def console(tmp_path: Any, db_url: str) -> Iterator[tuple[Console, io.StringIO]]:
    out = io.StringIO()
    c = Console(make_settings(tmp_path, db_url), user="U0ADMIN01", out=out, wait_seconds=30)
    c.start()
    yield c, out
    c.close()


def test_demo_nodes_answer_in_the_console(console: tuple[Console, io.StringIO]) -> None:
    c, out = console
    assert c.demo is not None and [n.name for n in c.settings.dicom.nodes] == ["vna", "pacs", "ris"]
    assert c.run_script(["/pacs echo all", "/pacs locate A1002", "/pacs locate A9999", "/pacs locate A*"]) == 0
    text = out.getvalue()
    assert ":hourglass_flowing_sand: Checking 3 nodes…" in text
    assert ":white_check_mark: *vna* ok in" in text and ":white_check_mark: *pacs* ok in" in text
    assert ":white_check_mark: *ris* ok in" in text  # the worklist answers C-ECHO; locate does not ask it
    assert ":mag: Checking 2 nodes for accession A1002…" in text
    assert "A1002: on vna with 412 images, on pacs with 300 — 112 missing on pacs" in text
    assert "A9999: not found on any node" in text
    assert "Wildcards (* and ?) are not allowed in the accession number" in text


def test_banner_names_the_demo_accessions(console: tuple[Console, io.StringIO]) -> None:
    c, out = console
    lines = iter([":quit"])
    c.run_interactive(read=lambda prompt: next(lines))
    text = out.getvalue()
    assert "Demo DICOM nodes are running with synthetic data: vna on 127.0.0.1:" in text
    assert "A1002 (112 images missing on PACS)" in text and "A9999 (not found anywhere)" in text
    assert "/pacs locate --patient DEMO-0002" in text
    assert "A demo Modality Worklist runs too: ris on 127.0.0.1:" in text and "/pacs worklist CT2" in text


@pytest.mark.parametrize("user, patient_shown", [("alex.admin", True), ("tom.tech", False)])
def test_the_demo_worklist_answers_each_verdict(console: tuple[Console, io.StringIO], user: str, patient_shown: bool) -> None:
    c, out = console
    assert c.run_script([f":as {user}", "/pacs worklist A1101 on CT2", "/pacs worklist A1102 on CT2", "/pacs worklist A1103",
                         "/pacs worklist A1001", "/pacs worklist A1199", "/pacs worklist CT2"]) == 0
    text = " ".join(out.getvalue().split())  # the console wraps long lines
    assert "A1101: on the CT2 worklist for 14:30" in text
    assert "A1102: scheduled for CT1, not CT2" in text
    assert "A1103: scheduled for tomorrow" in text
    assert "A1001: already performed — 242 images in the archive (vna, pacs)" in text
    assert "A1199: not on any worklist — the order may not have reached the RIS/broker" in text
    assert "CT2 worklist for today" in text
    assert ("DEMO^WORKLIST1" in text) is patient_shown
    assert ("Patient details are shown to PACS admins only." in text) is not patient_shown


def test_demo_nodes_stop_with_the_console(tmp_path: Any, db_url: str) -> None:
    c = Console(make_settings(tmp_path, db_url), out=io.StringIO())
    c.start()
    nodes = [c.demo.vna, c.demo.pacs, c.demo.worklist]
    listening = [node._server.socket for node in nodes]
    c.close()
    # Each node's listening socket is closed. (Not probed by connecting to its port: on a busy
    # machine another test process may bind that freed port at once.)
    assert [node._server for node in nodes] == [None, None, None]
    assert [sock.fileno() for sock in listening] == [-1, -1, -1]


def test_configured_nodes_mean_no_demo(tmp_path: Any, db_url: str) -> None:
    node = {"name": "pacs", "ae_title": "PACS", "host": "127.0.0.1", "port": 1}
    c = Console(make_settings(tmp_path, db_url, dicom={"nodes": [node]}), out=io.StringIO())
    c.start()
    try:
        assert c.demo is None and c.demo_network is None
        assert [n.name for n in c.services.features.dicom.nodes] == ["pacs"]
    finally:
        c.close()


def test_demo_false_means_no_demo(tmp_path: Any, db_url: str) -> None:
    c = Console(make_settings(tmp_path, db_url, dicom={"demo": "false"}), out=io.StringIO())
    c.start()
    try:
        assert c.demo_network is None and c.services.features.dicom.nodes == []
    finally:
        c.close()
