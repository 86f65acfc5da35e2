"""Base pieces for the typed configuration sections that features own."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationInfo


class Section(BaseModel):
    """A configuration section: unknown keys are errors, values are immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def resolve_paths(values: list[Path], info: ValidationInfo) -> list[Path]:
    """Make relative paths relative to the configuration file's directory."""
    base = (info.context or {}).get("base_dir")
    return [(Path(base) / v) if base and not v.is_absolute() else v for v in values]


def resolve_path(value: Path | None, info: ValidationInfo) -> Path | None:
    if value is None:
        return None
    return resolve_paths([value], info)[0]
