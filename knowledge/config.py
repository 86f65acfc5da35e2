"""The ``knowledge:`` section of the configuration."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationInfo, field_validator

from core.config import Section, resolve_paths

BUNDLED_MANUALS = Path(__file__).resolve().parent / "manuals"


class KnowledgeSettings(Section):
    manuals: list[Path] = Field(default_factory=list, description="Directories of the site's own manuals.")
    include_bundled: bool = Field(default=True, description="Also search the manuals shipped with pacsbot.")
    base_url: str | None = Field(default=None, description="Where `pacsbot kb html` output is published.")

    @field_validator("manuals")
    @classmethod
    def _resolve(cls, values: list[Path], info: ValidationInfo) -> list[Path]:
        return resolve_paths(values, info)

    def manual_dirs(self) -> list[Path]:
        return ([BUNDLED_MANUALS] if self.include_bundled else []) + list(self.manuals)
