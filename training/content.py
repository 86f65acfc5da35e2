"""Training modules: markdown files with front matter, pages, and a quiz.

A module file looks like this (the full reference is in docs/admin-guide.md, "Training", and
a worked example in ``training/examples/example-module.md``)::

    ---
    id: downtime-basics
    title: Downtime procedures
    minutes: 15
    pass_mark: 80
    ---

    ## What downtime means          <- every "## " heading starts a page
    Text in ordinary markdown...

    ## Quiz                         <- the last section; each "### " is one question

    ### Who declares an unplanned downtime?
    - [ ] The first technologist who notices
    - [x] The PACS on-call
    > The on-call confirms more than one station is affected, then declares it.

A question with one ``[x]`` is single choice (radio buttons); with several ``[x]``, or with
"(select all that apply)" in its heading, it is multiple choice (checkboxes) and only the
exact set of correct options scores. The blockquote under the options is the explanation the
learner sees after submitting.

The front matter, the headings and the code blocks are found by the project's markdown
parser (:mod:`core.markdown`), so a module is divided where Slack shows its headings; the quiz
lines (options, explanations) are read line by line, to report each mistake on its line.

:func:`parse_module` never raises for bad content: it returns the problems it found, each
with the file and line, and no module when any of them is an error.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pacsbot.core import markdown

MAX_OPTIONS = 10          # Slack: radio buttons and checkboxes take at most 10 options
MAX_QUESTIONS = 40        # a modal holds 100 blocks; each question takes two
SLACK_OPTION_TEXT = 75    # longer options are shown as a lettered list above the choices
MAX_VERSION = 32

ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$")
MULTIPLE_MARK = re.compile(r"\s*\((?:select|choose|tick|pick) all that apply\)\s*", re.IGNORECASE)
_OPTION = re.compile(r"^(\s*)[-*+]\s+\[([ xX])\]\s+(\S.*)$")
_BAD_OPTION = re.compile(r"^\s*[-*+]\s+\[([^\]]*)\](.*)$")
_BULLET = re.compile(r"^\s*([-*+]|\d+[.)])\s+")
_ANCHOR = re.compile(r"\s*\{#[^}]*\}\s*$")
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)

KNOWN_KEYS = {
    "id": "a short name, lowercase letters, digits and hyphens (e.g. hipaa-imaging)",
    "title": "the title learners see",
    "summary": "one sentence shown in the invitation (optional)",
    "audience": "who it is for: a word or a list (e.g. [radiologist, resident])",
    "minutes": "the estimated time to complete, in minutes",
    "pass_mark": "the score needed to pass, in percent (1-100)",
    "attempts": "how many times a learner may take the quiz (default 3)",
    "recurrence_days": "repeat every N days (e.g. 365 for annual training); omit for once only",
    "version": "your version label (optional); content changes are tracked either way",
}
REQUIRED_KEYS = ("id", "title", "minutes", "pass_mark")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a module file, with where it is."""

    path: str
    line: int
    severity: str  # "error" (the module is skipped) or "warning"
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.severity}: {self.message}"


@dataclass(frozen=True)
class Option:
    text: str
    correct: bool


@dataclass(frozen=True)
class Question:
    number: int          # 1-based, in file order
    text: str            # the heading, without the "(select all that apply)" marker
    body: str            # markdown between the heading and the options (may be empty)
    options: tuple[Option, ...]
    multiple: bool
    explanation: str
    line: int

    @property
    def correct(self) -> frozenset[int]:
        return frozenset(i for i, o in enumerate(self.options) if o.correct)

    @property
    def long_options(self) -> bool:
        return any(len(o.text) > SLACK_OPTION_TEXT for o in self.options)


@dataclass(frozen=True)
class Page:
    number: int          # 1-based
    title: str
    body: str            # markdown
    line: int


@dataclass(frozen=True)
class Module:
    id: str
    title: str
    summary: str
    audience: tuple[str, ...]
    minutes: int
    pass_mark: int
    attempts: int
    recurrence_days: int | None
    version: str | None           # the label from the front matter, if any
    pages: tuple[Page, ...]
    quiz_intro: str
    questions: tuple[Question, ...]
    path: str
    content_hash: str = ""

    @property
    def page_count(self) -> int:
        return len(self.pages)

    def page(self, number: int) -> Page:
        return self.pages[max(1, min(number, len(self.pages))) - 1]


# --------------------------------------------------------------------------------------
# front matter

def _front_matter(path: str, text: str, problems: list[Problem]) -> tuple[dict[str, Any], dict[str, int], int] | None:
    """(values, line of each key, index of the first body line) or None if unusable."""
    block = markdown.front_matter(text)
    if block is None or block.marker != "---":
        problems.append(Problem(path, 1, "error", "a module starts with front matter: a line '---', the settings (id, title, minutes, pass_mark), and another '---'"))
        return None
    if not block.closed:
        problems.append(Problem(path, 1, "error", "the front matter is never closed: add a line '---' after the settings"))
        return None
    try:
        node = yaml.compose(block.source, Loader=yaml.SafeLoader)
        data = yaml.safe_load(block.source)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = (mark.line + 2) if mark is not None else 2
        problems.append(Problem(path, line, "error", f"the front matter is not valid YAML: {getattr(exc, 'problem', None) or exc}"))
        return None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problems.append(Problem(path, 2, "error", "the front matter must be 'key: value' lines"))
        return None
    key_lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, _ in node.value:
            key_lines[str(key_node.value)] = key_node.start_mark.line + 2
    return data, key_lines, block.body_start - 1


def _int(path: str, data: dict[str, Any], key: str, line: int, problems: list[Problem], lo: int, hi: int, what: str) -> int | None:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.strip().rstrip("%").strip().isdigit():
            value = int(value.strip().rstrip("%"))
        else:
            problems.append(Problem(path, line, "error", f"{key} must be a whole number ({what}), not {value!r}"))
            return None
    if not lo <= value <= hi:
        problems.append(Problem(path, line, "error", f"{key} is {value}; it must be between {lo} and {hi} ({what})"))
        return None
    return value


# --------------------------------------------------------------------------------------
# body

@dataclass
class _Q:
    text: str
    line: int
    body: list[str] = field(default_factory=list)
    options: list[tuple[str, bool, int]] = field(default_factory=list)
    explanation: list[str] = field(default_factory=list)
    state: str = "stem"  # stem -> options -> explanation
    malformed: bool = False  # an option line was already reported; don't pile on


def _strip_anchor(title: str) -> str:
    return _ANCHOR.sub("", title).strip()


def _tidy(lines: list[str]) -> str:
    text = "\n".join(line.rstrip() for line in lines)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip("\n")


def parse_module(path: Path | str, text: str | None = None) -> tuple[Module | None, list[Problem]]:
    """Parse one module file. Returns (module or None, problems)."""
    shown = str(path)
    problems: list[Problem] = []
    if text is None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            return None, [Problem(shown, 1, "error", "the file is not UTF-8 text")]
        except OSError as exc:
            return None, [Problem(shown, 1, "error", f"cannot read the file ({exc.strerror or exc})")]
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    # HTML comments are notes for trainers: dropped, keeping line numbers for messages.
    text = _COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    lines = text.split("\n")
    fm = _front_matter(shown, text, problems)
    if fm is None:
        return None, problems
    data, key_lines, body_start = fm

    def line_of(key: str) -> int:
        return key_lines.get(key, 1)

    for key in data:
        if key not in KNOWN_KEYS:
            hint = _closest(str(key), KNOWN_KEYS)
            problems.append(Problem(shown, line_of(str(key)), "error",
                                    f"unknown setting {key!r}" + (f" (did you mean {hint!r}?)" if hint else f"; known settings: {', '.join(KNOWN_KEYS)}")))
    for key in REQUIRED_KEYS:
        if key not in data or data.get(key) in (None, ""):
            problems.append(Problem(shown, 1, "error", f"the front matter needs {key}: {KNOWN_KEYS[key]}"))

    module_id = str(data.get("id") or "").strip()
    if module_id and not ID_RE.match(module_id):
        problems.append(Problem(shown, line_of("id"), "error",
                                f"id {module_id!r} must be 3-64 lowercase letters, digits and hyphens (e.g. hipaa-imaging)"))
    title = " ".join(str(data.get("title") or "").split())
    if title and len(title) > 150:
        problems.append(Problem(shown, line_of("title"), "error", f"the title is {len(title)} characters; keep it under 150"))
    minutes = _int(shown, data, "minutes", line_of("minutes"), problems, 1, 600, "estimated minutes") if "minutes" in data else None
    pass_mark = _int(shown, data, "pass_mark", line_of("pass_mark"), problems, 1, 100, "percent") if "pass_mark" in data else None
    attempts = _int(shown, data, "attempts", line_of("attempts"), problems, 1, 20, "tries at the quiz") if data.get("attempts") is not None else 3
    recurrence = None
    if data.get("recurrence_days") is not None:
        recurrence = _int(shown, data, "recurrence_days", line_of("recurrence_days"), problems, 7, 3650, "days between repeats")
    version = data.get("version")
    if version is not None:
        version = str(version).strip()
        if not version or len(version) > MAX_VERSION or any(c.isspace() for c in version):
            problems.append(Problem(shown, line_of("version"), "error",
                                    f"version must be a short label without spaces (at most {MAX_VERSION} characters), like 2026.1"))
            version = None
    audience_raw = data.get("audience", ["all"])
    if isinstance(audience_raw, str):
        audience_raw = [a for a in re.split(r"[,\s]+", audience_raw) if a]
    if not isinstance(audience_raw, list) or not all(isinstance(a, str) for a in audience_raw):
        problems.append(Problem(shown, line_of("audience"), "error", "audience must be a word or a list of words, like [radiologist, resident]"))
        audience_raw = ["all"]
    audience = tuple(a.strip().lower() for a in audience_raw if a.strip()) or ("all",)
    summary = " ".join(str(data.get("summary") or "").split())
    if len(summary) > 300:
        problems.append(Problem(shown, line_of("summary"), "warning", "the summary is long; the invitation shows one or two sentences best"))

    stem = Path(shown).stem
    if module_id and ID_RE.match(module_id) and stem != module_id and not stem.startswith("_"):
        problems.append(Problem(shown, line_of("id"), "warning", f"the id {module_id!r} differs from the file name {stem!r}; keeping them equal makes modules easy to find"))

    pages, quiz_intro, questions = _parse_body(shown, lines, body_start, problems)

    if any(p.severity == "error" for p in problems):
        return None, problems
    assert minutes is not None and pass_mark is not None and attempts is not None
    module = Module(
        id=module_id,
        title=title,
        summary=summary,
        audience=audience,
        minutes=minutes,
        pass_mark=pass_mark,
        attempts=attempts,
        recurrence_days=recurrence,
        version=version,
        pages=tuple(pages),
        quiz_intro=quiz_intro,
        questions=tuple(questions),
        path=shown,
    )
    return _with_hash(module), problems


@dataclass(frozen=True)
class _Structure:
    """What the markdown parser sees in a module's body, by 0-based line."""

    headings: dict[int, tuple[int, str]]     # ATX headings outside lists and quotes: (level, text)
    fenced: frozenset[int]                   # lines of fenced code blocks (not inside quotes)
    unclosed: tuple[tuple[int, str], ...]    # fenced code blocks never closed: (first line, fence)


def _structure(lines: list[str], start: int) -> _Structure:
    tokens = markdown.parse("\n".join(lines[start:]))
    headings: dict[int, tuple[int, str]] = {}
    fenced: set[int] = set()
    unclosed: list[tuple[int, str]] = []
    quotes = 0
    for i, token in enumerate(tokens):
        kind = token.type
        if kind == "blockquote_open":
            quotes += 1
        elif kind == "blockquote_close":
            quotes -= 1
        elif kind == "heading_open" and token.level == 0 and token.markup.startswith("#") and token.map:
            headings[token.map[0] + start] = (len(token.markup), tokens[i + 1].content)
        elif kind == "fence" and not quotes and token.map:
            first, end = token.map[0] + start, token.map[1] + start
            fenced.update(range(first, end))
            closing = lines[end - 1].strip() if end - 1 > first else ""
            if not (closing and set(closing) == {token.markup[0]} and len(closing) >= len(token.markup)):
                unclosed.append((first, token.markup[0] * 3))
                if end >= len(lines) - 1:
                    fenced.update(range(end, len(lines)))   # to the end, the last line break's empty line too
    return _Structure(headings, frozenset(fenced), tuple(unclosed))


def _parse_body(path: str, lines: list[str], start: int, problems: list[Problem]) -> tuple[list[Page], str, list[Question]]:
    pages: list[tuple[str, int, list[str]]] = []
    intro: list[str] = []
    quiz_line = 0
    quiz_intro: list[str] = []
    questions: list[_Q] = []
    in_quiz = False
    skipping = False  # inside a misplaced section after the quiz (already reported)
    structure = _structure(lines, start)

    def current_page_lines() -> list[str]:
        return pages[-1][2] if pages else intro

    for index in range(start, len(lines)):
        raw = lines[index]
        number = index + 1
        if index in structure.fenced:
            _append_text(raw, number, in_quiz, questions, quiz_intro, current_page_lines(), path, problems, fenced=True)
            continue
        heading = structure.headings.get(index)
        if heading:
            level, title = heading[0], _strip_anchor(heading[1])
            if level == 1 and not pages and not in_quiz and not any(ln.strip() for ln in intro):
                continue  # an optional "# Title" at the top; the front matter title is used
            if level == 2:
                if title.lower().rstrip(":") == "quiz":
                    if in_quiz:
                        problems.append(Problem(path, number, "error", "a second '## Quiz' section; a module has one quiz"))
                    in_quiz = True
                    quiz_line = number
                    continue
                if in_quiz:
                    problems.append(Problem(path, number, "error",
                                            f"'## {title}' comes after the quiz; the quiz must be the last section (move this page above '## Quiz')"))
                    skipping = True
                    continue
                if "quiz" in title.lower() or "question" in title.lower():
                    problems.append(Problem(path, number, "warning",
                                            f"'## {title}' is shown as a page; only a heading exactly '## Quiz' starts the quiz"))
                if not title:
                    problems.append(Problem(path, number, "error", "a page heading needs a title"))
                pages.append((title, number, []))
                continue
            if in_quiz:
                if level == 3:
                    skipping = False
                    if not title:
                        problems.append(Problem(path, number, "error", "a question heading needs the question text"))
                    questions.append(_Q(title, number))
                    continue
                problems.append(Problem(path, number, "error",
                                        f"inside the quiz use '### ' for each question; '{'#' * level} ' is not understood here"))
                continue
        if skipping:
            continue
        _append_text(raw, number, in_quiz, questions, quiz_intro, current_page_lines(), path, problems)

    for line, fence in structure.unclosed:
        problems.append(Problem(path, line + 1, "error", f"a code block opened with {fence} is never closed"))

    result_pages: list[Page] = []
    intro_text = _tidy(intro)
    if intro_text:
        result_pages.append(Page(1, "Introduction", intro_text, start + 1))
    for title, line, body in pages:
        text = _tidy(body)
        if not text:
            problems.append(Problem(path, line, "error", f"the page '{title}' is empty"))
            continue
        result_pages.append(Page(len(result_pages) + 1, title, text, line))
    if not result_pages:
        problems.append(Problem(path, start + 1, "error", "the module has no content: add pages, each starting with a '## ' heading"))

    if not in_quiz:
        problems.append(Problem(path, len(lines), "error", "the module has no quiz: add a '## Quiz' section at the end with '### ' questions"))
        return result_pages, "", []
    if not questions:
        problems.append(Problem(path, quiz_line, "error", "the quiz has no questions: start each with '### ' and list options as '- [x] right' / '- [ ] wrong'"))
    if len(questions) > MAX_QUESTIONS:
        problems.append(Problem(path, questions[MAX_QUESTIONS].line, "error", f"the quiz has {len(questions)} questions; Slack can show at most {MAX_QUESTIONS} in one window"))
    result_questions: list[Question] = []
    seen: dict[str, int] = {}
    for q in questions:
        checked = _check_question(path, q, problems)
        if checked is None:
            continue
        key = checked.text.lower()
        if key in seen:
            problems.append(Problem(path, q.line, "warning", f"the same question is asked on line {seen[key]}"))
        seen.setdefault(key, q.line)
        result_questions.append(Question(len(result_questions) + 1, checked.text, checked.body, checked.options,
                                         checked.multiple, checked.explanation, checked.line))
    return result_pages, _tidy(quiz_intro), result_questions


def _append_text(raw: str, number: int, in_quiz: bool, questions: list[_Q], quiz_intro: list[str],
                 page: list[str], path: str, problems: list[Problem], *, fenced: bool = False) -> None:
    if not in_quiz:
        page.append(raw)
        return
    if not questions:
        if not fenced and (_OPTION.match(raw) or _BAD_OPTION.match(raw)):
            problems.append(Problem(path, number, "error", "an answer option before the first question; start the question with '### '"))
            return
        quiz_intro.append(raw)
        return
    q = questions[-1]
    stripped = raw.strip()
    if fenced:
        if q.state == "stem":
            q.body.append(raw)
        else:
            problems.append(Problem(path, number, "error", "a code block after the options; put it in the question, above the options"))
        return
    if not stripped:
        if q.state == "stem":
            q.body.append("")
        elif q.state == "explanation":
            q.explanation.append("")
        return
    option = _OPTION.match(raw)
    if option:
        if q.state == "explanation":
            problems.append(Problem(path, number, "error",
                                    "an option after the explanation; list all options first, then the '> ' explanation"))
            return
        q.state = "options"
        q.options.append((option.group(3).strip(), option.group(2) in "xX", number))
        return
    bad = _BAD_OPTION.match(raw)
    if bad and q.state in ("stem", "options"):
        inner = bad.group(1)
        problems.append(Problem(path, number, "error",
                                f"'[{inner}]' is not an answer box: write '- [x] ' for a correct answer or '- [ ] ' (with a space) for a wrong one"))
        q.state = "options"
        q.malformed = True
        q.options.append((bad.group(2).strip() or "?", False, number))
        return
    if stripped.startswith(">"):
        if q.state == "stem":
            problems.append(Problem(path, number, "error", "the explanation ('> ...') comes after the options, not before them"))
            return
        q.state = "explanation"
        q.explanation.append(re.sub(r"^\s*>\s?", "", raw))
        return
    if q.state == "stem":
        q.body.append(raw)
        return
    if q.state == "options":
        if raw.startswith(("  ", "\t")) and q.options and not _BULLET.match(raw):
            text, correct, line = q.options[-1]
            q.options[-1] = (f"{text} {stripped}", correct, line)
            return
        if _BULLET.match(raw):
            problems.append(Problem(path, number, "error",
                                    "a list item without an answer box among the options; write '- [ ] ' or '- [x] ' (or put the list above the options)"))
        else:
            problems.append(Problem(path, number, "error",
                                    "text after the options; explanations start with '> ', and a new question with '### '"))
        return
    # after the explanation: a lazy continuation of the blockquote is not allowed; be explicit
    problems.append(Problem(path, number, "error",
                            "text after the explanation; continue the explanation with '> ' or start a new question with '### '"))


def _check_question(path: str, q: _Q, problems: list[Problem]) -> Question | None:
    errors_before = sum(1 for p in problems if p.severity == "error")
    multiple_marked = bool(MULTIPLE_MARK.search(q.text))
    text = MULTIPLE_MARK.sub(" ", q.text).strip()
    options = [Option(" ".join(t.split()), c) for t, c, _ in q.options]
    correct = sum(1 for o in options if o.correct)
    if len(options) < 2 and not q.malformed:
        problems.append(Problem(path, q.line, "error",
                                f"question '{_short(text)}' needs at least two options, each a line '- [ ] text' (wrong) or '- [x] text' (right)"))
    if options and correct == 0 and not q.malformed:
        problems.append(Problem(path, q.line, "error", f"question '{_short(text)}' has no correct answer: mark at least one option '- [x]'"))
    if len(options) > MAX_OPTIONS:
        problems.append(Problem(path, q.options[MAX_OPTIONS][2], "error", f"question '{_short(text)}' has {len(options)} options; Slack shows at most {MAX_OPTIONS}"))
    if options and correct == len(options) and len(options) > 1:
        problems.append(Problem(path, q.line, "warning", f"every option of '{_short(text)}' is marked correct"))
    texts = [o.text.lower() for o in options]
    for i, t in enumerate(texts):
        if t in texts[:i]:
            problems.append(Problem(path, q.options[i][2], "error", f"the option '{_short(options[i].text)}' appears twice in one question"))
    explanation = _tidy(q.explanation)
    if not explanation:
        problems.append(Problem(path, q.line, "error",
                                f"question '{_short(text)}' has no explanation: add a line starting with '> ' under the options"))
    if any(len(o.text) > SLACK_OPTION_TEXT for o in options):
        problems.append(Problem(path, q.line, "warning",
                                f"an option of '{_short(text)}' is longer than {SLACK_OPTION_TEXT} characters; its options are shown as a lettered list (A, B, ...)"))
    if sum(1 for p in problems if p.severity == "error") > errors_before:
        return None
    return Question(0, text, _tidy(q.body), tuple(options), multiple_marked or correct > 1, explanation, q.line)


def _short(text: str, limit: int = 50) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _closest(word: str, choices: dict[str, str]) -> str | None:
    from difflib import get_close_matches

    found = get_close_matches(word.lower().replace("-", "_").replace(" ", "_"), list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


# --------------------------------------------------------------------------------------
# versions

def _canonical(module: Module) -> dict[str, Any]:
    """What makes a version: the content and the rules for passing, not presentation details.

    Included: the front-matter version label, the pass mark, every page (title and text) and
    every question (text, options and which are correct, explanation). Not included: the
    title, summary, audience, estimated minutes, attempts and recurrence, which can be fixed
    without making anyone's completion out of date. Whitespace at line ends and runs of blank
    lines are normalised, so re-wrapping a file does not make a new version.
    """
    return {
        "version": module.version,
        "pass_mark": module.pass_mark,
        "pages": [[p.title, p.body] for p in module.pages],
        "quiz_intro": module.quiz_intro,
        "questions": [
            [q.text, q.body, q.multiple, [[o.text, o.correct] for o in q.options], q.explanation]
            for q in module.questions
        ],
    }


def content_hash(module: Module) -> str:
    data = json.dumps(_canonical(module), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def _with_hash(module: Module) -> Module:
    from dataclasses import replace

    return replace(module, content_hash=content_hash(module))
