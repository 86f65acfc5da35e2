"""Configuration: one YAML file plus the environment -> typed, validated settings.

The YAML file holds everything that is not a secret; secrets (Slack tokens, the signing
secret) come only from the environment. A bad file is reported as one clear message that
names the file, the line, the key and what is wrong (:class:`ConfigError`); the command
line turns it into exit status 2.

Each feature package owns the model of its own section (``commands.config``,
``knowledge.config``, ``training.config``, ``tickets.config``, ``reports.config``); this module composes them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from pacsbot.commands.config import DicomSettings
from pacsbot.core.config import GROUP_HANDLE_RE, GROUP_ID_RE, USER_ID_RE, Regex, Section, resolve_path
from pacsbot.knowledge.config import KnowledgeSettings
from pacsbot.reports.config import ReportSettings
from pacsbot.tickets.config import TicketSettings
from pacsbot.training.config import TrainingSettings

ENV_CONFIG = "PACSBOT_CONFIG"
ENV_DATA_DIR = "PACSBOT_DATA_DIR"
# systemd sets this from the unit's StateDirectory= (absolute paths, ':'-separated): the data
# folder when neither the file nor PACSBOT_DATA_DIR names one (deploy/pacsbot.service).
ENV_STATE_DIRECTORY = "STATE_DIRECTORY"



class ConfigError(Exception):
    """The configuration cannot be used; ``str(error)`` is the message for the operator."""


def _check_principal(value: str) -> str:
    value = value.strip()
    if USER_ID_RE.match(value) or GROUP_ID_RE.match(value) or GROUP_HANDLE_RE.match(value):
        return value
    raise ValueError(
        f"{value!r} is neither a Slack user id (like U0123ABC), a user group id (like "
        "S0123ABC) nor a user group handle (like @pacs-admins)"
    )


class DatabaseSettings(Section):
    url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default: a SQLite file in data_dir.",
    )
    pool_size: int = Field(default=10, ge=1, le=200)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError(f"{value!r} is not a database URL (e.g. postgresql://host/db)") from None
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError("only sqlite and postgresql databases are supported")
        return value


Principal = Annotated[str, AfterValidator(_check_principal)]
_AUDIENCE_WORD = re.compile(r"^[a-z][a-z0-9 _-]{0,39}$")


class RolesSettings(Section):
    admins: list[Principal] = Field(default_factory=list)
    trainers: list[Principal] = Field(default_factory=list)
    audiences: dict[str, list[Principal]] = Field(
        default_factory=dict,
        description="Who reads which manuals: audience word (as in a manual's `audience:` front matter) -> "
                    "Slack user ids, user group ids or handles, e.g. {radiologist: ['@radiologists']}. "
                    "Answers and downtime procedures are chosen for these words first.",
    )
    group_refresh_seconds: int = Field(default=300, ge=10, le=86400)

    @field_validator("audiences")
    @classmethod
    def _audiences(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for word, principals in value.items():
            key = " ".join(str(word).split()).lower()
            if not _AUDIENCE_WORD.match(key):
                raise ValueError(f"{word!r} is not an audience word (letters, digits, spaces or dashes, like technologist)")
            if key == "all":
                raise ValueError("'all' is everyone's audience already; name a group of readers instead")
            merged = out.setdefault(key, [])
            for principal in principals:
                if principal not in merged:
                    merged.append(principal)
        return out


class ServerSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=3000, ge=1, le=65535)
    workers: int = Field(default=2, ge=1, le=64)
    threads: int = Field(default=8, ge=1, le=256)
    background_threads: int = Field(default=4, ge=1, le=256)


class SlackSettings(Section):
    event_dedupe_hours: int = Field(default=24, ge=1, le=720)
    help_channel: str | None = Field(
        default=None,
        description="Where people are told to ask for help, e.g. #pacs-help (shown in messages).",
    )


class PrivacySettings(Section):
    """The outbound privacy gate (``bot.privacy_gate``): what is masked in channel posts."""

    identifier_patterns: list[Regex] = Field(
        default_factory=list,
        description="Regular expressions for this site's patient identifiers (MRN, hospital number), "
                    "masked wherever they appear, with or without a cue word.",
    )
    remember_hours: float = Field(
        default=24, ge=0, le=24 * 30,
        description="How long patient IDs and names returned by the DICOM nodes are remembered (as keyed hashes) "
                    "and masked in channel posts; 0 switches it off.",
    )
    mask_accession_in_channel: bool = Field(default=False, description="Hide accession numbers in channel posts too.")
    nudge: bool = Field(default=True, description="Tell people privately when they post patient data in a channel the bot reads.")


class LoggingSettings(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class Settings(Section):
    data_dir: Path = Field(default_factory=lambda: user_data_dir())
    timezone: str = "UTC"
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    roles: RolesSettings = Field(default_factory=RolesSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    slack: SlackSettings = Field(default_factory=SlackSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    dicom: DicomSettings = Field(default_factory=DicomSettings)
    knowledge: KnowledgeSettings = Field(default_factory=KnowledgeSettings)
    training: TrainingSettings = Field(default_factory=TrainingSettings)
    tickets: TicketSettings = Field(default_factory=TicketSettings)
    reports: ReportSettings = Field(default_factory=ReportSettings)

    @field_validator("data_dir")
    @classmethod
    def _data_dir(cls, value: Path, info: ValidationInfo) -> Path:
        return resolve_path(value, info)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone name (e.g. Europe/London, America/Chicago)") from None
        return value

    @model_validator(mode="after")
    def _reconcile_channels(self) -> "Settings":
        reconcile = self.dicom.reconcile
        if reconcile.enabled and self.tickets.admin_channel is None:
            for i, pair in enumerate(reconcile.pairs):
                if pair.channel is None:
                    raise ValueError(
                        f"dicom.reconcile.pairs[{i}].channel is not set and there is no tickets.admin_channel to post "
                        "the daily reconciliation to; set one of them (a channel id like C0123ABCD)"
                    )
        return self

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite:///{(self.data_dir / 'pacsbot.db').resolve()}"


@dataclass(frozen=True)
class Secrets:
    """Secrets and endpoints read from the environment, never from the config file."""

    bot_token: str | None
    app_token: str | None
    signing_secret: str | None
    api_url: str | None

    @classmethod
    def from_env(cls, environ: os._Environ[str] | dict[str, str] | None = None) -> "Secrets":
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        api_url = get("SLACK_API_URL")
        if api_url and not api_url.endswith("/"):
            api_url += "/"  # slack_sdk joins method names onto the base URL
        return cls(
            bot_token=get("SLACK_BOT_TOKEN"),
            app_token=get("SLACK_APP_TOKEN"),
            signing_secret=get("SLACK_SIGNING_SECRET"),
            api_url=api_url,
        )

    @property
    def socket_mode(self) -> bool:
        return self.app_token is not None

    def problems_for_serving(self) -> list[str]:
        """What is missing to connect to Slack, as operator-facing sentences."""
        problems = []
        if not self.bot_token:
            problems.append("SLACK_BOT_TOKEN is not set (the bot token, xoxb-...).")
        elif not self.bot_token.startswith("xoxb-"):
            problems.append("SLACK_BOT_TOKEN does not look like a bot token (it should start with xoxb-).")
        if self.app_token:
            if not self.app_token.startswith("xapp-"):
                problems.append("SLACK_APP_TOKEN does not look like an app-level token (it should start with xapp-).")
        elif not self.signing_secret:
            problems.append(
                "Neither SLACK_APP_TOKEN (Socket Mode) nor SLACK_SIGNING_SECRET (HTTP mode) is set."
            )
        return problems


# --------------------------------------------------------------------------------------
# loading

def config_path_from(cli_value: str | None, environ: dict[str, str] | None = None) -> Path | None:
    env = os.environ if environ is None else environ
    value = cli_value or env.get(ENV_CONFIG, "").strip() or None
    return Path(value) if value else None


def load_settings(path: Path | None = None, *, overrides: dict[str, Any] | None = None) -> Settings:
    """Read and validate the configuration file (or the embedded defaults when ``path`` is None).

    Raises :class:`ConfigError` with a message naming the file, line, key and problem.
    """
    data: dict[str, Any] = {}
    root_node = None
    base_dir: Path = Path.cwd()
    shown = str(path) if path else "(embedded defaults)"
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{path}: configuration file not found.") from None
        except IsADirectoryError:
            raise ConfigError(f"{path}: is a directory, not a configuration file.") from None
        except (PermissionError, UnicodeDecodeError, OSError) as exc:
            raise ConfigError(f"{path}: cannot read the configuration file ({exc}).") from None
        try:
            root_node = yaml.compose(text, Loader=yaml.SafeLoader)
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
            problem = getattr(exc, "problem", None) or str(exc)
            raise ConfigError(f"{where}: not valid YAML: {problem}.") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of keys (like 'database:'), not a {type(loaded).__name__}.")
        data = loaded
        base_dir = path.resolve().parent
    if "data_dir" not in data:
        data_dir = _data_dir_from_env(os.environ)
        if data_dir is not None:
            data = {**data, "data_dir": data_dir}
    if overrides:
        data = _deep_merge(data, overrides)
    try:
        return Settings.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise ConfigError(_format_errors(shown, exc, root_node)) from None


def user_data_dir() -> Path:
    """Where pacsbot keeps its files when nothing names a folder: the platform's user data
    folder (``~/.local/share/pacsbot`` on Linux, or under ``$XDG_DATA_HOME``), not whatever
    the working directory happens to be."""
    import platformdirs

    return Path(platformdirs.user_data_dir("pacsbot", appauthor=False))


def _data_dir_from_env(env: Mapping[str, str]) -> str | None:
    """The data folder the environment names, when the configuration file names none:
    ``PACSBOT_DATA_DIR``, else the first of systemd's ``STATE_DIRECTORY`` paths (a service
    with ``StateDirectory=pacsbot`` keeps its data in /var/lib/pacsbot, not in its user's
    home or under whatever its working directory is)."""
    if ENV_DATA_DIR in env:
        return env[ENV_DATA_DIR]
    return next((p for p in env.get(ENV_STATE_DIRECTORY, "").split(":") if p.strip()), None)


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _key_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _line_of(node: Any, loc: tuple[Any, ...]) -> int | None:
    """Line number (1-based) of the YAML node at ``loc``, or of its nearest existing parent."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            for key_node, value_node in node.value:
                if key_node.value == part:
                    node = value_node
                    line = key_node.start_mark.line + 1
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


_MESSAGES = {
    "extra_forbidden": "unknown key",
    "missing": "required key is missing",
}


def _format_errors(shown: str, exc: ValidationError, root_node: Any) -> str:
    lines = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        line = _line_of(root_node, loc)
        where = f"{shown}:{line}" if line else shown
        kind = err["type"]
        message = _MESSAGES.get(kind)
        if kind == "extra_forbidden":
            allowed = _allowed_keys(loc[:-1])
            if allowed:
                message = f"{message} (expected one of: {', '.join(allowed)})"
        elif message is None:
            message = err["msg"]
            if message.startswith("Value error, "):
                message = message[len("Value error, "):]  # our own sentence, kept as written
            elif message:
                message = message[0].lower() + message[1:]
            if kind not in ("value_error",) and "input" in err and not isinstance(err["input"], (dict, list)):
                message += f" (got {err['input']!r})"
        lines.append(f"{where}: {_key_path(loc)}: {message}")
    head = "Configuration error" if len(lines) == 1 else f"{len(lines)} configuration errors"
    return f"{head}:\n  " + "\n  ".join(lines)


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    model: Any = Settings
    for part in loc:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        annotation = field.annotation
        args = getattr(annotation, "__args__", None)
        if args and not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            annotation = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if annotation is None:
            return []
        model = annotation
    return sorted(getattr(model, "model_fields", {}).keys())
