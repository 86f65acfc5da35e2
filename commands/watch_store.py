"""The node watch in the database: which nodes are due, claiming them, applying a result.

Safe with several replicas on one database. The scheduler already runs the watch job once
per slot; on top of that every write to ``dicom_node_watch`` is a compare-and-set on
``version`` (``UPDATE ... WHERE node = :n AND version = :old``):

* :func:`claim_due` moves ``last_check_at`` of a due node to now; only one replica wins a
  node, so a node is echoed once per interval even if two slots overlap;
* :func:`apply_result` records the check and the new state only if nobody else changed the
  row since the claim; the caller posts an alert only when it won (one alert per change).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from pacsbot.commands.models import NodeCheck, NodeWatch
from pacsbot.commands.results import EchoResult
from pacsbot.commands.watch import Rules, Transition, WatchState, step
from pacsbot.core.db import insert_or_skip


@dataclass(frozen=True)
class NodeView:
    node: str
    state: str
    since: datetime | None
    failures: int
    last_check_at: datetime | None
    last_ok: bool | None
    last_elapsed_ms: int | None
    last_failure_code: str | None
    last_message: str
    last_change_at: datetime | None
    outage_ticket: int | None
    version: int


@dataclass(frozen=True)
class Applied:
    node: str
    transition: Transition | None
    outage_ticket: int | None  # the open outage's ticket before this result (for the recovery note)
    version: int


def _view(row: NodeWatch) -> NodeView:
    return NodeView(row.node, row.state, row.since, row.failures, row.last_check_at, row.last_ok, row.last_elapsed_ms,
                    row.last_failure_code, row.last_message, row.last_change_at, row.outage_ticket, row.version)


def ensure_rows(session: Session, nodes: Sequence[str]) -> None:
    """A row per watched node (state ``unknown``), created once whichever replica comes first."""
    if not nodes:
        return
    rows = [{"node": n, "state": "unknown", "failures": 0, "successes": 0, "last_message": "", "version": 0} for n in nodes]
    session.execute(insert_or_skip(session, NodeWatch).values(rows).on_conflict_do_nothing(index_elements=["node"]))


def views(session: Session) -> dict[str, NodeView]:
    return {r.node: _view(r) for r in session.scalars(select(NodeWatch))}


def claim_due(session: Session, intervals: dict[str, int], now: datetime) -> dict[str, int]:
    """Claim every node whose interval has passed since its last check: ``{node: version}``."""
    ensure_rows(session, list(intervals))
    claimed: dict[str, int] = {}
    rows = session.execute(select(NodeWatch.node, NodeWatch.version, NodeWatch.last_check_at)
                           .where(NodeWatch.node.in_(list(intervals)))).all()
    for node, version, last in rows:
        # a little slack, so a job that runs every 20 s does not skip a node that is 1 s short
        if last is not None and last + timedelta(seconds=intervals[node]) > now + timedelta(seconds=2):
            continue
        won = cast(CursorResult[Any], session.execute(
            update(NodeWatch).where(NodeWatch.node == node, NodeWatch.version == version)
            .values(last_check_at=now, version=version + 1).execution_options(synchronize_session=False)
        )).rowcount
        if won == 1:
            claimed[node] = version + 1
    return claimed


def apply_result(session: Session, result: EchoResult, *, at: datetime, version: int, rules: Rules,
                 in_downtime: bool) -> Applied | None:
    """Record one check and the node's new state, if the claim still holds; None if it was lost."""
    row = session.execute(select(NodeWatch).where(NodeWatch.node == result.node.name)
                          .execution_options(populate_existing=True)).scalar_one_or_none()
    if row is None or row.version != version:
        return None
    current = WatchState(row.state, row.since, row.failures, row.successes, row.first_failure_at, row.last_change_at)  # type: ignore[arg-type]
    new, transition = step(current, result.ok, at, rules, in_downtime=in_downtime)
    outage_ticket = row.outage_ticket
    values = {
        "state": new.state, "since": new.since, "failures": new.failures, "successes": new.successes,
        "first_failure_at": new.first_failure_at, "last_change_at": new.last_change_at, "last_ok": result.ok,
        "last_elapsed_ms": result.ms, "last_failure_code": result.failure.code if result.failure else None,
        "last_message": (result.failure.message if result.failure else "ok")[:300], "version": version + 1,
    }
    if transition is not None and transition.event == "up":
        values["outage_ticket"] = None
    won = cast(CursorResult[Any], session.execute(
        update(NodeWatch).where(NodeWatch.node == result.node.name, NodeWatch.version == version)
        .values(**values).execution_options(synchronize_session=False)
    )).rowcount
    if won != 1:
        return None
    session.add(NodeCheck(node=result.node.name, at=at, ok=result.ok, elapsed_ms=result.ms,
                          failure_code=result.failure.code if result.failure else None, in_downtime=in_downtime))
    session.flush()
    return Applied(result.node.name, transition, outage_ticket, version + 1)


def set_outage_ticket(session: Session, node: str, ticket_id: int) -> None:
    session.execute(update(NodeWatch).where(NodeWatch.node == node).values(outage_ticket=ticket_id)
                    .execution_options(synchronize_session=False))
