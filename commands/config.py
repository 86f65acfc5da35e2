"""The ``dicom:`` section of the configuration: the bot's own AE title and the node registry."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from core.config import Section

# DICOM PS3.5 AE title (VR "AE"): up to 16 characters of the default repertoire, no backslash
# or control characters; leading/trailing spaces are not significant. We are stricter: letters,
# digits, and - _ . (what sites actually use), so that a title is always safe to show and log.
AE_TITLE_RE = re.compile(r"^[A-Za-z0-9_.\-][A-Za-z0-9_.\- ]{0,14}[A-Za-z0-9_.\-]?$")
NODE_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


def check_ae_title(value: str) -> str:
    if not isinstance(value, str):
        raise ValueError("an AE title must be text")
    stripped = value.strip()
    if not stripped:
        raise ValueError("an AE title cannot be empty")
    if len(stripped) > 16:
        raise ValueError(f"AE title {stripped!r} is {len(stripped)} characters long; DICOM allows at most 16")
    if not AE_TITLE_RE.match(stripped):
        raise ValueError(
            f"AE title {stripped!r} may only contain letters, digits, spaces and - _ ."
        )
    return stripped


class NodeConfig(Section):
    """One DICOM node the bot may query. Nothing about a node is ever taken from chat."""

    name: str = Field(description="Short name used in chat, e.g. pacs, vna, ct1.")
    ae_title: str
    host: str
    port: int = Field(ge=1, le=65535)
    kind: Literal["pacs", "vna", "modality", "router", "other"] = "other"

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = value.strip().lower()
        if not NODE_NAME_RE.match(value):
            raise ValueError(
                f"node name {value!r} must be 1-32 lower-case letters, digits, - or _, starting with a letter or digit"
            )
        if value == "all":
            raise ValueError("'all' is reserved (it means every node)")
        return value

    @field_validator("ae_title")
    @classmethod
    def _ae(cls, value: str) -> str:
        return check_ae_title(value)

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        value = value.strip()
        if not value or len(value) > 253 or not re.match(r"^[A-Za-z0-9.:\-\[\]]+$", value):
            raise ValueError(f"{value!r} is not a host name or IP address")
        return value


class DicomSettings(Section):
    ae_title: str = "PACSBOT"
    nodes: list[NodeConfig] = Field(default_factory=list)

    @field_validator("ae_title")
    @classmethod
    def _ae(cls, value: str) -> str:
        return check_ae_title(value)

    @model_validator(mode="after")
    def _unique(self) -> "DicomSettings":
        seen: set[str] = set()
        for node in self.nodes:
            if node.name in seen:
                raise ValueError(f"two nodes are named {node.name!r}; node names must be unique")
            seen.add(node.name)
        return self
