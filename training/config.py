"""The ``training:`` section of the configuration."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationInfo, field_validator

from core.config import Section, resolve_paths

BUNDLED_MODULES = Path(__file__).resolve().parent / "modules"


class TrainingSettings(Section):
    modules: list[Path] = Field(default_factory=list, description="Directories of the site's own modules.")
    include_bundled: bool = Field(default=True, description="Also offer the modules shipped with pacsbot.")

    @field_validator("modules")
    @classmethod
    def _resolve(cls, values: list[Path], info: ValidationInfo) -> list[Path]:
        return resolve_paths(values, info)

    def module_dirs(self) -> list[Path]:
        return ([BUNDLED_MODULES] if self.include_bundled else []) + list(self.modules)
