"""Configuration: defaults, the stable keys, and one clear message per mistake."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pacsbot.bot.settings import ConfigError, Secrets, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pacsbot.yml"
    path.write_text(text)
    return path


def test_embedded_defaults_need_no_file() -> None:
    settings = load_settings(None)
    assert settings.database_url.startswith("sqlite:///") and settings.database_url.endswith("pacsbot.db")
    assert settings.roles.admins == [] and settings.dicom.ae_title == "PACSBOT"
    assert settings.knowledge.include_bundled and settings.training.include_bundled


def test_the_stable_keys(tmp_path: Path) -> None:
    path = write(tmp_path, """
database:
  url: postgresql://pacsbot@db.hospital.org/pacsbot
roles:
  admins: [U0123ABC, "@pacs-admins"]
  trainers: [S0TRAIN01]
dicom:
  ae_title: PACSBOT
  nodes:
    - {name: pacs, ae_title: PACS_MAIN, host: 10.0.0.5, port: 104, kind: pacs}
knowledge:
  manuals: [site-manuals]
training:
  modules: [/srv/training]
tickets:
  default_queue: C0PACSQUE
""")
    s = load_settings(path)
    assert s.database_url == "postgresql://pacsbot@db.hospital.org/pacsbot"
    assert s.roles.admins == ["U0123ABC", "@pacs-admins"] and s.roles.trainers == ["S0TRAIN01"]
    assert s.dicom.nodes[0].name == "pacs" and s.dicom.nodes[0].port == 104
    assert s.knowledge.manuals == [tmp_path / "site-manuals"]  # relative to the config file
    assert s.knowledge.manual_dirs()[-1] == tmp_path / "site-manuals"
    assert s.training.modules == [Path("/srv/training")]
    assert s.tickets.default_queue == "C0PACSQUE"


def test_data_dir_is_relative_to_the_config_file(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, "data_dir: state\n"))
    assert s.database_url == f"sqlite:///{(tmp_path / 'state' / 'pacsbot.db').resolve()}"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("databse:\n  url: x\n", "pacsbot.yml:1: databse: unknown key (expected one of: data_dir, database,"),
        ("roles:\n  admins: [U0123ABC]\n  trainer: [U0456DEF]\n", "pacsbot.yml:3: roles.trainer: unknown key (expected one of: admins, audiences, group_refresh_seconds, trainers)"),
        ("dicom:\n  nodes:\n    - name: pacs\n      ae_title: PACS\n      host: h\n      port: abc\n", "pacsbot.yml:6: dicom.nodes[0].port: input should be a valid integer"),
        ("dicom:\n  nodes:\n    - name: pacs\n      ae_title: PACS\n      host: h\n      port: 70000\n", "dicom.nodes[0].port: input should be less than or equal to 65535"),
        ("dicom:\n  nodes:\n    - name: pacs\n      host: h\n      port: 104\n", "pacsbot.yml:3: dicom.nodes[0].ae_title: required key is missing"),
        ("dicom:\n  ae_title: THIS_TITLE_IS_FAR_TOO_LONG\n", "pacsbot.yml:2: dicom.ae_title: AE title 'THIS_TITLE_IS_FAR_TOO_LONG' is 26 characters long; DICOM allows at most 16"),
        ("roles:\n  admins: [alice]\n", "roles.admins[0]: 'alice' is neither a Slack user id"),
        ("tickets:\n  default_queue: pacs-queue\n", "tickets.default_queue: 'pacs-queue' is not a Slack channel id"),
        ("database:\n  url: mysql://x/y\n", "database.url: only sqlite and postgresql databases are supported"),
        ("timezone: Mars/Olympus\n", "timezone: 'Mars/Olympus' is not a time zone name"),
        ("roles: [U0123ABC]\n", "pacsbot.yml:1: roles: input should be a valid dictionary"),
    ],
)
def test_bad_config_names_file_line_key_and_problem(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text))
    assert expected in str(info.value), str(info.value)


def test_duplicate_node_names_are_refused(tmp_path: Path) -> None:
    text = "dicom:\n  nodes:\n    - {name: pacs, ae_title: A, host: h, port: 1}\n    - {name: PACS, ae_title: B, host: h, port: 2}\n"
    with pytest.raises(ConfigError, match="two nodes are named 'pacs'"):
        load_settings(write(tmp_path, text))


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, "roles:\n  admins: [U0123ABC\n  trainers: []\n"))
    assert "pacsbot.yml:" in str(info.value) and "not valid YAML" in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_settings(tmp_path / "nope.yml")


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_settings(write(tmp_path, "- a\n- b\n"))


def test_empty_file_means_defaults(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, "# nothing yet\n")).server.port == 3000


def test_several_errors_are_all_listed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, "server:\n  port: 0\n  workers: many\n"))
    message = str(info.value)
    assert message.startswith("2 configuration errors")
    assert "server.port" in message and "server.workers" in message


def test_secrets_come_only_from_the_environment() -> None:
    secrets = Secrets.from_env({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "SLACK_API_URL": "http://127.0.0.1:9/api"})
    assert secrets.api_url == "http://127.0.0.1:9/api/"  # slack_sdk needs the trailing slash
    assert not secrets.socket_mode and secrets.problems_for_serving() == []
    socket = Secrets.from_env({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"})
    assert socket.socket_mode and socket.problems_for_serving() == []
    assert "SLACK_BOT_TOKEN is not set" in Secrets.from_env({}).problems_for_serving()[0]
    assert "should start with xoxb-" in Secrets.from_env({"SLACK_BOT_TOKEN": "xoxp-user"}).problems_for_serving()[0]


def test_the_example_config_is_valid_and_documents_every_key() -> None:
    example = Path(__file__).resolve().parents[2] / "pacsbot.example.yml"
    settings = load_settings(example)
    text = example.read_text()

    def keys(model: object, prefix: str = "") -> list[str]:
        out = []
        for name in type(model).model_fields:
            value = getattr(model, name)
            out.append(prefix + name)
            if hasattr(type(value), "model_fields"):
                out.extend(keys(value, prefix + name + "."))
        return out

    for key in keys(settings):
        leaf = key.rsplit(".", 1)[-1]
        assert f"{leaf}:" in text, f"pacsbot.example.yml does not document {key}"


def test_bad_config_exits_2_without_a_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, "serverr: {}\n")
    result = subprocess.run([sys.executable, "-m", "pacsbot.bot", "--config", str(path), "db", "current"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "pacsbot.yml:1: serverr: unknown key" in result.stderr
    assert "Traceback" not in result.stderr


def test_audiences_are_words_mapped_to_principals(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, "roles:\n  audiences:\n    Technologist: ['@ct-techs', U0TECH001]\n    radiologist: [S0RESIDNT]\n"))
    assert s.roles.audiences == {"technologist": ["@ct-techs", "U0TECH001"], "radiologist": ["S0RESIDNT"]}
    with pytest.raises(ConfigError, match="'bob' is neither a Slack user id"):
        load_settings(write(tmp_path, "roles:\n  audiences:\n    radiologist: [bob]\n"))
    with pytest.raises(ConfigError, match="'all' is everyone's audience already"):
        load_settings(write(tmp_path, "roles:\n  audiences:\n    all: [U0TECH001]\n"))
