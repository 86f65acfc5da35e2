"""The ``training:`` section of the configuration."""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path

from pydantic import Field, ValidationInfo, field_validator

from pacsbot.core.config import ChannelId, Section, resolve_paths

BUNDLED_MODULES = Path(__file__).resolve().parent / "modules"

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class TrainingSettings(Section):
    modules: list[Path] = Field(default_factory=list, description="Directories of the site's own modules.")
    include_bundled: bool = Field(default=True, description="Also offer the modules shipped with pacsbot.")
    default_due_days: int | None = Field(
        default=14, ge=1, le=365,
        description="Due date, in days from assignment, when the trainer gives none (null: no due date).",
    )
    remind_before_days: list[int] = Field(
        default_factory=lambda: [7, 1],
        description="Remind learners this many working days (working_days, in the site's time zone) before the "
                    "due date, one reminder per entry: 1 with a Monday due date is the Friday before.",
    )
    remind_overdue_every_days: int = Field(default=3, ge=1, le=90, description="Then every N days while overdue.")
    remind_overdue_max: int = Field(default=4, ge=0, le=50, description="At most this many overdue reminders.")
    working_hours: str = Field(default="08:00-17:00", description="Reminders are sent only between these local times.")
    working_days: list[str] = Field(
        default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"],
        description="...and only on these days (mon..sun), in the top-level time zone.",
    )
    renew_before_days: int = Field(
        default=30, ge=0, le=365,
        description="Recurring modules are assigned again this many days before a completion expires.",
    )
    notify_channel: ChannelId | None = Field(
        default=None,
        description="Channel id for trainer notices when no trainer can be told directly (renewals, CLI assignments).",
    )

    @field_validator("modules")
    @classmethod
    def _resolve(cls, values: list[Path], info: ValidationInfo) -> list[Path]:
        return resolve_paths(values, info)

    @field_validator("remind_before_days")
    @classmethod
    def _before(cls, values: list[int]) -> list[int]:
        for value in values:
            if not 1 <= value <= 365:
                raise ValueError(f"{value} is not between 1 and 365 days")
        if len(set(values)) != len(values):
            raise ValueError("each number of days may appear only once")
        return sorted(values, reverse=True)

    @field_validator("working_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        match = _HOURS.match(value)
        if not match:
            raise ValueError(f"{value!r} is not a span of local times like 08:00-17:00")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
            raise ValueError(f"{value!r} has an impossible time (use 00:00 to 24:00)")
        if (h1, m1) >= (h2, m2):
            raise ValueError(f"{value!r}: the start must be before the end (overnight spans are not supported)")
        return f"{h1:02d}:{m1:02d}-{h2:02d}:{m2:02d}"

    @field_validator("working_days")
    @classmethod
    def _days(cls, values: list[str]) -> list[str]:
        days = [v.strip().lower()[:3] for v in values]
        for original, day in zip(values, days):
            if day not in WEEKDAYS:
                raise ValueError(f"{original!r} is not a day; use mon, tue, wed, thu, fri, sat, sun")
        if not days:
            raise ValueError("at least one working day is needed, or reminders are never sent")
        return [d for d in WEEKDAYS if d in days]

    def module_dirs(self) -> list[Path]:
        return ([BUNDLED_MODULES] if self.include_bundled else []) + list(self.modules)

    def hours(self) -> tuple[time, time]:
        """The working hours as (start, end) local times; end may be 24:00 (returned as 23:59:59)."""
        start, end = self.working_hours.split("-")
        h1, m1 = (int(x) for x in start.split(":"))
        h2, m2 = (int(x) for x in end.split(":"))
        return time(h1, m1), (time(23, 59, 59) if h2 == 24 else time(h2, m2))

    def weekday_numbers(self) -> set[int]:
        return {WEEKDAYS.index(d) for d in self.working_days}
