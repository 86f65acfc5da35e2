"""The house rules of the import graph (docs/developer-guide.md, "What may import what"):
feature packages know nothing of Slack or of bot/, core knows no feature, and no import
circle exists, not even through an import inside a function."""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "core", "commands", "knowledge", "training", "tickets", "reports")
FEATURE_PACKAGES = ("commands", "knowledge", "training", "tickets", "reports")
SLACK = ("slack_bolt", "slack_sdk")
SKIP = {"build", "data", "node_modules", "__pycache__", "venv"}  # and every .hidden folder (.venv, .git)


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            found[".".join(("pacsbot", *parts))] = path
    return found


def package_of(module: str) -> str:
    """``pacsbot.bot.features.x`` -> ``bot``; anything outside pacsbot -> its top-level name."""
    parts = module.split(".")
    return parts[1] if parts[0] == "pacsbot" and len(parts) > 1 else parts[0]


MODULES = modules()


def imports(path: Path, name: str, *, type_checking: bool = True) -> Iterator[tuple[str, int, bool]]:
    """``(imported module, line, inside a function)`` for every import in ``path``."""
    tree = ast.parse(path.read_text())

    def visit(node: ast.AST, in_function: bool) -> Iterator[tuple[str, int, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test) and not type_checking:
                continue
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield alias.name, child.lineno, in_function
            elif isinstance(child, ast.ImportFrom) and child.module:
                base = child.module
                if child.level:
                    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                    base = ".".join(package[: len(package) - child.level + 1] + [child.module])
                for alias in child.names:
                    full = f"{base}.{alias.name}"
                    yield (full if full in MODULES else base), child.lineno, in_function
            yield from visit(child, nested)

    yield from visit(tree, False)


def test_feature_packages_import_neither_slack_nor_bot() -> None:
    wrong = [f"{name}:{line} imports {target}"
             for name, path in MODULES.items() if package_of(name) in FEATURE_PACKAGES + ("core",)
             for target, line, _ in imports(path, name)
             if package_of(target) in (*SLACK, "bot")]
    assert wrong == []


def test_core_imports_no_feature_package() -> None:
    wrong = [f"{name}:{line} imports {target}"
             for name, path in MODULES.items() if package_of(name) == "core"
             for target, line, _ in imports(path, name)
             if package_of(target) in FEATURE_PACKAGES]
    assert wrong == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            connect(v)
    return found


def test_no_import_circles_even_through_imports_inside_functions() -> None:
    graph = {name: {target for target, _, _ in imports(path, name, type_checking=False) if target in MODULES and target != name}
             for name, path in MODULES.items()}
    assert _cycles(graph) == []


def python_files() -> Iterator[Path]:
    """Every .py file of the repository: source, tests, benchmarks, dev.py (not .venv, .git, data)."""
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in SKIP]
        yield from (Path(folder, f) for f in files if f.endswith(".py"))


def test_everything_imports_the_installed_names_never_the_bare_folders() -> None:
    """The folders are installed as pacsbot.bot, pacsbot.commands, ...; ``import bot`` would work
    from the repository's root only, and would load a second copy of the module beside it."""
    wrong = [f"{path.relative_to(ROOT)}:{line} imports {target}"
             for path in python_files()
             for target, line, _ in imports(path, "__main__")
             if target.split(".")[0] in PACKAGES]
    assert wrong == []
