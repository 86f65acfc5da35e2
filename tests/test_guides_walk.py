"""What the guides promise, the bot does: every `/pacs` command quoted in the README, the user
guide and the bundled manuals is typed into the console by someone of the audience it is
written for, and must be accepted (not refused for their role, not unknown, not a usage error).

Who a command is written for: a manual's ``audience`` (front matter); in the user guide, the
section it sits in ("If you're a trainer", "— PACS admins"...); the README is read by the
PACS admin who installs pacsbot. A line, or the sentence just before a code block, that names
PACS admins or trainers makes the command theirs.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from pacsbot.bot.console import Console
from tests.harness import make_settings

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [ROOT / "README.md", ROOT / "docs" / "user-guide.md", *sorted((ROOT / "knowledge" / "manuals").rglob("*.md"))]

# the console's demo people, one per audience
AS = {"admin": "alex.admin", "trainer": "terry.trainer", "clinician": "tom.tech"}

# quoted on purpose as what not to type
NOT_COMMANDS = {"/pacs hlep"}

# placeholders in usage lines -> a value from the demo data
PLACEHOLDERS = {
    "<question>": "how do I hang a prior for comparison",
    "<accession>": "A1001",
    "<accession number>": "A1001",
    "<node>": "pacs",
    "<command>": "ask",
    "<number>": "1",
}

# what the console prints when a command was not accepted
NOT_ACCEPTED = (
    "is only for",               # refused for the role
    "I don't know `/pacs",       # unknown subcommand
    "is not something",          # unknown verb
    "something went wrong",      # a bug
    "Traceback",
)


@dataclass(frozen=True)
class Quoted:
    source: str
    line: int
    command: str
    audience: str


def _audience_words(words: str, default: str) -> str:
    text = words.lower()
    if "pacs admin" in text or "for the pacs team" in text or "admins can" in text:
        return "admin"
    if "trainer" in text:
        return "trainer"
    return default


def _manual_audience(text: str) -> str:
    if not text.startswith("---"):
        return "clinician"
    front = yaml.safe_load(text.split("---", 2)[1]) or {}
    audience = [str(a).lower() for a in front.get("audience") or ["all"]]
    if any("admin" in a for a in audience):
        return "admin"
    if audience == ["trainer"]:
        return "trainer"
    return "clinician"


def quoted_commands() -> list[Quoted]:
    out: list[Quoted] = []
    for path in SOURCES:
        text = path.read_text()
        source = str(path.relative_to(ROOT))
        if source == "README.md":
            default = "admin"  # read by whoever installs and runs pacsbot
        elif source.startswith("docs/"):
            default = "clinician"
        else:
            default = _manual_audience(text)
        section = default
        in_code = False
        before_code = ""
        for number, line in enumerate(text.splitlines(), 1):
            if line.startswith("#") and not in_code:
                section = _audience_words(line, default if source.startswith("knowledge/") else "clinician"
                                          if source.startswith("docs/") else default)
                continue
            if line.startswith("```"):
                in_code = not in_code
                continue
            if in_code:
                if line.strip().startswith("/pacs"):
                    out.append(Quoted(source, number, line.strip(), _audience_words(before_code, section)))
                continue
            if line.strip():
                before_code = line
            for command in re.findall(r"`(/pacs(?: [^`]*)?)`", line):
                out.append(Quoted(source, number, command, _audience_words(line, section)))
    return [q for q in out if q.command.split("   ")[0].strip() not in NOT_COMMANDS]


def typed(command: str) -> str:
    """The command as someone would type it: comments dropped, a placeholder filled in,
    optional parts left out, the first of several alternatives."""
    command = command.split("   ")[0].strip().replace("\\|", "|")
    for placeholder, value in PLACEHOLDERS.items():
        command = command.replace(placeholder, value)
    command = re.sub(r"\s*\[[^\]]*\]", "", command)
    return " ".join(word.split("|")[0] for word in command.split())


QUOTED = quoted_commands()


def test_the_guides_quote_commands_for_every_audience() -> None:
    audiences = {q.audience for q in QUOTED}
    assert audiences == {"admin", "trainer", "clinician"}, audiences
    assert len(QUOTED) >= 60


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("walk")
    out = io.StringIO()
    c = Console(make_settings(tmp, f"sqlite:///{tmp / 'walk.db'}"), user="U0ADMIN01", out=out, wait_seconds=20)
    c.start()
    # a ticket for `/pacs ticket 123`-style examples to find
    c.run_script([":as tom.tech", "/pacs report images for acc A1001 not in PACS, CT2, urgent"])
    yield c, out
    c.close()


@pytest.mark.parametrize("quoted", QUOTED, ids=[f"{q.source}:{q.line}" for q in QUOTED])
def test_a_quoted_command_is_accepted_for_its_audience(console: Any, quoted: Quoted) -> None:
    c, out = console
    c.handle(f":as {AS[quoted.audience]}")
    out.seek(0)
    out.truncate(0)
    line = typed(quoted.command)
    c.handle(line)
    said = out.getvalue()
    problems = [marker for marker in NOT_ACCEPTED if marker in said]
    if len(line.split()) > 2 and "Usage:" in said:  # a full example must parse (a bare name may ask for more)
        problems.append("Usage:")
    assert not problems, f"{quoted.source}:{quoted.line} `{line}` as {quoted.audience}:\n{said}"
