"""All modules from the configured directories: parsed, checked, de-duplicated, reloadable.

Directories are read in order (the bundled modules first, then the site's). A site module
with the id of a bundled one replaces it (so a site can adapt a bundled module and keep its
history); two modules with one id in the site's own directories are an error, and the later
file is skipped. A file with errors is reported and skipped; the others are offered.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from pacsbot.training.config import BUNDLED_MODULES
from pacsbot.training.content import Module, Problem, parse_module
from pacsbot.training.manuals import MANUAL_LINK, ManualIndex, rewrite_links

log = logging.getLogger(__name__)


@dataclass
class Catalog:
    modules: dict[str, Module] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    files: int = 0
    skipped: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    def get(self, module_id: str) -> Module | None:
        return self.modules.get(module_id.strip().lower())

    def sorted(self) -> list[Module]:
        return sorted(self.modules.values(), key=lambda m: m.title.lower())

    def suggest(self, word: str) -> str | None:
        from difflib import get_close_matches

        found = get_close_matches(word.lower(), list(self.modules), n=1, cutoff=0.5)
        return found[0] if found else None


def module_files(dirs: list[Path]) -> list[Path]:
    files: list[Path] = []
    for base in dirs:
        if base.is_dir():
            files.extend(sorted(p for p in base.rglob("*.md") if not p.name.startswith((".", "_")) and p.name.lower() != "readme.md"))
        elif base.is_file() and base.suffix == ".md":
            files.append(base)
    return files


def load_catalog(dirs: list[Path], *, manual_dirs: list[Path] | None = None, base_url: str | None = None) -> Catalog:
    """Parse every module file under ``dirs``. Never raises for bad content."""
    catalog = Catalog()
    index = ManualIndex(manual_dirs or [])
    origin: dict[str, Path] = {}
    for base in dirs:
        if not base.exists():
            catalog.problems.append(Problem(str(base), 1, "error", "this modules directory does not exist"))
    for path in module_files(dirs):
        catalog.files += 1
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            catalog.problems.append(Problem(str(path), 1, "error", f"cannot read the file ({type(exc).__name__})"))
            catalog.skipped.append(str(path))
            continue
        module, problems = parse_module(path, text)
        catalog.problems.extend(problems)
        catalog.problems.extend(_link_problems(path, text, index))
        if module is None:
            catalog.skipped.append(str(path))
            continue
        module = _with_links(module, index, base_url)
        previous = origin.get(module.id)
        if previous is not None:
            if _is_bundled(previous) and not _is_bundled(path):
                catalog.problems.append(Problem(str(path), 1, "warning",
                                                f"replaces the bundled module {module.id!r} ({previous.name})"))
            else:
                catalog.problems.append(Problem(str(path), 1, "error",
                                                f"duplicate id {module.id!r}: already used by {previous}; this file is skipped"))
                catalog.skipped.append(str(path))
                continue
        origin[module.id] = path
        catalog.modules[module.id] = module
    return catalog


def _is_bundled(path: Path) -> bool:
    try:
        path.resolve().relative_to(BUNDLED_MODULES)
        return True
    except ValueError:
        return False


def _link_problems(path: Path, text: str, index: ManualIndex) -> list[Problem]:
    problems = []
    for number, line in enumerate(text.splitlines(), start=1):
        for match in MANUAL_LINK.finditer(line):
            _, why = index.resolve(match.group(2), match.group(3))
            if why:
                problems.append(Problem(str(path), number, "warning", why))
    return problems


def _with_links(module: Module, index: ManualIndex, base_url: str | None) -> Module:
    """Rewrite ``manual:`` links for display. The content hash stays that of the file."""
    pages = tuple(replace(p, body=rewrite_links(p.body, index, base_url)[0]) for p in module.pages)
    questions = tuple(
        replace(q, body=rewrite_links(q.body, index, base_url)[0], explanation=rewrite_links(q.explanation, index, base_url)[0])
        for q in module.questions
    )
    return replace(module, pages=pages, questions=questions)


class CatalogCache:
    """The current catalog, re-read when a module file changes (checked at most every few seconds)."""

    def __init__(self, dirs: list[Path], *, manual_dirs: list[Path] | None = None, base_url: str | None = None,
                 check_seconds: float = 10.0):
        self.dirs = list(dirs)
        self.manual_dirs = list(manual_dirs or [])
        self.base_url = base_url
        self.check_seconds = check_seconds
        self._lock = threading.Lock()
        self._catalog: Catalog | None = None
        self._signature: tuple[tuple[str, float, int], ...] = ()
        self._checked = 0.0

    def _signature_now(self) -> tuple[tuple[str, float, int], ...]:
        sig = []
        for path in module_files(self.dirs):
            try:
                st = path.stat()
            except OSError:
                continue
            sig.append((str(path), st.st_mtime, st.st_size))
        return tuple(sig)

    def get(self, *, force: bool = False) -> Catalog:
        """The catalog; re-read if files changed. A failed re-read keeps the previous catalog."""
        now = time.monotonic()
        with self._lock:
            if self._catalog is not None and not force and now - self._checked < self.check_seconds:
                return self._catalog
            self._checked = now
            signature = self._signature_now()
            if self._catalog is not None and not force and signature == self._signature:
                return self._catalog
            try:
                catalog = load_catalog(self.dirs, manual_dirs=self.manual_dirs, base_url=self.base_url)
            except Exception:  # noqa: BLE001 - a broken file must never take the bot down
                log.exception("training: reading the modules failed; keeping the previous catalog")
                if self._catalog is None:
                    self._catalog = Catalog()
                return self._catalog
            self._catalog = catalog
            self._signature = signature
            log.info("training: %d modules loaded from %d files (%d with errors)",
                     len(catalog.modules), catalog.files, len(catalog.skipped))
            for problem in catalog.errors:
                log.warning("training: %s", problem)
        return catalog

    def peek(self) -> Catalog:
        """The catalog as last loaded, without touching the disk (for fast, inline handlers)."""
        with self._lock:
            if self._catalog is not None:
                return self._catalog
        return self.get()
