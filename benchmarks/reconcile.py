"""Daily reconciliation of a busy day: 2,000 studies between two local DICOM nodes.

    python3 dev.py bench reconcile            (or: .venv/bin/python -m benchmarks reconcile --studies=2000)

Two in-process demo SCPs on loopback (``DemoNode``): the source holds 2,000 studies of one
day, the archive lacks a few and has one incomplete. Both report their counts (like most
PACS and VNAs). Runs the reconciliation as the daily job does and prints the elapsed time,
the C-FIND queries sent, and the peak memory (Python allocations, tracemalloc; and the
process's maximum resident size), measured in a second, untimed run. A second row pages the source below a result limit of 500
(like Orthanc's LimitFindResults). Target (issue 7): under 30 s. ``--strict`` exits 1 when
it is missed.
"""

from __future__ import annotations

import resource
import sys
import time
import tracemalloc
from datetime import date
from pathlib import Path

TARGET_SECONDS = 30.0


def main(argv: list[str]) -> int:
    count = 2000
    strict = "--strict" in argv
    for arg in argv:
        if arg.startswith("--studies="):
            count = max(10, int(arg.split("=", 1)[1]))
    root = Path(__file__).resolve().parent.parent
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from commands.config import DicomSettings
    from commands.demo import DemoNode, archive_copy, daily_studies
    from commands.service import Diagnostics

    day = date(2026, 1, 4)
    studies = daily_studies(day, count=count, prefix="B")
    missing = tuple(s.accession for s in studies[5::400])
    incomplete = next(s.accession for s in studies if len(s.series) > 1 and s.accession not in missing)
    archived = archive_copy(studies, missing=missing, incomplete=(incomplete,), only_on_archive=None)
    print(f"{count} studies on {day.isoformat()}; the archive lacks {len(missing)} and has 1 incomplete.\n")
    print("| run                                   | seconds | queries | peak Python MiB | max RSS MiB | found                     |")
    print("|---------------------------------------|---------|---------|-----------------|-------------|---------------------------|")
    ok = True
    with DemoNode("pacs", "BENCH_PACS", studies) as source, DemoNode("vna", "BENCH_VNA", archived) as archive, \
            DemoNode("pacs500", "BENCH_PACS5", studies, result_limit=500) as capped:
        for label, src in (("source answers in one C-FIND", source), ("source capped at 500 (paged)", capped)):
            settings = DicomSettings.model_validate({"nodes": [src.node_config().model_dump(), archive.node_config().model_dump()]})
            diag = Diagnostics(settings)
            started = time.perf_counter()
            report = diag.reconcile(src.name, "vna", day)
            elapsed = time.perf_counter() - started
            # Memory in a second run: tracemalloc slows Python down several times, so it
            # must not be running while we time.
            tracemalloc.start()
            diag.reconcile(src.name, "vna", day)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
            found = f"{len(report.missing_on_archive)} missing, {len(report.incomplete)} incomplete"
            right = (report.compared and sorted(r.accession for r in report.missing_on_archive) == sorted(missing)
                     and [r.accession for r in report.incomplete] == [incomplete] and len(report.source.studies) == count)
            ok &= right and elapsed < TARGET_SECONDS
            print(f"| {label:<37} | {elapsed:7.2f} | {report.source.queries + report.archive.queries:7d} | "
                  f"{peak / 2**20:15.1f} | {rss:11.1f} | {found + ('' if right else ' WRONG'):<25} |")
    print(f"\nTarget: under {TARGET_SECONDS:g} s for {count} studies: {'met' if ok else 'MISSED'}.")
    return 1 if strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
