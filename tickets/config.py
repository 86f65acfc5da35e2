"""The ``tickets:`` section of the configuration."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from core.config import Section

CHANNEL_ID_RE = re.compile(r"^[CG][A-Z0-9]{2,20}$")


class TicketSettings(Section):
    default_queue: str | None = Field(
        default=None, description="Channel id (like C0123ABC) where tickets go when no rule matches."
    )

    @field_validator("default_queue")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not CHANNEL_ID_RE.match(value):
            raise ValueError(
                f"{value!r} is not a Slack channel id (like C0123ABC; find it in the channel's details)"
            )
        return value
