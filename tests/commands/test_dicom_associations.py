"""One association per node per locate: every round of a locate with a node (study level,
series detail, sibling search) shares one association, released when the locate ends; a
broken one is replaced by a fresh one; none is left behind.

Counted where it happens: on real pynetdicom SCPs (the demo node), by their EVT_REQUESTED,
EVT_ACCEPTED and EVT_RELEASED events. Runs in every test run (no external service needed).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from pynetdicom import evt

from pacsbot.commands.demo import DemoNode, demo_studies, pacs_copy
from pacsbot.commands.locate import LocateOptions, image_identifier, locate_on_node
from pacsbot.commands.query import parse_locate
from pacsbot.commands.scu import FIND_MODEL, Associations, open_session, target_for
from pacsbot.commands.service import Diagnostics
from tests.dicom_support import dicom_settings


class CountingNode(DemoNode):
    """A demo node (reporting its counts) that counts the associations it is asked for,
    accepts and sees released, and which can abort the association of one C-FIND on purpose."""

    def __init__(self, name: str, ae_title: str, studies: Any, *, abort_find: int = 0) -> None:
        super().__init__(name, ae_title, studies, report_counts=True)
        self.events: Counter[str] = Counter()
        self.abort_find = abort_find  # abort the association of this C-FIND (1-based), once
        self._finds = 0

    def start(self) -> "CountingNode":
        super().start()
        for event, name in ((evt.EVT_REQUESTED, "requested"), (evt.EVT_ACCEPTED, "accepted"), (evt.EVT_RELEASED, "released"),
                            (evt.EVT_ABORTED, "aborted")):
            self._server.bind(event, lambda e, name=name: self._count(name))
        return self

    def _count(self, name: str) -> None:
        with self._lock:
            self.events[name] += 1

    def _on_find(self, event: Any) -> Iterator[Any]:
        with self._lock:
            self._finds += 1
            abort = self._finds == self.abort_find
        if abort:
            event.assoc.abort()
            return
        yield from super()._on_find(event)

    def settled(self, timeout: float = 5.0) -> bool:
        """Every association it accepted has been released or aborted (or ``timeout`` passed)."""
        until = time.monotonic() + timeout
        while time.monotonic() < until:
            with self._lock:
                if self.events["released"] + self.events["aborted"] >= self.events["accepted"]:
                    return True
            time.sleep(0.02)
        return False


def settings_for(*nodes: DemoNode) -> Any:
    return dicom_settings([{"name": n.name, "ae_title": n.ae_title, "host": "127.0.0.1", "port": n.port} for n in nodes])


def threads_settle(before: set[threading.Thread], timeout: float = 5.0) -> set[threading.Thread]:
    """The threads started since ``before`` that are still alive after ``timeout`` (none, we hope)."""
    until = time.monotonic() + timeout
    while True:
        extra = {t for t in threading.enumerate() if t not in before and t.is_alive()}
        if not extra or time.monotonic() > until:
            return extra
        time.sleep(0.02)


@pytest.fixture
def nodes() -> Iterator[tuple[CountingNode, CountingNode]]:
    # "full" holds A1002 with all 412 images; "short" lacks its coronal series (300 images),
    # and both report their counts: a locate of A1002 asks both for series detail (the counts
    # differ) and "short" for other studies of the patient that day (it holds fewer images).
    with CountingNode("full", "FULL", demo_studies()) as full, CountingNode("short", "SHORT", pacs_copy(demo_studies())) as short:
        yield full, short


def test_a_locate_uses_one_association_per_node_across_all_its_rounds(nodes: tuple[CountingNode, CountingNode]) -> None:
    full, short = nodes
    diag = Diagnostics(settings_for(full, short))
    before = set(threading.enumerate())
    report = diag.locate(parse_locate("A1002"), diag.select([], command="locate"))
    assert "112 missing on short" in report.verdict.headline, report.verdict.headline
    assert any(f.text.startswith("Missing on short: series 3") for f in report.verdict.findings)
    # Three rounds with "short", two with "full" ...
    assert short.queries == ["STUDY", "STUDY", "SERIES", "STUDY"]
    assert full.queries == ["STUDY", "STUDY", "SERIES"]
    # ... each on one association, released (not aborted) by the time the locate returned.
    assert full.settled() and short.settled()
    for node in (full, short):
        assert node.events == Counter(requested=1, accepted=1, released=1), (node.name, node.events)
    assert threads_settle(before) == set()


def test_a_reused_association_that_broke_is_replaced_by_a_fresh_one(nodes: tuple[CountingNode, CountingNode]) -> None:
    full, short = nodes
    short.abort_find = 2  # the first C-FIND of the series round, on the association of the study round
    diag = Diagnostics(settings_for(full, short))
    before = set(threading.enumerate())
    report = diag.locate(parse_locate("A1002"), diag.select([], command="locate"))
    assert all(n.ok for n in report.nodes), [(n.node.name, n.failure) for n in report.nodes]
    assert any(f.text.startswith("Missing on short: series 3") for f in report.verdict.findings)
    # The aborted round (its C-FIND aborted before being logged) ran again on a new
    # association, which the sibling round then reused.
    assert short.queries == ["STUDY", "STUDY", "SERIES", "STUDY"] and short._finds == 5
    assert short.settled() and full.settled()
    assert short.events == Counter(requested=2, accepted=2, aborted=1, released=1), short.events
    assert full.events == Counter(requested=1, accepted=1, released=1), full.events
    assert threads_settle(before) == set()


def test_an_association_the_node_ended_between_rounds_is_not_used_again(nodes: tuple[CountingNode, CountingNode]) -> None:
    full, _ = nodes
    settings = settings_for(full)
    target = target_for(settings, settings.nodes[0])
    query, options = parse_locate("A1001"), LocateOptions(series_detail=False)
    with Associations([FIND_MODEL]) as pool:
        assert locate_on_node(target, query, options, pool=pool).found
        for assoc in full._server.active_associations:  # the node ends it while it is idle
            assoc.abort()
        until = time.monotonic() + 5
        while pool._idle and pool._idle["full"].usable() and time.monotonic() < until:
            time.sleep(0.01)
        first = pool._idle.get("full")
        second = locate_on_node(target, query, options, pool=pool)
    assert second.found and second.failure is None
    assert first is not None and not first.assoc.is_established and first.assoc.is_aborted
    assert full.settled()
    assert full.events == Counter(requested=2, accepted=2, aborted=1, released=1), full.events


def test_a_release_the_node_asks_for_between_rounds_is_answered(nodes: tuple[CountingNode, CountingNode]) -> None:
    """The node ends an idle association with a release request of its own: pacsbot answers
    it (pynetdicom does, once handed the association back) and uses a new one."""
    full, _ = nodes
    settings = settings_for(full)
    target = target_for(settings, settings.nodes[0])
    query, options = parse_locate("A1001"), LocateOptions(series_detail=False)
    before = set(threading.enumerate())
    with Associations([FIND_MODEL]) as pool:
        assert locate_on_node(target, query, options, pool=pool).found
        first = pool._idle["full"]
        releasing = [threading.Thread(target=a.release, daemon=True) for a in full._server.active_associations]
        for thread in releasing:  # the node's release waits for our answer: on its own thread
            thread.start()
        until = time.monotonic() + 5
        while first.usable() and time.monotonic() < until:
            time.sleep(0.01)
        second = locate_on_node(target, query, options, pool=pool)
        for thread in releasing:
            thread.join(5)
    assert second.found and not first.assoc.is_established and first.assoc.is_released
    assert full.settled()
    assert full.events == Counter(requested=2, accepted=2, released=2), full.events
    assert threads_settle(before) == set()


def test_an_association_in_use_when_the_request_ends_is_released_by_its_user(nodes: tuple[CountingNode, CountingNode]) -> None:
    """A round that was given up on still holds its association: it is released when that
    round's thread is done with it, not handed back to a pool that is closed."""
    full, _ = nodes
    settings = settings_for(full)
    target = target_for(settings, settings.nodes[0])
    pool = Associations([FIND_MODEL])
    with pool.session(target) as session:
        pool.close()
        session.find(_study_query(), cap=5)
    assert full.settled()
    assert full.events == Counter(requested=1, accepted=1, released=1), full.events


def test_an_unexpected_error_does_not_keep_the_association(nodes: tuple[CountingNode, CountingNode]) -> None:
    full, _ = nodes
    settings = settings_for(full)
    target = target_for(settings, settings.nodes[0])
    with Associations([FIND_MODEL]) as pool:
        with pytest.raises(RuntimeError):
            with pool.session(target):
                raise RuntimeError("a bug of ours, mid-conversation")
        assert pool._idle == {}
        assert full.settled()
        with pool.session(target) as session:
            assert not session.reused
    assert full.settled()
    assert full.events == Counter(requested=2, accepted=2, released=2), full.events


def _study_query() -> Any:
    from pacsbot.commands.locate import study_identifier

    return study_identifier(parse_locate("A1001"), want_phi=False)


class DozingCheckpoint(threading.Event):
    """pynetdicom's reactor checkpoint, with the reactor taken off the CPU just after it has
    passed it, as a busy machine does now and then: for that while it still reads as paused."""

    def wait(self, timeout: float | None = None) -> bool:
        passed = super().wait(timeout)
        time.sleep(0.02)
        return passed


def test_every_answer_reaches_the_query_while_the_reactor_dozes(nodes: tuple[CountingNode, CountingNode]) -> None:
    """A C-FIND answer the association's own reactor took off the queue would be lost: 297 of
    298 images counted, a false "images missing". pacsbot's associations keep every answer
    for the call that asked (the race, made to happen every time by the dozing checkpoint)."""
    full, _ = nodes
    study = next(s for s in full.studies if s.accession == "A1002")
    axial = study.series[1]
    with open_session(target_for(settings_for(full), settings_for(full).nodes[0]), contexts=[FIND_MODEL]) as session:
        checkpoint = DozingCheckpoint()
        checkpoint.set()
        session.assoc._reactor_checkpoint = checkpoint  # the reactor reads it afresh on each turn
        counts = [len(session.find(image_identifier(study.uid, axial.uid), cap=1000).matches) for _ in range(5)]
    assert counts == [axial.count] * 5
