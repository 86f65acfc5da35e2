"""``pacsbot kb search | check | gaps | html`` and the lint rules."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import pytest

from pacsbot.bot.cli import main
from pacsbot.knowledge.lint import check


@pytest.fixture
def manuals(tmp_path: Path) -> Path:
    root = tmp_path / "manuals"
    (root / "viewer" / "img").mkdir(parents=True)
    (root / "viewer" / "img" / "timeline.png").write_bytes(b"\x89PNG fake")
    (root / "viewer" / "priors.md").write_text(
        "---\ntitle: Hanging priors\nreviewed: 2026-09-01\n---\n\n# Hanging priors\n\n"
        "## Open a prior next to the current study\n\nDrag the prior from the **Timeline**.\n\n"
        "![Timeline](img/timeline.png)\n\nSee [layouts](layouts.md#change-the-layout).\n")
    (root / "viewer" / "layouts.md").write_text(
        "---\ntitle: Layouts\nreviewed: 2026-09-01\n---\n\n# Layouts\n\n## Change the layout\n\nPick 2x2.\n")
    return root


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_search_prints_ranked_sections(capsys: pytest.CaptureFixture[str], manuals: Path) -> None:
    code, out, _ = run(capsys, "kb", "search", "how do i hang the old prior", "--manuals", str(manuals))
    assert code == 0
    assert "would answer" in out and "viewer/priors.md#open-a-prior-next-to-the-current-study" in out
    assert "Hanging priors > Open a prior next to the current study" in out


def test_search_json_format(capsys: pytest.CaptureFixture[str], manuals: Path) -> None:
    code, out, _ = run(capsys, "kb", "search", "prior timeline", "--manuals", str(manuals), "--json")
    assert code == 0
    data = json.loads(out)
    assert set(data) == {"question", "mode", "answer", "confidence", "took_ms", "ranking", "results"}
    assert data["ranking"] == "words"  # the semantic re-ranker is off in tests unless marked
    assert data["question"] == "prior timeline" and data["mode"] == "answer" and data["answer"] is True
    assert 0.6 <= data["confidence"] <= 1 and data["took_ms"] >= 0
    assert len(data["results"]) == 2  # at least five where the manuals have five sections; here two have text
    first = data["results"][0]
    assert first == {"file": "viewer/priors.md", "anchor": "open-a-prior-next-to-the-current-study",
                     "heading": "Open a prior next to the current study", "score": first["score"],
                     "confidence": data["confidence"]}
    scores = [r["score"] for r in data["results"]]
    assert scores == sorted(scores, reverse=True)


def test_search_reads_questions_from_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("cobb angle\n\nwhats the cafeteria menu\n"))
    code, out, _ = run(capsys, "kb", "search", "--json")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [(x["question"], x["answer"]) for x in lines] == [("cobb angle", True), ("whats the cafeteria menu", False)]
    assert all(len(x["results"]) >= 5 for x in lines)
    assert lines[0]["results"][0]["anchor"] == "measure-an-angle"


def test_search_manuals_before_the_question(capsys: pytest.CaptureFixture[str], manuals: Path) -> None:
    code, out, _ = run(capsys, "kb", "search", "--manuals", str(manuals), "change the layout")
    assert code == 0 and "viewer/layouts.md#change-the-layout" in out


def test_search_bad_directory_is_a_clear_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "kb", "search", "x", "--manuals", str(tmp_path / "nope"))
    assert code == 2 and "not a directory" in err and "Traceback" not in err


def test_check_clean_manuals(capsys: pytest.CaptureFixture[str], manuals: Path) -> None:
    code, out, err = run(capsys, "kb", "check", "--manuals", str(manuals))
    assert code == 0 and out == "" and "0 error(s)" in err


def test_check_reports_problems_with_file_and_line(capsys: pytest.CaptureFixture[str], manuals: Path) -> None:
    (manuals / "viewer" / "broken.md").write_text(
        "---\nreviewed: 2020-01-01\n---\n\nIntro without a title.\n\n## Steps\n\n[gone](missing.md) "
        "![pic](img/none.png) [bad anchor](layouts.md#nowhere) [self](#steps) [self bad](#nope)\n\n## Steps\n\nagain\n")
    (manuals / "bad.md").write_text("---\ntitle: [\n---\n")
    code, out, _ = run(capsys, "kb", "check", "--manuals", str(manuals))
    assert code == 1
    broken = str(manuals / "viewer" / "broken.md")
    expected = [
        f"{broken}:1: error: no title",
        f"{broken}:1: error: last reviewed 2020-01-01",
        f"{broken}:9: error: broken link: 'missing.md' does not exist",
        f"{broken}:9: error: broken image: 'img/none.png' does not exist",
        f"{broken}:9: error: broken link: 'layouts.md#nowhere'",
        f"{broken}:9: error: broken link: no heading with anchor '#nope'",
        f"{broken}:11: error: duplicate heading 'Steps' (also on line 7)",
        f"{manuals / 'bad.md'}:2: error: front matter is not valid YAML",
    ]
    for line in expected:
        assert any(o.startswith(line) for o in out.splitlines()), (line, out)
    assert "#steps'" not in out


def test_check_the_bundled_manuals_is_clean() -> None:
    from pacsbot.knowledge.config import BUNDLED_MANUALS

    assert check([BUNDLED_MANUALS], today=dt.date(2026, 11, 28)) == []


def test_html_site(capsys: pytest.CaptureFixture[str], manuals: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "site"
    code, out, _ = run(capsys, "kb", "html", "--out", str(out_dir), "--manuals", str(manuals))
    assert code == 0 and "Wrote 2 pages and 1 other files" in out
    page = (out_dir / "viewer" / "priors.html").read_text()
    assert 'id="open-a-prior-next-to-the-current-study"' in page
    assert 'href="layouts.html#change-the-layout"' in page
    assert 'src="img/timeline.png"' in page and (out_dir / "viewer" / "img" / "timeline.png").exists()
    assert 'class="toc"' in page and "Last reviewed 2026-09-01" in page
    index = (out_dir / "index.html").read_text()
    assert 'href="viewer/priors.html"' in index and (out_dir / "style.css").exists()


def test_html_refuses_to_write_inside_the_manuals(capsys: pytest.CaptureFixture[str], manuals: Path) -> None:
    code, _, err = run(capsys, "kb", "html", "--out", str(manuals / "out"), "--manuals", str(manuals))
    assert code == 2 and "is inside a manuals directory" in err


def test_html_takes_out_like_the_other_commands_and_the_older_spelling(capsys: pytest.CaptureFixture[str], manuals: Path,
                                                                      tmp_path: Path) -> None:
    code, _, _ = run(capsys, "kb", "html", str(tmp_path / "a"), "--manuals", str(manuals))  # as before
    assert code == 0 and (tmp_path / "a" / "index.html").exists()
    code, _, err = run(capsys, "kb", "html", "--manuals", str(manuals))
    assert code == 2 and "pacsbot kb html --out site/" in err


def test_gaps_on_an_empty_database(capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PACSBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("PACSBOT_CONFIG", raising=False)
    code, out, _ = run(capsys, "kb", "gaps", "--json")
    assert code == 0 and json.loads(out)["unanswered"] == []


def test_kb_without_an_action_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "kb")
    assert code == 2 and "search" in out and "check" in out


def test_a_wrong_flag_is_reported_with_the_command_s_own_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["kb", "html", "--bogus"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert err.startswith("usage: pacsbot kb html") and "pacsbot kb html: error: unrecognized arguments: --bogus" in err
