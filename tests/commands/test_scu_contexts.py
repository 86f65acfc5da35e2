"""The presentation contexts an association requests are built once and shared by every
association (each node of a locate, each round): pynetdicom must only ever get copies."""

from __future__ import annotations

import pytest
from pynetdicom.sop_class import (  # type: ignore[attr-defined]  # pynetdicom generates the SOP classes at import
    PatientRootQueryRetrieveInformationModelMove,
    Verification,
)

from pacsbot.commands.demo import DemoNetwork
from pacsbot.commands.scu import FIND_MODEL, _presentation_contexts, open_session, target_for
from tests.dicom_support import demo_network, dicom_settings  # noqa: F401 - fixture


def test_built_once_and_never_handed_out_to_be_changed(demo_network: DemoNetwork) -> None:  # noqa: F811
    shared = _presentation_contexts((Verification, FIND_MODEL))
    assert _presentation_contexts((Verification, FIND_MODEL)) is shared
    assert [str(c.abstract_syntax) for c in shared] == [str(Verification), str(FIND_MODEL)]
    settings = dicom_settings([{"name": "n", "ae_title": "DEMO_PACS", "host": "127.0.0.1", "port": demo_network.pacs.port}])
    node = target_for(settings, settings.nodes[0])
    for _ in range(2):
        with open_session(node, contexts=[Verification, FIND_MODEL]) as session:
            requested = session.assoc.requestor.requested_contexts
            assert [c.context_id for c in requested] == [1, 3]
            assert all(mine is not theirs for mine, theirs in zip(shared, requested))
            session.echo()
    assert [c.context_id for c in shared] == [None, None]  # our copies were not numbered or changed


def test_a_forbidden_service_is_refused_every_time() -> None:
    for _ in range(2):  # a refusal is not remembered as a result
        with pytest.raises(ValueError, match="only does C-ECHO and C-FIND"):
            _presentation_contexts((Verification, PatientRootQueryRetrieveInformationModelMove))
