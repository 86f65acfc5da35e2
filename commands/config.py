"""The ``dicom:`` section of the configuration: the bot's own AE title, the node registry,
and the safety knobs of the diagnostics (result cap, rate limit, PHI, who may locate).

Everything about a node (AE title, host, port, TLS files) comes from here and only from
here: nothing a user types in chat is ever used as an address.
"""

from __future__ import annotations

import os
import re
import ssl
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from pacsbot.core.config import ChannelId, Section, TimeOfDay, hour_minute, resolve_path

# DICOM PS3.5 AE title (VR "AE"): up to 16 characters of the default repertoire, no backslash
# or control characters; leading/trailing spaces are not significant. We are stricter: letters,
# digits, and - _ . (what sites actually use), so that a title is always safe to show and log.
AE_TITLE_RE = re.compile(r"^[A-Za-z0-9_.\-][A-Za-z0-9_.\- ]{0,14}[A-Za-z0-9_.\-]?$")
NODE_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
MIN_WATCH_INTERVAL, MAX_WATCH_INTERVAL = 15, 86400

NodeKind = Literal["pacs", "vna", "modality", "router", "other", "worklist"]
NODE_KINDS: tuple[str, ...] = ("pacs", "vna", "modality", "router", "other", "worklist")
# A Modality Worklist SCP (RIS, broker, a scanner's worklist provider): it holds orders, not
# images. Only the worklist check queries it (Modality Worklist C-FIND); locate and the
# reconciliation never send it a Study Root C-FIND. Echo and the node watch include it.
WORKLIST_KIND = "worklist"

# Names the demo nodes take (``dicom.demo``); a configured node may not use them when the
# demo runs next to configured nodes.
DEMO_NODE_NAMES = ("vna", "pacs", "ris")


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


def _check_readable(path: Path, what: str) -> Path:
    """A TLS file must exist and be readable by this process *now*, not at 3 a.m."""
    if not path.exists():
        raise ValueError(f"{what} {str(path)!r} does not exist")
    if not path.is_file():
        raise ValueError(f"{what} {str(path)!r} is not a file")
    if not os.access(path, os.R_OK):
        raise ValueError(f"{what} {str(path)!r} is not readable by this user (check its permissions)")
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError as exc:
        raise ValueError(f"{what} {str(path)!r} cannot be read ({exc.strerror or exc})") from None
    if b"-----BEGIN" not in head:
        raise ValueError(f"{what} {str(path)!r} is not a PEM file (it should contain '-----BEGIN ...')")
    return path


class TimeoutSettings(Section):
    """How long to wait for a node, in seconds. ``None`` at node level means "use dicom.timeouts"."""

    connect: float | None = Field(default=None, gt=0, le=120, description="TCP connect (and TLS handshake).")
    association: float | None = Field(default=None, gt=0, le=300, description="Answer to the association request.")
    dimse: float | None = Field(default=None, gt=0, le=600, description="Each response to a C-ECHO / C-FIND.")
    total: float | None = Field(default=None, gt=0, le=1800, description="Everything for one node in one command.")


DEFAULT_TIMEOUTS = {"connect": 5.0, "association": 10.0, "dimse": 30.0, "total": 60.0}


class TlsSettings(Section):
    """DICOM TLS for one node. Files are PEM; relative paths are relative to the config file."""

    ca_file: Path | None = Field(default=None, description="CA bundle that signed the node's certificate (default: the system's CAs).")
    cert_file: Path | None = Field(default=None, description="pacsbot's client certificate, if the node asks for one.")
    key_file: Path | None = Field(default=None, description="The private key of cert_file.")
    check_hostname: bool = Field(default=True, description="Check that the node's certificate names its host.")

    @field_validator("ca_file", "cert_file", "key_file")
    @classmethod
    def _readable(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        value = resolve_path(value, info)
        if value is None:
            return None
        what = {"ca_file": "CA file", "cert_file": "certificate file", "key_file": "key file"}[str(info.field_name)]
        return _check_readable(value, what)

    @model_validator(mode="after")
    def _pair(self) -> "TlsSettings":
        if self.key_file is not None and self.cert_file is None:
            raise ValueError("key_file is set but cert_file is not; give both (or neither)")
        if self.cert_file is not None and self.key_file is None:
            # A combined PEM (certificate and key in one file) is fine.
            if b"PRIVATE KEY-----" not in self.cert_file.read_bytes():
                raise ValueError("cert_file is set but key_file is not, and cert_file holds no private key")
        try:
            context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
            if self.cert_file is not None:
                context.load_cert_chain(str(self.cert_file), str(self.key_file) if self.key_file else None, password=lambda: b"")
        except ssl.SSLError as exc:
            raise ValueError(
                f"the TLS files cannot be used ({exc.reason or exc}): the CA file must hold PEM certificates, "
                "key_file must be the key of cert_file, and the key must not need a password"
            ) from None
        return self


class NodeConfig(Section):
    """One DICOM node the bot may query. Nothing about a node is ever taken from chat."""

    name: str = Field(description="Short name used in chat, e.g. pacs, vna, ct1.")
    ae_title: str
    host: str
    port: int = Field(ge=1, le=65535)
    kind: NodeKind = "other"
    description: str = Field(default="", max_length=80, description="Shown in /pacs nodes, e.g. 'Main PACS, data centre A'.")
    tls: TlsSettings | None = None
    timeouts: TimeoutSettings = Field(default_factory=TimeoutSettings)
    max_results: int | None = Field(
        default=None, ge=1, le=100000,
        description="The node's own C-FIND result limit (e.g. Orthanc's LimitFindResults), if it has one. "
                    "The daily reconciliation pages a day's listing below it.",
    )

    watch: bool = Field(default=True, description="false: the node watch never echoes this node.")
    watch_interval_seconds: int | None = Field(
        default=None, description="How often the watch echoes this node (default: dicom.watch.interval_seconds).")

    @field_validator("watch_interval_seconds")
    @classmethod
    def _interval(cls, value: int | None) -> int | None:
        if value is not None and not MIN_WATCH_INTERVAL <= value <= MAX_WATCH_INTERVAL:
            raise ValueError(f"watch_interval_seconds must be between {MIN_WATCH_INTERVAL} and {MAX_WATCH_INTERVAL} "
                             f"(15 seconds to 1 day); it is {value}")
        return value

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
        return value.strip("[]")

    @field_validator("description")
    @classmethod
    def _description(cls, value: str) -> str:
        value = " ".join(value.split())
        if any(ch in value for ch in "<>&`*_~"):
            raise ValueError("a node description is plain text: no < > & ` * _ ~")
        return value


class RateLimitSettings(Section):
    """Per Slack user: at most ``runs`` echo/locate/reconcile commands in any ``per_seconds`` window."""

    runs: int = Field(default=10, ge=1, le=1000)
    per_seconds: int = Field(default=60, ge=1, le=86400)


class ReconcilePair(Section):
    """One daily reconciliation: every study of yesterday on ``source`` should be on ``archive``."""

    source: str = Field(description="Node name whose studies must be archived, e.g. pacs.")
    archive: str = Field(description="Node name that should hold them all, e.g. vna.")
    at: TimeOfDay = Field(default="06:30", description="Local time (the top-level timezone) to run it, HH:MM.")
    channel: ChannelId | None = Field(default=None, description="Channel id for the summary (default: tickets.admin_channel).")

    @field_validator("source", "archive")
    @classmethod
    def _node_name(cls, value: str) -> str:
        return value.strip().lower()

    @property
    def key(self) -> str:
        return f"{self.source}>{self.archive}"

    @property
    def hour_minute(self) -> tuple[int, int]:
        return hour_minute(self.at)


class ReconcileSettings(Section):
    """The daily reconciliation (data-quality audit) of node pairs, e.g. PACS against VNA."""

    enabled: bool = Field(default=True, description="Run the configured pairs every day.")
    pairs: list[ReconcilePair] = Field(default_factory=list)
    timeout: float = Field(default=600, gt=0, le=7200,
                           description="Seconds one node may take to list (and count) one day's studies.")
    image_count_limit: int = Field(default=200, ge=0, le=100000,
                                   description="Studies per node per run that may be counted image by image when "
                                               "the node reports no counts; past it counts are 'unknown'.")


class WatchSettings(Section):
    """The node watch: every configured node echoed on a schedule, alerts on down and up."""

    enabled: bool = Field(default=True, description="Echo every node on a schedule and alert when one goes down.")
    interval_seconds: int = Field(default=300, description="How often each node is echoed (a node may set its own).")
    down_after: int = Field(default=3, ge=1, le=100, description="Failed echoes in a row before a node is down.")
    up_after: int = Field(default=2, ge=1, le=100, description="Answered echoes in a row before a down node is up again.")
    channel: ChannelId | None = Field(default=None, description="Channel id for down/up alerts (default: tickets.admin_channel).")
    downtime_channels: list[ChannelId] = Field(default_factory=list, description="Where planned downtimes are announced (default: the alert channel).")
    remind_before_minutes: int = Field(default=60, ge=0, le=7 * 24 * 60, description="Reminder this long before a planned downtime; 0: none.")

    @field_validator("interval_seconds")
    @classmethod
    def _interval(cls, value: int) -> int:
        if not MIN_WATCH_INTERVAL <= value <= MAX_WATCH_INTERVAL:
            raise ValueError(f"interval_seconds must be between {MIN_WATCH_INTERVAL} and {MAX_WATCH_INTERVAL} "
                             f"(15 seconds to 1 day); it is {value}")
        return value


class DicomSettings(Section):
    ae_title: str = "PACSBOT"
    nodes: list[NodeConfig] = Field(default_factory=list)
    timeouts: TimeoutSettings = Field(default_factory=lambda: TimeoutSettings(**DEFAULT_TIMEOUTS))
    max_matches: int = Field(default=25, ge=1, le=500, description="Studies per node per query; past it the query is cancelled.")
    show_phi: Literal["ephemeral", "never"] = "ephemeral"
    # technologists check "did my study arrive?" themselves (the manuals tell them to); by
    # accession only and without patient details: patient search stays with PACS admins
    accession_locate_role: Literal["admin", "trainer", "clinician"] = "clinician"
    # "my patient is not on the worklist at CT2": technologists ask themselves; patient
    # details stay with PACS admins
    worklist_role: Literal["admin", "trainer", "clinician"] = "clinician"
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings)
    demo: Literal["auto", "true", "false"] = "auto"
    reconcile: ReconcileSettings = Field(default_factory=ReconcileSettings)
    watch: WatchSettings = Field(default_factory=WatchSettings)

    @field_validator("ae_title")
    @classmethod
    def _ae(cls, value: str) -> str:
        return check_ae_title(value)

    @field_validator("demo", mode="before")
    @classmethod
    def _demo(cls, value: object) -> object:
        # YAML reads true/false as booleans; accept them as the words.
        if isinstance(value, bool):
            return "true" if value else "false"
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("timeouts")
    @classmethod
    def _complete(cls, value: TimeoutSettings) -> TimeoutSettings:
        # dicom.timeouts is the default for every node, so every value must be set.
        filled = {k: (getattr(value, k) if getattr(value, k) is not None else v) for k, v in DEFAULT_TIMEOUTS.items()}
        return TimeoutSettings(**filled)

    @model_validator(mode="after")
    def _unique(self) -> "DicomSettings":
        seen: set[str] = set()
        for node in self.nodes:
            if node.name in seen:
                raise ValueError(f"two nodes are named {node.name!r}; node names must be unique")
            seen.add(node.name)
        if self.demo == "true":
            clash = sorted(seen & set(DEMO_NODE_NAMES))
            if clash:
                raise ValueError(
                    f"demo: true adds demo nodes named {', '.join(DEMO_NODE_NAMES[:-1])} and {DEMO_NODE_NAMES[-1]}; "
                    f"rename the configured node {clash[0]!r}"
                )
        known = list(seen) + ([n for n in DEMO_NODE_NAMES if n not in seen] if self.demo != "false" else [])
        worklists = {n.name for n in self.nodes if n.kind == WORKLIST_KIND}
        pairs_seen: set[str] = set()
        for i, pair in enumerate(self.reconcile.pairs):
            for role in ("source", "archive"):
                name = getattr(pair, role)
                if name not in known:
                    listed = ", ".join(known) if known else "none"
                    raise ValueError(
                        f"dicom.reconcile.pairs[{i}].{role}: there is no node called {name!r} "
                        f"(nodes: {listed}{'; the demo nodes only with dicom.demo on' if self.demo != 'false' else ''})"
                    )
                if name in worklists:
                    raise ValueError(
                        f"dicom.reconcile.pairs[{i}].{role}: {name!r} is a worklist node (kind: worklist): it holds "
                        "orders, not studies; reconcile two archives (pacs, vna)"
                    )
            if pair.source == pair.archive:
                raise ValueError(f"dicom.reconcile.pairs[{i}]: source and archive are both {pair.source!r}; name two nodes")
            if pair.key in pairs_seen:
                raise ValueError(f"dicom.reconcile.pairs[{i}]: {pair.source} -> {pair.archive} is listed twice")
            pairs_seen.add(pair.key)
        return self

    def watch_interval(self, node: NodeConfig) -> int:
        return node.watch_interval_seconds or self.watch.interval_seconds

    def timeout_for(self, node: NodeConfig, which: str) -> float:
        value = getattr(node.timeouts, which)
        return float(value if value is not None else getattr(self.timeouts, which))
