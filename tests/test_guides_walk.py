"""What the guides promise, the bot does: every `/pacs` command quoted in the README, the user
guide, the admin guide and the bundled manuals is typed into the console by someone of the
audience it is written for, and must be accepted (not refused for their role, not unknown, not
a usage error). A command quoted with optional parts (`/pacs audit [since 7d]`) is typed both
without them and with them.

Who a command is written for: a manual's ``audience`` (front matter); in the user guide, the
section it sits in ("If you're a trainer", "— PACS admins"...); the README and the admin guide
are read by the PACS admin who installs and runs pacsbot. A line, or the sentence just before a
code block, that names PACS admins or trainers makes the command theirs; one that says
"(everyone)" makes it a clinician's.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from pacsbot.bot.console import Console
from pacsbot.commands.demo import DEMO_DAY, DEMO_PATIENT
from tests.harness import make_settings

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [ROOT / "README.md", ROOT / "docs" / "user-guide.md", ROOT / "docs" / "admin-guide.md",
           *sorted((ROOT / "knowledge" / "manuals").rglob("*.md"))]

# who reads a guide, where no section or line says otherwise
READERS = {
    "README.md": "admin",  # read by whoever installs and runs pacsbot
    "docs/user-guide.md": "clinician",
    "docs/admin-guide.md": "admin",  # "For the PACS administrator who installs, configures and runs pacsbot"
}

# the console's demo people, one per audience
AS = {"admin": "alex.admin", "trainer": "terry.trainer", "clinician": "tom.tech"}

# quoted on purpose as what not to type
NOT_COMMANDS = {
    "/pacs hlep",
    "/pacs echo 10.0.0.5",  # admin guide: no host is taken from chat, this is refused ("There is no node called …")
}

# the console's clock starts at the machine's: dated examples are moved to days that make sense now
TODAY = datetime.now(timezone.utc).date()

# placeholders in usage lines, and example values that must exist -> a value from the demo data
PLACEHOLDERS = {
    "<question>": "how do I hang a prior for comparison",
    "<accession>": "A1001",  # commands/demo.py: complete on both demo nodes
    "<accession number>": "A1001",
    "<node>": "pacs",
    "<command>": "ask",
    "<number>": "1",
    "<text>": "images for acc A1002 missing on PACS, CT2",
    "<module>": "hipaa-imaging",  # a bundled module (training/modules)
    "<id>": DEMO_PATIENT,  # `/pacs locate --patient <id>`: the demo patient with several studies
    "A123456 on CT2": "A1102 on CT2",  # the demo worklist's order expected on CT2 but scheduled on CT1
    # `/pacs downtime add vna 2026-12-01 22:00 2026-12-02 02:00 ...` must be ahead of the clock
    "2026-12-01": str(TODAY + timedelta(days=1)),
    "2026-12-02": str(TODAY + timedelta(days=2)),
    # `/pacs reconcile 2026-01-04 ...`: a day before today, at most 366 days ago
    "2026-01-04": str(TODAY - timedelta(days=7)),
    # the optional parts of `/pacs audit [@user] [since 7d] [action PREFIX]`, `/pacs locate ... [--date ...] [--node NAME]`
    "@user": "@tom.tech",
    "PREFIX": "ticket",
    "--date ...": f"--date {DEMO_DAY:%Y%m%d}",  # the demo studies' day
    "NAME": "pacs",
}

# what the console prints when a command was not accepted
NOT_ACCEPTED = (
    "is only for",               # refused for the role
    "I don't know `/pacs",       # unknown subcommand
    "is not something",          # unknown verb
    "something went wrong",      # a bug
    "Traceback",
    "I don't know the option",   # an option that does not exist
    "I don't understand",        # words the command does not take
    "” is not a",                # a value it cannot read: “7 days” is not a date, “sinse” is not a Slack user
    "There is no node called",   # a node the demo network does not have
    "There is no training module",  # a module id that is not bundled
    "the most allowed",          # over the DICOM rate limit: not run at all
    "is in the past",            # a dated example that has not been moved on (PLACEHOLDERS)
)


@dataclass(frozen=True)
class Quoted:
    source: str
    line: int
    command: str
    audience: str
    options: bool = False  # typed with its optional parts ("[since 7d]") rather than without

    @property
    def id(self) -> str:
        return f"{self.source}:{self.line}" + ("+options" if self.options else "")


def _audience_words(words: str, default: str) -> str:
    text = words.lower()
    if "pacs admin" in text or "for the pacs team" in text or "admins can" in text or "only admins" in text:
        return "admin"
    if "trainer" in text:
        return "trainer"
    if "(everyone)" in text:  # admin guide: "`/pacs status` (everyone) shows ..."
        return "clinician"
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
        default = READERS[source] if source in READERS else _manual_audience(text)
        section = default
        in_code = False
        before_code = ""
        wrapped, wrapped_at = "", 0  # a quote the line ended inside of (`/pacs ask how do I hang a prior for)
        for number, line in enumerate(text.splitlines(), 1):
            if line.startswith("#") and not in_code:
                section = _audience_words(line, default)
                wrapped = ""
                continue
            if line.startswith("```"):
                in_code = not in_code
                wrapped = ""
                continue
            if in_code:
                if line.strip().startswith("/pacs"):
                    # a comment on the line itself ("current and upcoming (everyone)") says it first
                    audience = _audience_words(line, _audience_words(before_code, section))
                    out.append(Quoted(source, number, line.strip(), audience))
                continue
            if line.strip():
                before_code = line
            prose = f"{wrapped} {line.strip()}" if wrapped and line.strip() else line
            for n, command in enumerate(re.findall(r"`(/pacs(?: [^`]*)?)`", prose)):
                out.append(Quoted(source, wrapped_at if wrapped and n == 0 else number, command,
                                  _audience_words(prose, section)))
            ends_inside = re.search(r"`/pacs[^`]*$", prose)
            wrapped, wrapped_at = (ends_inside.group(0), number) if ends_inside and prose.count("`") % 2 else ("", 0)
    out = [q for q in out if q.command.split("   ")[0].strip() not in NOT_COMMANDS]
    # a documented option must exist too: a command with optional parts is typed once more with them
    return out + [replace(q, options=True) for q in out if "[" in q.command.split("   ")[0]]


def typed(command: str, *, options: bool = False) -> str:
    """The command as someone would type it: comments dropped, a placeholder filled in,
    optional parts left out (or put in, with ``options``), the first of several alternatives,
    a trailing "..." (`/pacs kb ...`) left out."""
    command = command.split("   ")[0].strip().replace("\\|", "|")
    for placeholder, value in PLACEHOLDERS.items():
        command = command.replace(placeholder, value)
    if options:
        command = re.sub(r"\[([^\]]*)\]", lambda m: m.group(1).split("|")[0].strip(), command)
    else:
        command = re.sub(r"\s*\[[^\]]*\]", "", command)
    words = [word.split("|")[0] for word in command.split()]
    return " ".join(words[:-1] if words[-1] == "..." else words)


def _asks_for_the_rest(line: str, said: str) -> bool:
    """A command quoted by its name alone (`/pacs train assign`) may ask for more: its usage
    then starts with what was typed."""
    return any(usage == line or usage.startswith(line + " ") for usage in re.findall(r"Usage: `?(/pacs[^`\n]*)", said))


QUOTED = quoted_commands()


def test_the_guides_quote_commands_for_every_audience() -> None:
    audiences = {q.audience for q in QUOTED}
    assert audiences == {"admin", "trainer", "clinician"}, audiences
    assert len(QUOTED) >= 60


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("walk")
    out = io.StringIO()
    # the walk runs more DICOM checks in a minute than one person may (dicom.rate_limit)
    settings = make_settings(tmp, f"sqlite:///{tmp / 'walk.db'}", dicom={"rate_limit": {"runs": 1000}})
    c = Console(settings, user="U0ADMIN01", out=out, wait_seconds=20)
    c.start()
    # late in the evening (UTC, the site's time zone here), on to 08:00 the next day, so that
    # `/pacs downtime add pacs 22:00 23:30 ...` is ahead (earlier, the demo worklist's "today" stays today)
    now = c.clock.now()
    if now.hour >= 20:
        c.clock.advance(now.replace(hour=8, minute=0, second=0, microsecond=0) + timedelta(days=1) - now)
    # a ticket for `/pacs ticket 123`-style examples to find
    c.run_script([":as tom.tech", "/pacs report images for acc A1001 not in PACS, CT2, urgent"])
    # what the console answered each (command, audience): a command quoted again by the same
    # person is not typed again (half the quotes are repeats; it keeps the walk fast)
    answers: dict[tuple[str, str], str] = {}
    yield c, out, answers
    c.close()


@pytest.mark.parametrize("quoted", QUOTED, ids=[q.id for q in QUOTED])
def test_a_quoted_command_is_accepted_for_its_audience(console: Any, quoted: Quoted) -> None:
    c, out, answers = console
    line = typed(quoted.command, options=quoted.options)
    assert not re.search(r"<[^>]*>", line), f"{quoted.source}:{quoted.line}: a placeholder PLACEHOLDERS lacks: `{line}`"
    if (line, quoted.audience) not in answers:
        c.handle(f":as {AS[quoted.audience]}")
        out.seek(0)
        out.truncate(0)
        c.handle(line)
        answers[line, quoted.audience] = out.getvalue()
    said = answers[line, quoted.audience]
    problems = [marker for marker in NOT_ACCEPTED if marker in said]
    if len(line.split()) > 2 and "Usage:" in said and not _asks_for_the_rest(line, said):
        problems.append("Usage:")  # a full example must parse
    assert not problems, f"{quoted.source}:{quoted.line} `{line}` as {quoted.audience}:\n{said}"
