"""The ``knowledge:`` section of the configuration."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from pacsbot.core.config import Section, resolve_path, resolve_paths

BUNDLED_MANUALS = Path(__file__).resolve().parent / "manuals"

_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,20}$")


class KnowledgeSettings(Section):
    manuals: list[Path] = Field(default_factory=list, description="Directories of the site's own manuals.")
    include_bundled: bool = Field(default=True, description="Also search the manuals shipped with pacsbot.")
    base_url: str | None = Field(default=None, description="Where `pacsbot kb html` output is published.")
    answer_channels: list[str] = Field(
        default_factory=list,
        description="Channel ids where the bot answers questions people ask without mentioning it.",
    )
    min_confidence: float | None = Field(default=None, ge=0.0, le=1.0,
                                         description="From this confidence (0-1, calibrated on your own manuals when they "
                                                     "are indexed) the bot answers with the best section. Default: 0.6 by "
                                                     "words alone, 0.8 with the semantic re-ranker.")
    choices_confidence: float | None = Field(
        default=None, ge=0.0, le=1.0,
        description="From this confidence up to min_confidence the bot asks \"Is it one of these?\" with the three best "
                    "sections; below it, it says it doesn't know. Default: 0.25 by words alone, 0.35 with the semantic "
                    "re-ranker.")
    answer_chars: int = Field(default=1200, ge=200, le=2800, description="How much of a section an answer shows.")
    review_max_age_days: int = Field(default=365, ge=1, le=3650,
                                     description="`kb check` flags manuals reviewed longer ago than this.")
    reload_seconds: int = Field(default=10, ge=0, le=86400,
                                description="How often to look for changed manual files; 0 turns it off.")
    synonyms_file: Path | None = Field(default=None, description="Your own synonyms file (default: the bundled one).")
    semantic: Literal["auto", "on", "off"] = Field(
        default="auto",
        description="The semantic re-ranker (finds sections by meaning, not only by words; needs the `semantic` "
                    "extra). auto: on when it is installed; on: refuse to start without it; off: words only.")

    @field_validator("semantic", mode="before")
    @classmethod
    def _yaml_on_off(cls, value: object) -> object:
        # YAML reads a bare on / off (and yes / no) as true / false
        return {True: "on", False: "off"}.get(value, value) if isinstance(value, bool) else value

    @field_validator("manuals")
    @classmethod
    def _resolve(cls, values: list[Path], info: ValidationInfo) -> list[Path]:
        return resolve_paths(values, info)

    @field_validator("synonyms_file")
    @classmethod
    def _resolve_one(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return resolve_path(value, info)

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not a web address (it should start with https://)")
        return value if value.endswith("/") else value + "/"

    @field_validator("answer_channels")
    @classmethod
    def _channels(cls, values: list[str]) -> list[str]:
        for value in values:
            if not _CHANNEL_ID.match(value.strip()):
                raise ValueError(f"{value!r} is not a channel id (like C0123ABC, from the channel's details)")
        return [v.strip() for v in values]

    def semantic_enabled(self) -> bool:
        """Whether to use the semantic re-ranker (``on`` without the extra fails validation)."""
        if self.semantic == "off":
            return False
        from pacsbot.knowledge import semantic

        return semantic.available()

    def ranking(self):  # -> knowledge.search.Ranking (imported late: config loads before the index code)
        from pacsbot.knowledge.search import Ranking

        ranking = Ranking.default(semantic=self.semantic_enabled())
        if self.min_confidence is not None:
            ranking = dataclasses.replace(ranking, min_confidence=self.min_confidence)
        if self.choices_confidence is not None:
            ranking = dataclasses.replace(ranking, choices_confidence=self.choices_confidence)
        if ranking.choices_confidence > ranking.min_confidence:  # one set, the other the default
            ranking = dataclasses.replace(ranking, choices_confidence=ranking.min_confidence)
        return ranking

    def manual_dirs(self) -> list[Path]:
        return ([BUNDLED_MANUALS] if self.include_bundled else []) + list(self.manuals)

    @model_validator(mode="after")
    def _semantic_installed(self) -> "KnowledgeSettings":
        if self.semantic == "on":
            from pacsbot.knowledge import semantic

            if not semantic.available():
                raise ValueError("knowledge.semantic is 'on' but the semantic re-ranker is not installed: "
                                 f"{semantic.INSTALL_HINT} (or set it to 'auto')")
        return self

    @model_validator(mode="after")
    def _thresholds(self) -> "KnowledgeSettings":
        if (self.min_confidence is not None and self.choices_confidence is not None
                and self.choices_confidence > self.min_confidence):
            raise ValueError(f"knowledge.choices_confidence ({self.choices_confidence}) must not be above "
                             f"knowledge.min_confidence ({self.min_confidence})")
        return self
