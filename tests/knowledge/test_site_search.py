"""The HTML manual site has a search box: every page carries it, the index holds every
section with its link, and the ranking (run with node, as a browser would) finds the section
a reader means."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from pacsbot.knowledge.config import BUNDLED_MANUALS
from pacsbot.knowledge.manuals import load_library
from pacsbot.knowledge.site import build_site, html_path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    build_site([BUNDLED_MANUALS], out)
    return out


def _index(site: Path) -> list[list[str]]:
    text = (site / "search-index.js").read_text()
    return json.loads(text.removeprefix("window.PACS_SEARCH = ").rstrip().removesuffix(";"))


def test_every_page_has_the_search_box_and_its_scripts(site: Path) -> None:
    pages = sorted(site.rglob("*.html"))
    assert len(pages) == 27  # 26 manuals and the index
    for page in pages:
        text = page.read_text()
        depth = len(page.relative_to(site).parts) - 1
        assert 'id="search"' in text and f'data-root="{"../" * depth}"' in text
        assert f'src="{"../" * depth}search-index.js"' in text and f'src="{"../" * depth}search.js"' in text


def test_the_index_holds_every_section_with_the_link_answers_use(site: Path) -> None:
    links = {entry[2] for entry in _index(site)}
    for section in load_library([BUNDLED_MANUALS]).sections:
        if section.level:
            assert f"{html_path(section.file)}#{section.anchor}" in links


@pytest.mark.skipif(shutil.which("node") is None, reason="node runs the page's search script")
def test_the_search_finds_what_a_reader_means(site: Path) -> None:
    script = f"""
const fs = require('fs'); const vm = require('vm');
const ctx = {{window: {{}}}}; vm.createContext(ctx);
vm.runInContext(fs.readFileSync({json.dumps(str(site / 'search-index.js'))}, 'utf8'), ctx);
vm.runInContext(fs.readFileSync({json.dumps(str(site / 'search.js'))}, 'utf8'), ctx);
const out = {{}};
for (const q of ['hang prior', 'window level preset', 'images missing', 'zzqx flurb', '']) {{
  out[q] = vm.runInContext(`pacsRank(window.PACS_SEARCH, ${{JSON.stringify(q)}}, 3)`, ctx).map(e => e[2]);
}}
console.log(JSON.stringify(out));
"""
    found = json.loads(subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True, timeout=60).stdout)
    assert all(link.startswith("viewer/hanging-priors.html#") for link in found["hang prior"])
    assert found["window level preset"] and all(link.startswith("viewer/window-level.html#") for link in found["window level preset"])
    assert found["images missing"][0].startswith("technologist/missing-images.html#")
    assert found["zzqx flurb"] == [] and found[""] == []
