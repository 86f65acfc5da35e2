"""Reading a guide the way a reader (and GitHub) does: its fenced code blocks, the shell
commands in them, its inline code and its headings' anchors."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pacsbot.core.markdown import Slugger, inline_text

ROOT = Path(__file__).resolve().parents[2]

SHELL_LANGUAGES = {"sh", "shell", "bash", "console"}

_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})(.*)$")


@dataclass(frozen=True)
class Block:
    language: str
    line: int            # of the opening fence, 1-based
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Command:
    line: int            # where it starts in the guide, 1-based
    text: str            # as written: continuation lines joined, the comment dropped, spaces collapsed
    comment: str         # the comment after it, if any


def blocks(text: str) -> list[Block]:
    """Every fenced code block (``` or ~~~, possibly indented under a list item)."""
    out: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, fence, info = match.groups()
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not (lines[j].strip().startswith(fence) and lines[j].strip().strip(fence[0]) == ""):
            body.append(lines[j][len(indent):] if lines[j].startswith(indent) else lines[j].lstrip())
            j += 1
        out.append(Block(info.strip().split(" ")[0] if info.strip() else "", i + 1, tuple(body)))
        i = j + 1
    return out


def prose(text: str) -> str:
    """The text with every fenced block blanked out (line numbers kept)."""
    lines = text.splitlines()
    for block in blocks(text):
        for n in range(block.line - 1, block.line + len(block.lines) + 1):
            if n < len(lines):
                lines[n] = ""
    return "\n".join(lines)


def split_comment(line: str) -> tuple[str, str]:
    """(command, comment): a ``#`` at the start or after a space, outside quotes, starts a comment."""
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip(), line[i + 1:].strip()
    return line.rstrip(), ""


def shell_commands(text: str) -> list[Command]:
    """The commands of every shell block: in ``sh``/``bash``/``shell`` blocks every line that is
    not a comment (a trailing ``\\`` continues it), in ``console`` blocks the lines after ``$ ``."""
    out: list[Command] = []
    for block in blocks(text):
        if block.language not in SHELL_LANGUAGES:
            continue
        pending: list[str] = []
        start = 0
        for offset, raw in enumerate(block.lines):
            number = block.line + 1 + offset
            if block.language == "console":
                if not raw.startswith("$ "):
                    continue
                raw = raw[2:]
            command, comment = split_comment(raw.strip())
            if not pending:
                start = number
            if command.endswith("\\"):
                pending.append(command[:-1])
                continue
            pending.append(command)
            joined = " ".join(part.strip() for part in pending if part.strip())
            pending = []
            if joined:
                out.append(Command(start, re.sub(r"\s+", " ", joined), comment))
    return out


def inline_code(text: str) -> list[tuple[int, str]]:
    """(line, content) of every inline code span outside fenced blocks; a span may run over a
    line break (then it reads as a space)."""
    body = prose(text)
    out: list[tuple[int, str]] = []
    for match in re.finditer(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", body, re.DOTALL):
        content = re.sub(r"\s+", " ", match.group(2)).strip()
        out.append((body.count("\n", 0, match.start()) + 1, content))
    return out


def headings(text: str) -> list[tuple[int, int, str]]:
    """(line, level, text) of every ATX heading outside fenced blocks."""
    out = []
    for number, line in enumerate(prose(text).splitlines(), 1):
        match = re.match(r"^(#{1,6})\s+(.*?)\s*#*\s*$", line)
        if match:
            out.append((number, len(match.group(1)), match.group(2)))
    return out


def anchors(text: str) -> dict[str, str]:
    """GitHub's anchor of every heading -> the heading's text (repeats numbered -1, -2...)."""
    slugger = Slugger()
    return {slugger.slug(inline_text(title)): title for _, _, title in headings(text)}
