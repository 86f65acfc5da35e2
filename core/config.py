"""Base pieces for the typed configuration sections that features own."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, overload

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationInfo

# Slack ids and handles as settings and commands take them.
CHANNEL_ID_RE = re.compile(r"^[CG][A-Z0-9]{2,20}$")
USER_ID_RE = re.compile(r"^[UW][A-Z0-9]{2,20}$")
GROUP_ID_RE = re.compile(r"^S[A-Z0-9]{2,20}$")
GROUP_HANDLE_RE = re.compile(r"^@[a-z0-9][a-z0-9._-]{0,79}$")
_HH_MM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def check_channel_id(value: str | None) -> str | None:
    """A Slack channel id (C… or G…), as every ``channel`` setting takes; None stays None."""
    if value is None:
        return None
    value = value.strip()
    if not CHANNEL_ID_RE.match(value):
        raise ValueError(f"{value!r} is not a Slack channel id (like C0123ABC; find it in the channel's details)")
    return value


def check_time_of_day(value: object) -> str:
    """``"06:30"`` → ``"06:30"``. YAML 1.1 reads an unquoted 06:30 as 390 (minutes,
    sexagesimal): that is taken as meant rather than refused."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        value = f"{value // 60:02d}:{value % 60:02d}"
    match = _HH_MM.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{value!r} is not a time of day; write it as HH:MM in quotes, e.g. \"06:30\"")
    return f"{int(match.group(1)):02d}:{match.group(2)}"


def check_regex(value: str) -> str:
    """A regular expression as a setting takes it: it must compile."""
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"{value!r} is not a valid regular expression ({exc})") from None
    return value


# Field types for sections: ``at: TimeOfDay = "06:30"``, ``channel: ChannelId | None = None``,
# ``patterns: list[Regex]``.
TimeOfDay = Annotated[str, BeforeValidator(check_time_of_day)]
ChannelId = Annotated[str, AfterValidator(check_channel_id)]
Regex = Annotated[str, AfterValidator(check_regex)]


def hour_minute(time_of_day: str) -> tuple[int, int]:
    """``"06:30"`` (a checked :data:`TimeOfDay`) -> ``(6, 30)``."""
    hours, minutes = time_of_day.split(":")
    return int(hours), int(minutes)


class Section(BaseModel):
    """A configuration section: unknown keys are errors, values are immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def resolve_paths(values: list[Path], info: ValidationInfo) -> list[Path]:
    """Make relative paths relative to the configuration file's directory."""
    base = (info.context or {}).get("base_dir")
    return [(Path(base) / v) if base and not v.is_absolute() else v for v in values]


@overload
def resolve_path(value: Path, info: ValidationInfo) -> Path: ...
@overload
def resolve_path(value: Path | None, info: ValidationInfo) -> Path | None: ...
def resolve_path(value: Path | None, info: ValidationInfo) -> Path | None:
    if value is None:
        return None
    return resolve_paths([value], info)[0]
