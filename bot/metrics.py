"""What pacsbot counts for Prometheus, and the few hooks that count it.

Counted at one place each: acks where the Bolt app dispatches a request (``bot.app``), Web
API calls and HTTP 429s in the Web API client (``bot.slack_client``), scheduler runs in the
scheduler, and every audited action — DICOM checks, ticket changes, training, refusals — in
the audit-row writer (``bot.audit``), once the row is committed. The node watch's checks and
answers from the manuals are counted where they happen (``bot.features.watch``,
``bot.features.knowledge``). ``bot.metrics_http`` serves them on ``/metrics``.

Label values are bounded: command, button and job names from the registry, outcomes from
short fixed lists, audit action names from the code, DICOM node names from the
configuration. Never user text, Slack user ids or anything a patient could be named in.

A hook never raises: a metric that cannot be counted must not fail an ack or an audit row.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any, ParamSpec

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from pacsbot.core.errors import NotYours, UserError

if TYPE_CHECKING:
    from pacsbot.bot.registry import Registry

log = logging.getLogger(__name__)

ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)  # Slack gives up after 3 s
JOB_BUCKETS = (0.05, 0.25, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0)
MAX_LABEL = 64

# audited actions that are DICOM checks of one node (target "node:<name>"); the watch counts its own
DICOM_CHECKS = {"dicom.echo": "echo", "dicom.locate": "locate", "dicom.worklist": "worklist", "dicom.reconcile": "reconcile"}
# audited ticket actions (outcome ok: the change happened) -> pacsbot_ticket_events_total{event}
TICKET_EVENTS = {"ticket.create": "opened", "ticket.link": "opened", "ticket.acknowledged": "acknowledged",
                 "ticket.assigned": "assigned", "ticket.resolved": "resolved", "ticket.reopened": "reopened"}
# a request's body "type" -> the kind of entry point (the registry's names)
KINDS = {"block_actions": "action", "view_submission": "view", "view_closed": "view_closed", "shortcut": "shortcut",
         "message_action": "message_shortcut", "event_callback": "event", "block_suggestion": "options"}


class Metrics:
    """This process's metrics, made on first use (:func:`metrics`), so that they are made in
    the process that counts: in HTTP mode, in each gunicorn worker after the fork, where their
    values live in files (``metrics_http.use_multiprocess``) that ``/metrics`` adds up."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry(auto_describe=False)
        self.acks = Counter("pacsbot_acks", "Requests from Slack answered, by entry point and outcome "
                            "(ok, refused, invalid, busy, error, retry, unhandled, rejected).", ("kind", "name", "outcome"), registry=r)
        self.ack_seconds = Histogram("pacsbot_ack_duration_seconds", "Time from a request's arrival to its ack.",
                                     ("kind", "name"), buckets=ACK_BUCKETS, registry=r)
        self.slack_calls = Counter("pacsbot_slack_api_calls", "Slack Web API calls (and response_url replies), by method and "
                                   "result (ok, error, ratelimited, exception).", ("method", "result"), registry=r)
        self.rate_limited = Counter("pacsbot_slack_rate_limited", "HTTP 429 answers from Slack, each one (retried or not).",
                                    ("method",), registry=r)
        self.job_runs = Counter("pacsbot_scheduler_job_runs", "Scheduled job runs on this replica, by job and result (ok, failed).",
                                ("job", "result"), registry=r)
        self.job_seconds = Histogram("pacsbot_scheduler_job_duration_seconds", "How long scheduled job runs took.",
                                     ("job",), buckets=JOB_BUCKETS, registry=r)
        self.last_tick = Gauge("pacsbot_scheduler_last_tick_timestamp_seconds", "When a scheduler last ticked (Unix time; "
                               "the newest of the live processes).", registry=r, multiprocess_mode="livemax")
        self.audit = Counter("pacsbot_audit_events", "Audit rows committed, by action and outcome.", ("action", "outcome"), registry=r)
        self.dicom = Counter("pacsbot_dicom_checks", "DICOM checks of one node (echo, locate, worklist, reconcile, watch), "
                             "by node and result (ok, failed).", ("check", "node", "result"), registry=r)
        self.tickets = Counter("pacsbot_ticket_events", "Tickets opened, acknowledged, assigned, resolved, reopened.",
                               ("event",), registry=r)
        self.kb = Counter("pacsbot_kb_answers", "Questions answered from the manuals, by mode (answer, choices, unknown) "
                          "and surface (command, mention, dm, channel).", ("mode", "surface"), registry=r)
        self._children: dict[tuple[Any, ...], Any] = {}

    def child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, remembered: one dict lookup on the ack path."""
        key = (id(metric), *labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found


_metrics: Metrics | None = None
_create = threading.Lock()
_local = threading.local()  # the request this thread is acking: its arrival and outcome


def metrics() -> Metrics:
    """This process's metrics, created on first use (in a gunicorn worker: after the fork)."""
    global _metrics
    if _metrics is None:
        with _create:
            if _metrics is None:
                _metrics = Metrics()
    return _metrics


def start_afresh() -> None:
    """Forget this process's metrics: the next hook creates them anew (in the gunicorn master,
    before it forks, once prometheus_client counts into files: see ``metrics_http``)."""
    global _metrics
    with _create:
        _metrics = None


def registry() -> CollectorRegistry:
    return metrics().registry


P = ParamSpec("P")
_failed: set[str] = set()  # hooks that failed: logged the first time only


def _never_raises(fn: Callable[P, None]) -> Callable[P, None]:
    @wraps(fn)
    def hook(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            fn(*args, **kwargs)
        except Exception:  # noqa: BLE001 - a metric is never worth a failed ack or audit row
            if fn.__name__ not in _failed:
                _failed.add(fn.__name__)
                log.warning("metrics: %s failed; not counted (said once)", fn.__name__, exc_info=True)

    return hook


def _label(value: object) -> str:
    return str(value)[:MAX_LABEL]


# ----------------------------------------------------------------------------------------
# acks


def request_arrived() -> None:
    """The web server has a request for Bolt (HTTP mode): the ack's latency counts from here."""
    _local.arrival = time.perf_counter()


def dispatch_started() -> float:
    """Bolt starts on a request in this thread: when it arrived (or now), outcome not yet known."""
    arrival = getattr(_local, "arrival", None)
    _local.arrival = None
    _local.outcome = None
    return arrival if arrival is not None else time.perf_counter()


def note_outcome(outcome: str) -> None:
    """The policy's verdict on the request this thread is acking: refused or busy."""
    _local.outcome = outcome


def note_failure(exc: BaseException) -> None:
    """The request this thread is acking failed before its ack: the user's mistake (``invalid``:
    a :class:`UserError`), someone else's ticket (``refused``), or ours (``error``)."""
    _local.outcome = "refused" if isinstance(exc, NotYours) else "invalid" if isinstance(exc, UserError) else "error"


def ack_labels(body: dict[str, Any], registry: "Registry") -> tuple[str, str]:
    """``(kind, name)`` of a request: a subcommand, button, form, shortcut or event the registry
    declares, else ``unknown``/``other`` — never what the user typed."""
    try:
        if "command" in body:
            words = str(body.get("text") or "").split(None, 1)
            spec = registry.find_subcommand(words[0] if words else "help")
            return "command", spec.name if spec is not None and body.get("command") == "/pacs" else "unknown"
        kind = KINDS.get(str(body.get("type")), "other")
        if kind == "action":
            ident = str((body.get("actions") or [{}])[0].get("action_id") or "").split(":", 1)[0]
        elif kind in ("view", "view_closed"):
            ident = str((body.get("view") or {}).get("callback_id") or "")
        elif kind in ("shortcut", "message_shortcut"):
            ident = str(body.get("callback_id") or "")
        elif kind == "event":
            ident = str((body.get("event") or {}).get("type") or "")
            return kind, ident if ident in registry.events else "other"
        else:
            return kind, ""
        return kind, ident if (kind, ident) in registry.interactions else "other"
    except Exception:  # noqa: BLE001 - an odd body is counted as "other", never fails its ack
        return "other", "other"


@_never_raises
def count_ack(kind: str, name: str, status: int, start: float) -> None:
    """One request answered with HTTP ``status``, ``start`` its arrival (``perf_counter``)."""
    seconds = time.perf_counter() - start
    if status in (401, 403):  # not from Slack: what it claims to be is not worth a label
        kind, name, outcome = "unknown", "unknown", "rejected"
    elif status == 404:
        outcome = "unhandled"
    elif status >= 500:
        outcome = "retry" if status == 503 else "error"  # 503: Slack is asked to deliver it again
    else:
        outcome = getattr(_local, "outcome", None) or "ok"
    m = metrics()
    m.child(m.acks, kind, name, outcome).inc()
    m.child(m.ack_seconds, kind, name).observe(seconds)


# ----------------------------------------------------------------------------------------
# Slack, the scheduler


@_never_raises
def count_slack_call(method: str, result: str) -> None:
    m = metrics()
    m.child(m.slack_calls, _label(method), result).inc()


@_never_raises
def count_rate_limited(method: str) -> None:
    m = metrics()
    m.child(m.rate_limited, _label(method)).inc()


@_never_raises
def count_job(job: str, ok: bool, seconds: float) -> None:
    m = metrics()
    m.child(m.job_runs, _label(job), "ok" if ok else "failed").inc()
    m.child(m.job_seconds, _label(job)).observe(seconds)


@_never_raises
def scheduler_ticked() -> None:
    metrics().last_tick.set(time.time())


# ----------------------------------------------------------------------------------------
# what the features did


@_never_raises
def count_audit(action: str, target: str, outcome: str) -> None:
    """A committed audit row: counted by action, and as a DICOM check or a ticket event."""
    m = metrics()
    m.child(m.audit, _label(action), outcome).inc()
    check = DICOM_CHECKS.get(action)
    if check is not None and outcome in ("ok", "failed") and target.startswith("node:"):
        m.child(m.dicom, check, _label(target[5:]), outcome).inc()
    event = TICKET_EVENTS.get(action)
    if event is not None and outcome == "ok":
        m.child(m.tickets, event).inc()


@_never_raises
def count_dicom_check(check: str, node: str, ok: bool) -> None:
    """A DICOM check not audited row by row (the node watch's echoes); ``node`` a configured name."""
    m = metrics()
    m.child(m.dicom, check, _label(node), "ok" if ok else "failed").inc()


@_never_raises
def count_ticket_event(event: str) -> None:
    """A ticket event not audited as a ``ticket.*`` row (an outage ticket the watch opened)."""
    m = metrics()
    m.child(m.tickets, event).inc()


@_never_raises
def count_kb_answer(mode: str, surface: str) -> None:
    m = metrics()
    m.child(m.kb, _label(mode), _label(surface)).inc()
