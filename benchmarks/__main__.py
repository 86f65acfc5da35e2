"""Run benchmarks by name; each module has ``main(argv) -> int`` and prints a table.

    python3 dev.py bench                      every benchmark
    python3 dev.py bench http_acks --seconds 3   one benchmark, with its own options
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def available() -> list[str]:
    here = Path(__file__).resolve().parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_") and m.name not in ("loadgen",))


def main(argv: list[str]) -> int:
    names = [a for a in argv if a in available()] or available()
    unknown = [a for a in argv if not a.startswith("-") and a not in available() and not _is_value(argv, a)]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available())}", file=sys.stderr)
        return 2
    options = [a for a in argv if a not in names]
    status = 0
    for name in names:
        print(f"\n### benchmark: {name}\n", flush=True)
        module = importlib.import_module(f"benchmarks.{name}")
        status |= int(module.main(options) or 0)
    return status


def _is_value(argv: list[str], arg: str) -> bool:
    """True when ``arg`` is the value of the option before it (``--seconds 3``)."""
    i = argv.index(arg)
    return i > 0 and argv[i - 1].startswith("--") and "=" not in argv[i - 1]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
