"""The reconciliation against a real archive: Orthanc (Debian package) plays the VNA, loaded
with a day of synthetic studies of which some never arrived and one lost a series; the demo
PACS (an in-process SCP) is the source. Orthanc's LimitFindResults is set below the day's
size, so the listing must page. Skipped only when Orthanc is not installed; CI runs with
--require-integration, which turns that skip into a failure."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from pacsbot.commands.config import DicomSettings
from pacsbot.commands.demo import DAILY_INCOMPLETE, DAILY_MISSING, DemoNode, archive_copy, daily_studies, instance_files
from pacsbot.commands.reconcile import summary
from pacsbot.commands.service import Diagnostics
from tests.orthanc import Orthanc, orthanc_binary

pytestmark = [pytest.mark.integration, pytest.mark.orthanc]

DAY = date(2026, 1, 4)
LIMIT = 4


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    if orthanc_binary() is None:
        pytest.skip("Orthanc is not installed (apt-get install orthanc); .ci/run installs it")
    server = Orthanc(tmp_path_factory.mktemp("orthanc-vna"), callers=["PACSBOT"], limit_find_results=LIMIT, aet="ORTHANC_VNA")
    server.start()
    try:
        for study in archive_copy(daily_studies(DAY), only_on_archive=None):
            server.upload(instance_files(study))  # test set-up only: pacsbot never stores anything
        yield server
    finally:
        server.stop()


def test_orthanc_archive_lacking_studies_and_one_incomplete(archive: Orthanc) -> None:
    studies = daily_studies(DAY)
    with DemoNode("pacs", "DEMO_PACS", studies, report_counts=False) as source:
        settings = DicomSettings.model_validate({"nodes": [
            source.node_config().model_dump(),
            archive.node("vna", kind="vna", max_results=LIMIT),
        ]})
        report = Diagnostics(settings).reconcile("pacs", "vna", DAY)
    assert report.compared, summary(report)
    assert sorted(r.accession for r in report.missing_on_archive) == sorted(DAILY_MISSING)
    assert [r.accession for r in report.incomplete] == [DAILY_INCOMPLETE]
    assert report.missing_on_source == []
    assert len(report.archive.studies) == len(studies) - len(DAILY_MISSING)
    assert report.archive.paged_by == ("time",) and report.archive.complete and report.archive.queries > 1
    truth = next(s for s in studies if s.accession == DAILY_INCOMPLETE)
    row = report.incomplete[0]
    assert row.archive_instances == archive.study_instance_count(DAILY_INCOMPLETE)[0] == truth.instance_count - truth.series[-1].count
    assert row.source_instances == truth.instance_count
    # Orthanc reports NumberOfStudyRelatedInstances itself when asked.
    assert report.archive.counts_from() == {"node": len(report.archive.studies)}


def test_orthanc_as_the_source_without_a_configured_limit(archive: Orthanc) -> None:
    """Orthanc ends a capped C-FIND with 0xFE00 on its own: pages even when max_results is unset."""
    studies = daily_studies(DAY)
    with DemoNode("vna", "DEMO_VNA", studies) as full:
        settings = DicomSettings.model_validate({"nodes": [archive.node("pacs"), full.node_config().model_dump()]})
        report = Diagnostics(settings).reconcile("pacs", "vna", DAY)
    assert report.compared and report.all_archived, summary(report)
    assert report.source.paged_by == ("time",) and len(report.source.studies) == len(studies) - len(DAILY_MISSING)
    assert sorted(r.accession for r in report.missing_on_source) == sorted(DAILY_MISSING)
    assert [r.accession for r in report.rows if r.status == "more_on_archive"] == [DAILY_INCOMPLETE]
