"""The worklist check against a real Modality Worklist SCP: dcmtk's ``wlmscpfs`` (Debian
package ``dcmtk``), serving the demo orders from ``.wl`` files made by ``dump2dcm``.

The same verdicts as against the demo SCP (tests/commands/test_worklist.py): a real worklist
provider's matching, return keys and sequences must read the same. Skipped only when
wlmscpfs is not installed; ``.ci/run --require-integration`` turns that skip into a failure.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from pacsbot.commands.demo import DemoNetwork, demo_orders
from pacsbot.commands.query import parse_locate
from pacsbot.commands.results import to_public_dict
from pacsbot.commands.service import Diagnostics
from pacsbot.commands.worklist import parse_worklist
from tests.dicom_support import Wlmscpfs, demo_network, dicom_settings, node_dicts, wlmscpfs_binary  # noqa: F401 - fixture

pytestmark = pytest.mark.integration

TODAY = date(2026, 12, 3)


@pytest.fixture(scope="module")
def dcmtk_ris(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wlmscpfs]:
    if wlmscpfs_binary() is None:
        pytest.skip("dcmtk's wlmscpfs is not installed (Debian/Ubuntu: apt-get install dcmtk)")
    with Wlmscpfs(tmp_path_factory.mktemp("wlmscpfs"), demo_orders(TODAY)) as server:
        yield server


@pytest.fixture
def diag(dcmtk_ris: Wlmscpfs, demo_network: DemoNetwork) -> Diagnostics:  # noqa: F811
    return Diagnostics(dicom_settings([*node_dicts(demo_network), dcmtk_ris.node()]))


def check(diag: Diagnostics, text: str, **kw: Any) -> Any:
    return diag.worklist(parse_worklist(text, today=TODAY), diag.select([], command="worklist"), today=TODAY, **kw)


def test_wlmscpfs_answers_echo_and_only_worklist_nodes_are_asked(diag: Diagnostics) -> None:
    assert [t.name for t in diag.select([], command="worklist")] == ["ris"]
    assert [t.name for t in diag.select([], command="locate")] == ["vna", "pacs"]
    assert all(r.ok for r in diag.echo(diag.select(["ris"], command="echo")))


@pytest.mark.parametrize("text, headline, severity", [
    ("A1101", "A1101: on the CT2 worklist for 14:30", "ok"),
    ("A1101 on CT2", "A1101: on the CT2 worklist for 14:30", "ok"),
    ("A1102 on CT2", "A1102: scheduled for CT1, not CT2", "warn"),
    ("A1103", "A1103: scheduled for tomorrow (4 Dec) on CT2 for 09:00", "warn"),
    ("A1199", "A1199: not on any worklist — the order may not have reached the RIS/broker", "bad"),
    ("CT2", "CT2 worklist for today (3 Dec): 2 scheduled", "ok"),
    ("CT2 tomorrow", "CT2 worklist for tomorrow (4 Dec): 1 scheduled", "ok"),
    ("CT", "CT worklist for today (3 Dec): 3 scheduled", "ok"),
    ("MR1 20261204", "The MR1 worklist for tomorrow (4 Dec) is empty on ris", "warn"),
])
def test_the_verdicts_against_a_real_worklist_scp(diag: Diagnostics, text: str, headline: str, severity: str) -> None:
    report = check(diag, text)
    assert report.all_answered, report.nodes[0].failure
    assert (report.verdict.headline, report.verdict.severity) == (headline, severity)


def test_the_items_read_the_same_as_from_the_demo(diag: Diagnostics) -> None:
    items = check(diag, "CT2").items
    assert [(i.accession, i.pretty_time, i.station_ae, i.station_name, i.modality, i.requested_procedure_id)
            for i in items] == [("A1101", "14:30", "CT2", "CT SCANNER 2", "CT", "RP1101"),
                                ("A1104", "16:00", "CT2", "CT SCANNER 2", "CT", "RP1104")]
    assert items[0].procedure == items[0].step == "CT HEAD WITHOUT CONTRAST" and items[0].status == "SCHEDULED"


def test_already_performed_with_the_archives_locate(diag: Diagnostics) -> None:
    located = diag.locate(parse_locate("A1001"), diag.select([], command="locate"))
    verdict = check(diag, "A1001", performed=located).verdict
    assert verdict.headline == "A1001: already performed — 242 images in the archive (vna, pacs)"


def test_patient_details_only_when_asked(diag: Diagnostics) -> None:
    without = check(diag, "A1101")
    assert without.items[0].patient_name is None and without.items[0].patient_id is None
    shown = check(diag, "A1101", want_phi=True)
    assert (shown.items[0].patient_id, shown.items[0].patient_name) == ("DEMO-W001", "DEMO^WORKLIST1")
    assert "DEMO^" not in repr(shown) and "DEMO^" not in json.dumps(to_public_dict(shown))


def test_the_cap_holds_against_a_real_scp(dcmtk_ris: Wlmscpfs) -> None:
    diag = Diagnostics(dicom_settings([dcmtk_ris.node()], max_matches=2))
    report = check(diag, "CT")
    [node] = report.nodes
    assert node.ok and node.truncated and node.truncated_by == "cap" and len(node.items) == 2
    assert report.verdict.headline == "CT worklist for today (3 Dec): 2+ scheduled"


def test_a_wrong_called_ae_title_is_named(dcmtk_ris: Wlmscpfs, tmp_path: Path) -> None:
    wrong = dcmtk_ris.node(name="wrong", ae_title="NO_SUCH_RIS")
    report = check(Diagnostics(dicom_settings([wrong])), "CT2")
    failure = report.nodes[0].failure
    # wlmscpfs serves one folder per called AE title: an unknown one is refused at association
    assert failure is not None and failure.code == "rejected", failure
    assert failure.message == "association rejected: the node's AE title is not NO_SUCH_RIS"
    assert report.verdict.severity == "bad"
