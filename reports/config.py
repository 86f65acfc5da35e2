"""The ``reports:`` section of the configuration."""

from __future__ import annotations

from pydantic import Field, field_validator

from pacsbot.core.config import ChannelId, Section, TimeOfDay, hour_minute

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class WeeklySettings(Section):
    """The weekly report posted to the admin channel."""

    enabled: bool = Field(default=True, description="Post the weekly report by itself.")
    weekday: str = Field(default="mon", description="Day it is posted (mon..sun), about the week before.")
    at: TimeOfDay = Field(default="07:30", description="Local time (settings.timezone) it is posted, HH:MM.")
    channel: ChannelId | None = Field(default=None, description="Channel id; default tickets.admin_channel.")
    top_gaps: int = Field(default=5, ge=1, le=20, description="Manual sections shown for unanswered questions.")

    @field_validator("weekday", mode="before")
    @classmethod
    def _weekday(cls, value: object) -> object:
        text = value.strip().lower() if isinstance(value, str) else ""
        for short, full in zip(WEEKDAYS, _FULL_DAYS):
            if text in (short, full):
                return short
        raise ValueError(f"{value!r} is not a day of the week (mon, tue, wed, thu, fri, sat or sun)")

    @property
    def weekday_index(self) -> int:
        return WEEKDAYS.index(self.weekday)

    @property
    def hour_minute(self) -> tuple[int, int]:
        return hour_minute(self.at)


class ReportSettings(Section):
    site: str = Field(default="", max_length=80, description="Name shown in the chart's title, e.g. St Elsewhere Radiology.")
    weekly: WeeklySettings = Field(default_factory=WeeklySettings)
