"""The ``reports:`` section of the configuration."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from core.config import Section

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_CHANNEL_RE = re.compile(r"^[CG][A-Z0-9]{2,20}$")


class WeeklySettings(Section):
    """The weekly report posted to the admin channel."""

    enabled: bool = Field(default=True, description="Post the weekly report by itself.")
    weekday: str = Field(default="mon", description="Day it is posted (mon..sun), about the week before.")
    at: str = Field(default="07:30", description="Local time (settings.timezone) it is posted, HH:MM.")
    channel: str | None = Field(default=None, description="Channel id; default tickets.admin_channel.")
    top_gaps: int = Field(default=5, ge=1, le=20, description="Manual sections shown for unanswered questions.")

    @field_validator("weekday", mode="before")
    @classmethod
    def _weekday(cls, value: object) -> object:
        text = value.strip().lower() if isinstance(value, str) else ""
        for short, full in zip(WEEKDAYS, _FULL_DAYS):
            if text in (short, full):
                return short
        raise ValueError(f"{value!r} is not a day of the week (mon, tue, wed, thu, fri, sat or sun)")

    @field_validator("at", mode="before")
    @classmethod
    def _at(cls, value: object) -> object:
        text = str(value).strip() if isinstance(value, (str, int)) else value
        if isinstance(text, str):
            match = re.fullmatch(r"(\d{1,2}):(\d{2})", text)
            if match and int(match.group(1)) < 24 and int(match.group(2)) < 60:
                return f"{int(match.group(1)):02d}:{match.group(2)}"
        raise ValueError(f"{value!r} is not a time of day; write it HH:MM in quotes, like \"07:30\"")

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not _CHANNEL_RE.match(value):
            raise ValueError(f"{value!r} is not a Slack channel id (like C0123ABC; find it in the channel's details)")
        return value

    @property
    def weekday_index(self) -> int:
        return WEEKDAYS.index(self.weekday)

    @property
    def hour_minute(self) -> tuple[int, int]:
        hour, minute = self.at.split(":")
        return int(hour), int(minute)


class ReportSettings(Section):
    site: str = Field(default="", max_length=80, description="Name shown in the chart's title, e.g. St Elsewhere Radiology.")
    weekly: WeeklySettings = Field(default_factory=WeeklySettings)
