"""Is a report or a question about a node that is down right now, or in planned downtime?

``bot`` asks this before filing a report or answering a question, so a clinician hears at once
"PACS is down since 14:02, the team is on it" and the report joins the outage's ticket.
A node matches when the text names it (``pacs2``), names its kind (``PACS``, ``VNA``,
``archive``), or when the report's category is one an outage of that kind explains.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from pacsbot.commands.config import NodeConfig
from pacsbot.commands.downtime import active
from pacsbot.commands.watch import SERVED_CATEGORIES, node_label
from pacsbot.commands.watch_store import views

KIND_WORDS = {"pacs": ("pacs", "viewer"), "vna": ("vna", "archive"), "modality": (), "router": ("router",), "other": ()}


@dataclass(frozen=True)
class Affected:
    node: str
    label: str
    kind: str  # the node's kind
    why: str  # "down" | "downtime"
    since: datetime
    until: datetime | None = None  # the end of a planned downtime
    reason: str = ""  # a planned downtime's reason
    ticket: int | None = None  # the outage ticket, for a down node


def mentions(text: str, node: NodeConfig) -> bool:
    """Does the text name the node (``pacs2``) or its kind (``PACS``, ``archive``)?"""
    words = set(re.findall(r"[a-z0-9_-]+", text.lower()))
    return node.name in words or any(w in words for w in KIND_WORDS.get(node.kind, ()))


def explains(node: NodeConfig, *, text: str = "", category: str | None = None) -> bool:
    """Would an outage of ``node`` explain this text (it names the node) or a report in ``category``?"""
    return mentions(text, node) or (category is not None and category in SERVED_CATEGORIES.get(node.kind, ()))


def relevant_nodes(nodes: Sequence[NodeConfig], *, text: str = "", category: str | None = None) -> list[NodeConfig]:
    """The nodes a text names, or whose outage would explain a report in ``category`` (no database)."""
    return [n for n in nodes if explains(n, text=text, category=category)]


def affected_nodes(session: Session, nodes: Sequence[NodeConfig], now: datetime, *, text: str = "",
                   category: str | None = None) -> list[Affected]:
    """The nodes this text or category is about that are down or in planned downtime now."""
    relevant = relevant_nodes(nodes, text=text, category=category)
    if not relevant:
        return []
    state = views(session)
    out = []
    for node in relevant:
        view = state.get(node.name)
        if view is not None and view.state == "down":
            out.append(Affected(node.name, node_label(node.name, node.kind), node.kind, "down",
                                view.since or now, ticket=view.outage_ticket))
            continue
        planned = active(session, node.name, now)
        if planned is not None:
            out.append(Affected(node.name, node_label(node.name, node.kind), node.kind, "downtime", planned.starts_at,
                                until=planned.ends_at, reason=planned.reason))
    return out
