"""Two replicas on one database: each check is recorded once and each state change alerts once.

Two ``Services`` (each with its own node registry and scheduler, different replica ids) share
one database and one clock; their schedulers run ``run_due`` at the same moment in threads. On
PostgreSQL (the production set-up for replicas) and SQLite.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from sqlalchemy import func, select

from pacsbot.bot.features.watch import run_watch
from pacsbot.bot.models import OutboxMessage
from pacsbot.bot.scheduler import Scheduler
from pacsbot.bot.services import Services, build_services
from pacsbot.bot.settings import Secrets
from pacsbot.bot.slack_client import make_web_client
from pacsbot.bot.slackmock import MockSlack
from pacsbot.bot.storage import Database, upgrade
from pacsbot.commands.demo import DemoNetwork
from pacsbot.commands.models import NodeCheck
from pacsbot.core.clock import ManualClock
from tests.dicom_support import node_dicts
from tests.harness import TOKEN, make_settings

ALERTS = "C0PACSADM"


@pytest.fixture
def network() -> Iterator[DemoNetwork]:
    with DemoNetwork() as net:
        yield net


def _replicas(tmp_path: Any, db: Database, mock: MockSlack, network: DemoNetwork, clock: ManualClock, n: int = 2) -> list[Services]:
    upgrade(db)
    settings = make_settings(tmp_path, db.url, dicom={"nodes": node_dicts(network)},
                             tickets={"admin_channel": ALERTS, "default_queue": "C0PACSQUE"})
    return [build_services(settings, Secrets(TOKEN, None, "s", mock.api_url), db=db, clock=clock,
                           client=make_web_client(TOKEN, mock.api_url)) for _ in range(n)]


def _together(fns: list[Any]) -> None:
    barrier = threading.Barrier(len(fns))

    def run(fn: Any) -> None:
        barrier.wait()
        fn()

    threads = [threading.Thread(target=run, args=(fn,)) for fn in fns]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)


def _alerts(db: Database) -> list[str]:
    with db.session() as session:
        return list(session.scalars(select(OutboxMessage.key).where(OutboxMessage.key.startswith("watch:")).order_by(OutboxMessage.id)))


def _checks(db: Database) -> dict[str, int]:
    with db.session() as session:
        return dict(session.execute(select(NodeCheck.node, func.count()).group_by(NodeCheck.node)).all())  # type: ignore[arg-type]


def test_schedulers_of_two_replicas_check_once_and_alert_once(tmp_path: Any, db: Database, mock_slack: MockSlack, network: DemoNetwork) -> None:
    clock = ManualClock(datetime.now(timezone.utc).replace(second=0, microsecond=0))
    replicas = _replicas(tmp_path, db, mock_slack, network, clock)
    schedulers = [Scheduler(s, replica=f"replica{i}") for i, s in enumerate(replicas)]
    try:
        rounds = 0
        for i in range(5):
            if i == 1:
                network.pacs.stop()
            _together([s.run_due for s in schedulers for _ in range(2)])
            rounds += 1
            clock.advance(minutes=5)
        assert _checks(db) == {"pacs": rounds, "vna": rounds}
        assert _alerts(db) == [k for k in _alerts(db) if k.startswith("watch:down:pacs:")] and len(_alerts(db)) == 1
    finally:
        for s in replicas:
            s.close()


def test_the_compare_and_set_alone_keeps_one_check_and_one_alert(tmp_path: Any, db: Database, mock_slack: MockSlack, network: DemoNetwork) -> None:
    """Without the scheduler's claim (the job started twice in one slot): the node claim and the
    version check still let only one replica record each check and post each alert."""
    clock = ManualClock(datetime.now(timezone.utc).replace(second=0, microsecond=0))
    replicas = _replicas(tmp_path, db, mock_slack, network, clock, n=3)
    try:
        network.vna.stop()
        for _ in range(4):
            _together([lambda s=s: run_watch(s) for s in replicas])
            clock.advance(minutes=5)
        assert _checks(db) == {"pacs": 4, "vna": 4}
        assert len(_alerts(db)) == 1 and _alerts(db)[0].startswith("watch:down:vna:")
    finally:
        for s in replicas:
            s.close()
