"""Per-user rate limits the policy chain checks before the ack (no database, no network).

A feature declares a named limit once (``registry.limit("dicom", lambda s: s.dicom.rate_limit)``)
and puts ``limit="dicom"`` on the entries it brakes; ``bot/listeners/policy.py`` refuses a run
over the limit in the ack itself ("You have run 10 DICOM checks in the last 60 s..."), so nobody
is first told "Checking…" and then refused.

This brake is per process. Several replicas share the feature's own ledger in the database
(``commands.store.take_run``), checked after the ack, so the limit holds across them too.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


class LimitSettings(Protocol):
    @property
    def runs(self) -> int: ...

    @property
    def per_seconds(self) -> int: ...


@dataclass
class SlidingWindow:
    """At most ``runs`` in any ``per_seconds`` window per key; thread-safe."""

    _seen: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, key: str, now: float, settings: LimitSettings) -> float | None:
        """Count one run for ``key`` and return None, or the seconds to wait when over the limit."""
        with self._lock:
            seen = self._seen.setdefault(key, deque())
            while seen and seen[0] <= now - settings.per_seconds:
                seen.popleft()
            if len(seen) >= settings.runs:
                return max(1.0, math.ceil(seen[0] + settings.per_seconds - now))
            seen.append(now)
            if len(self._seen) > 10_000:  # forget idle users (their windows are empty)
                for k in [k for k, q in self._seen.items() if not q or q[-1] <= now - settings.per_seconds]:
                    del self._seen[k]
            return None


@dataclass(frozen=True)
class Limit:
    """A named limit: where its numbers are configured and how a refusal reads."""

    name: str
    settings: Callable[[Any], LimitSettings]      # Settings -> its runs / per_seconds
    refusal: Callable[[Any, int], str]            # (its settings, seconds to wait) -> the words
    window: SlidingWindow = field(default_factory=SlidingWindow, compare=False)
