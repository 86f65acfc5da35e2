"""Shared by the benchmarks that measure pacsbot against a peer in the same run (issue 15).

A :class:`Measure` is one figure of pacsbot next to the same figure of its peer (a bare Bolt
app, findscu, plain SQL...), with the targets on it: an absolute one (``below``) and/or one
on the ratio pacsbot / peer (``max_ratio``). :func:`print_table` prints them as one table,
``what | pacsbot | peer | ratio | target | result``, and says whether every target was met.
A ratio target without a peer figure (the peer could not run here) is reported as skipped,
never as met or missed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Measure:
    what: str
    pacsbot: float
    peer: float | None           # None: the peer did not run (say why in a note)
    unit: str = "s"              # "s", "ms", "" (a count)
    below: float | None = None   # absolute target: pacsbot < below
    max_ratio: float | None = None  # ratio target: pacsbot / peer <= max_ratio
    digits: int = 2

    @property
    def ratio(self) -> float | None:
        if self.peer is None or math.isnan(self.peer) or math.isnan(self.pacsbot):
            return None
        return self.pacsbot / self.peer if self.peer > 0 else math.inf

    @property
    def absolute_ok(self) -> bool | None:
        return None if self.below is None else bool(self.pacsbot < self.below)

    @property
    def ratio_ok(self) -> bool | None:
        if self.max_ratio is None or self.ratio is None:
            return None
        return self.ratio <= self.max_ratio

    @property
    def met(self) -> bool:
        """No target missed (a ratio target whose peer did not run counts as not missed)."""
        return self.absolute_ok is not False and self.ratio_ok is not False

    def value(self, v: float | None) -> str:
        if v is None:
            return "—"
        return f"{v:,.{self.digits}f}{' ' + self.unit if self.unit else ''}"

    @property
    def target(self) -> str:
        parts = []
        if self.below is not None:
            parts.append(f"< {self.below:g}{' ' + self.unit if self.unit else ''}")
        if self.max_ratio is not None:
            parts.append(f"<= {self.max_ratio:g}x" + (" (no peer)" if self.ratio is None else ""))
        return " and ".join(parts) or "—"

    @property
    def result(self) -> str:
        if self.below is None and self.max_ratio is None:
            return ""
        missed = [what for what, ok in (("abs", self.absolute_ok), ("ratio", self.ratio_ok)) if ok is False]
        if missed:
            return f"MISSED ({', '.join(missed)})" if self.below is not None and self.max_ratio is not None else "MISSED"
        if self.max_ratio is not None and self.ratio is None:
            return "met" if self.absolute_ok else "skipped"
        return "met"


def print_table(measures: list[Measure], peer: str = "peer") -> bool:
    """Print the measures as one table; True when no target was missed."""
    headers = ("what", "pacsbot", peer, "ratio", "target", "result")
    cells = [(m.what, m.value(m.pacsbot), m.value(m.peer), "—" if m.ratio is None else f"{m.ratio:.2f}x", m.target, m.result)
             for m in measures]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    right = (False, True, True, True, False, False)

    def line(values: tuple[str, ...]) -> str:
        return "| " + " | ".join(v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right)) + " |"

    print(line(headers))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for c in cells:
        print(line(c))
    return all(m.met for m in measures)


def order(i: int, first: str, second: str) -> tuple[str, str]:
    """Alternate who goes first from one round to the next, so that a busy moment of the shared
    machine (or a warm cache) does not always favour the same side."""
    return (first, second) if i % 2 == 0 else (second, first)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by a process and its direct children (a gunicorn
    master and its workers), from /proc; 0.0 where /proc cannot be read."""
    import os

    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0
    for p in (pid, *children(pid)):
        fields = proc_stat(p)
        if len(fields) > 12:
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def wait_idle(pid: int, *, quiet: float = 0.5, busy_below: float = 0.05, timeout: float = 30.0) -> bool:
    """Wait until a server (and its workers) has used less than ``busy_below`` CPU seconds in
    ``quiet`` seconds: its work after the acks is done, so it takes nothing from what is
    measured next. False after ``timeout``."""
    import time

    deadline = time.monotonic() + timeout
    last = cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = cpu_seconds(pid)
        if now - last < busy_below:
            return True
        last = now
    return False


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (a gunicorn master's workers)."""
    import os

    out = []
    try:
        entries = os.listdir("/proc")
    except OSError:  # no /proc (not Linux): nothing to wait for
        return []
    for entry in entries:
        if entry.isdigit() and proc_stat(int(entry))[1:2] == [str(pid)]:
            out.append(int(entry))
    return sorted(out)


def proc_stat(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name ([0] state, [1] parent, [11] utime,
    [12] stime, [19] start time); [] where it cannot be read (gone, or no /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return []
    return stat[stat.rindex(")") + 2:].split()
