"""The installed package: everything under one name (pacsbot.bot, pacsbot.commands, ...), the
manuals, training modules and migrations inside it, and a bot that runs from the wheel alone.

The folders stay at the top of the repository (bot/, commands/, ...); pyproject.toml maps them
under ``pacsbot`` so that nothing generic (``bot``, ``core``, ``commands``) lands in
site-packages, where it would collide with another distribution's folders.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("bot", "core", "commands", "knowledge", "training", "tickets", "reports")


def source_files() -> set[str]:
    return {str(p.relative_to(ROOT)) for folder in FOLDERS for p in (ROOT / folder).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}


def test_the_package_list_names_every_folder() -> None:
    """A folder missing from the list would be left out of the wheel (manuals too), silently."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {str(Path(f).parent).replace("/", ".") for f in source_files()}
    folders |= {".".join(f.split(".")[:i]) for f in folders for i in range(1, f.count(".") + 1)}
    assert sorted(setuptools["packages"]) == sorted(f"pacsbot.{f}" for f in folders)
    assert setuptools["package-dir"] == {f"pacsbot.{f}": f for f in FOLDERS}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built from a copy of what the wheel is made of: setuptools keeps a build/ folder next to
    # pyproject.toml, and a file deleted from the source would live on there, in the next wheel.
    out, src = tmp_path_factory.mktemp("wheel"), tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for folder in FOLDERS:
        shutil.copytree(ROOT / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(src)],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    [path] = out.glob("pacsbot-*.whl")
    return path


@pytest.mark.slow
def test_the_wheel_holds_every_source_file_under_pacsbot_and_nothing_else(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    dist_info = [n for n in names if n.split("/")[0].endswith(".dist-info")]
    assert {n.split("/")[0] for n in names} - {dist_info[0].split("/")[0]} == {"pacsbot"}
    assert {n.removeprefix("pacsbot/") for n in names if n.startswith("pacsbot/")} == source_files()
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in dist_info if n.endswith("entry_points.txt"))).decode()
    assert "pacsbot = pacsbot.bot.cli:main" in entry_points


@pytest.mark.slow
def test_the_bot_runs_from_the_wheel_alone(wheel: Path, tmp_path: Path) -> None:
    """A fresh environment with the wheel unpacked into it (its dependencies borrowed from this
    one, without this checkout's editable install): the console answers from the bundled
    manuals, lists the bundled modules and migrates its database; the folders' bare names are
    not importable."""
    env = tmp_path / "env"
    venv.EnvBuilder(with_pip=False).create(env)
    python = env / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # a path line only: the .pth files in there (the editable install's) are not read
    (site / "borrowed.pth").write_text(sysconfig.get_path("purelib") + "\n")
    zipfile.ZipFile(wheel).extractall(site)
    (tmp_path / "pacsbot.yml").write_text(f"database:\n  url: sqlite:///{tmp_path}/bot.db\ndata_dir: {tmp_path}/data\n")
    run = subprocess.run(
        [str(python), "-m", "pacsbot.bot", "--config", str(tmp_path / "pacsbot.yml"), "console", "--as", "alex.admin",
         "--say", "/pacs ask how do I hang a prior for comparison", "--say", "/pacs training modules"],
        cwd=tmp_path, capture_output=True, text=True, timeout=180,
    )
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert "prior" in run.stdout.lower() and "hipaa" in run.stdout.lower(), run.stdout
    for bare in FOLDERS:
        probe = subprocess.run([str(python), "-c", f"import {bare}"], cwd=tmp_path, capture_output=True, text=True)
        assert probe.returncode != 0 and "ModuleNotFoundError" in probe.stderr, bare
    loaded = subprocess.run([str(python), "-c", "import pacsbot.bot.cli as m; print(m.__file__)"], cwd=tmp_path,
                            capture_output=True, text=True, check=True).stdout
    assert loaded.startswith(str(site))
