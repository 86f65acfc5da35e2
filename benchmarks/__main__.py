"""Run benchmarks by name; each module has ``main(argv) -> int`` and prints a table."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def available() -> list[str]:
    here = Path(__file__).resolve().parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_") and m.name not in ("loadgen",))


def main(argv: list[str]) -> int:
    names = [a for a in argv if not a.startswith("-")] or available()
    unknown = [n for n in names if n not in available()]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available())}", file=sys.stderr)
        return 2
    status = 0
    for name in names:
        print(f"\n### benchmark: {name}\n", flush=True)
        module = importlib.import_module(f"benchmarks.{name}")
        status |= int(module.main([a for a in argv if a.startswith("-")]) or 0)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
