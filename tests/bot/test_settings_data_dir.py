"""Where the data folder is when the configuration does not say: PACSBOT_DATA_DIR, else
systemd's STATE_DIRECTORY (StateDirectory= in deploy/pacsbot.service), else the user's data
folder (platformdirs), never the working directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from pacsbot.bot.settings import load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PACSBOT_DATA_DIR", raising=False)
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pacsbot.yml"
    path.write_text(text, encoding="utf-8")
    return path


def test_without_anything_the_data_folder_is_the_users_data_folder_not_the_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    assert load_settings().data_dir == tmp_path / "share" / "pacsbot"
    assert load_settings().database_url == f"sqlite:///{tmp_path / 'share' / 'pacsbot' / 'pacsbot.db'}"
    assert load_settings(write(tmp_path, "timezone: UTC\n")).data_dir == tmp_path / "share" / "pacsbot"


def test_systemd_state_directory_is_the_data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/pacsbot")
    assert load_settings().data_dir == Path("/var/lib/pacsbot")
    assert load_settings(write(tmp_path, "timezone: UTC\n")).data_dir == Path("/var/lib/pacsbot")
    assert load_settings().database_url == "sqlite:////var/lib/pacsbot/pacsbot.db"


def test_of_several_state_directories_the_first_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    # StateDirectory=pacsbot pacsbot-extra -> STATE_DIRECTORY=/var/lib/pacsbot:/var/lib/pacsbot-extra
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/pacsbot:/var/lib/pacsbot-extra")
    assert load_settings().data_dir == Path("/var/lib/pacsbot")


@pytest.mark.parametrize("value", ["", ":", "  "])
def test_an_empty_state_directory_is_ignored(value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    monkeypatch.setenv("STATE_DIRECTORY", value)
    assert load_settings().data_dir == tmp_path / "share" / "pacsbot"


def test_pacsbot_data_dir_wins_over_state_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/pacsbot")
    monkeypatch.setenv("PACSBOT_DATA_DIR", str(tmp_path / "data"))
    assert load_settings().data_dir == tmp_path / "data"


def test_data_dir_in_the_file_wins_over_both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/pacsbot")
    assert load_settings(write(tmp_path, "data_dir: state\n")).data_dir == tmp_path / "state"
    monkeypatch.setenv("PACSBOT_DATA_DIR", "/srv/elsewhere")
    assert load_settings(write(tmp_path, "data_dir: /srv/pacsbot\n")).data_dir == Path("/srv/pacsbot")


def test_an_override_wins_over_state_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/pacsbot")
    assert load_settings(overrides={"data_dir": str(tmp_path)}).data_dir == tmp_path
