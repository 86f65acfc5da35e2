"""The markdown pipeline's output on the bundled manuals and training modules, the edge-case
fixtures and the larger corpora, against the golden files under ``tests/golden``.

A difference is either a bug or a deliberate change: for the latter, rewrite the files with
``.venv/bin/python -m tests.goldens`` and review the diff before committing it.
"""

from __future__ import annotations

import difflib

import pytest

from tests import goldens

HOW = "if the change is deliberate: .venv/bin/python -m tests.goldens, then review `git diff tests/golden`"


def _diff(name: str, want: str | None, got: str) -> str:
    if want is None:
        return f"{name}: no golden file"
    lines = difflib.unified_diff(want.splitlines(), got.splitlines(), f"golden/{name}", "now", lineterm="", n=2)
    return "\n".join(list(lines)[:60])


def _compare(files: dict[str, str], old: dict[str, str]) -> None:
    wrong = [k for k in sorted(files) if old.get(k) != files[k]]
    if wrong:
        shown = "\n\n".join(_diff(k, old.get(k), files[k]) for k in wrong[:5])
        pytest.fail(f"{len(wrong)} golden file(s) differ: {', '.join(wrong[:20])}\n{HOW}\n\n{shown}", pytrace=False)


def test_bundled_and_edge_cases_match_the_goldens() -> None:
    files = goldens.all_goldens()
    old = goldens.existing()
    _compare(files, old)
    extra = sorted(k for k in old if k not in files and k != "corpora/public.json")
    assert not extra, f"golden files nothing produces any more: {extra}; {HOW}"


def test_public_manuals_match_their_digests() -> None:
    public = goldens.public_golden()
    if public is None:
        pytest.skip("public manuals not present")
    name, text = public
    _compare({name: text}, goldens.existing())
