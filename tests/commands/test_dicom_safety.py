"""Safety by construction, checked on the code itself: only C-ECHO and C-FIND exist in the
diagnostics' code path — no C-MOVE, C-GET or C-STORE, no storage contexts, and only one
module that opens associations."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Everything that runs when someone types /pacs echo|locate|nodes or pacsbot echo|locate,
# plus the demo SCP (which must not accept stores or retrieves either).
CODE_PATH = sorted(
    [*(ROOT / "commands").rglob("*.py"),
     ROOT / "bot" / "features" / "diagnostics.py",
     ROOT / "bot" / "cli" / "dicom.py",
     ROOT / "bot" / "cli" / "worklist.py",
     *(ROOT / "bot" / "render").glob("diagnostics*.py")]
)

FORBIDDEN = {
    # pynetdicom association methods that retrieve or send images
    "send_c_move", "send_c_get", "send_c_store", "send_n_action", "send_n_create", "send_n_delete", "send_n_set",
    # the events an SCP would handle to store, move or get
    "EVT_C_STORE", "EVT_C_MOVE", "EVT_C_GET", "EVT_N_CREATE", "EVT_N_SET", "EVT_N_DELETE", "EVT_N_ACTION",
    # presentation contexts for retrieval and storage
    "StoragePresentationContexts", "AllStoragePresentationContexts", "QueryRetrievePresentationContexts",
    "StudyRootQueryRetrieveInformationModelMove", "StudyRootQueryRetrieveInformationModelGet",
    "PatientRootQueryRetrieveInformationModelMove", "PatientRootQueryRetrieveInformationModelGet",
    "CompositeInstanceRootRetrieveMove", "CompositeInstanceRootRetrieveGet",
    "RetrievePresentationContexts",
}


def identifiers(path: Path) -> set[str]:
    """Every name, attribute and imported name used in the module (docstrings do not count)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            found.update(alias.name.rsplit(".", 1)[-1] for alias in node.names)
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) < 80:
            found.add(node.value)
    return found


def test_the_code_path_exists() -> None:
    names = {p.name for p in CODE_PATH}
    assert {"scu.py", "locate.py", "service.py", "demo.py", "diagnostics.py", "dicom.py"} <= names


def test_no_c_move_c_get_or_c_store_anywhere_in_the_code_path() -> None:
    offences = {str(p.relative_to(ROOT)): sorted(identifiers(p) & FORBIDDEN) for p in CODE_PATH}
    assert {k: v for k, v in offences.items() if v} == {}


def test_only_scu_opens_associations_and_requests_contexts() -> None:
    for path in CODE_PATH:
        used = identifiers(path)
        if path.name == "scu.py":
            assert {"associate", "add_requested_context"} <= used
            continue
        assert "associate" not in used, f"{path} opens an association itself"
        assert "add_requested_context" not in used, f"{path} requests a presentation context"


def test_the_scu_requests_exactly_verification_study_root_find_and_worklist_find() -> None:
    from pynetdicom.sop_class import ModalityWorklistInformationFind, StudyRootQueryRetrieveInformationModelFind, Verification

    from pacsbot.commands import scu

    assert scu.ALLOWED_ABSTRACT_SYNTAXES == {str(Verification), str(StudyRootQueryRetrieveInformationModelFind),
                                             str(ModalityWorklistInformationFind)}


def test_the_demo_scp_supports_only_echo_and_find() -> None:
    used = identifiers(ROOT / "commands" / "demo.py")
    assert "add_supported_context" in used
    supported = {"Verification", "StudyRootQueryRetrieveInformationModelFind"}
    assert not (used & FORBIDDEN)
    assert supported <= used


def test_no_address_comes_from_chat() -> None:
    """The Slack adapter and the CLI hand the SCU only Targets built from the configuration."""
    for path in (ROOT / "bot" / "features" / "diagnostics.py", ROOT / "bot" / "cli" / "dicom.py", ROOT / "bot" / "cli" / "worklist.py"):
        used = identifiers(path)
        assert "Target" not in used or path.name == "diagnostics.py"  # only as a type
        assert "target_for" not in used and "NodeConfig" not in used and "open_session" not in used
