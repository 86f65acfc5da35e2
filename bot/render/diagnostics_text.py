"""DICOM diagnostics -> plain text for a terminal (``pacsbot echo`` / ``pacsbot locate``). Pure."""

from __future__ import annotations

from collections.abc import Sequence

from pacsbot.commands.results import EchoResult, LocateReport, NodeLocate, StudyInfo
from pacsbot.commands.verdict import PATIENT_SEARCH, plural

MARK = {"ok": "OK", "info": "--", "warn": "!!", "bad": "!!"}


def _seconds(ms: int) -> str:
    return f"{ms} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def echo_lines(results: Sequence[EchoResult], *, calling_ae: str) -> list[str]:
    width = max((len(r.node.name) for r in results), default=4)
    address = max((len(r.node.address) for r in results), default=4)
    lines = []
    for r in results:
        head = f"{r.node.name:<{width}}  {r.node.address:<{address}}  "
        if r.ok:
            lines.append(f"{head}ok in {_seconds(r.ms)}")
        else:
            assert r.failure is not None
            lines.append(f"{head}FAILED: {r.failure.message}")
            if r.failure.hint:
                lines.append(" " * len(head) + r.failure.hint)
    ok = sum(1 for r in results if r.ok)
    lines.append(f"{ok} of {plural(len(results), 'node')} answered (C-ECHO from {calling_ae}).")
    return lines


def _study(study: StudyInfo) -> str:
    counts = []
    if study.series_count is not None:
        counts.append(plural(study.series_count, "series"))
    if study.instance_count is not None:
        counts.append(("at least " if not study.counts_exact else "") + plural(study.instance_count, "image"))
    else:
        counts.append("image count not available")
    parts = [study.accession or "(no accession)", study.pretty_date or "(no date)", "/".join(study.modalities) or "-",
             study.description[:50] or "-", ", ".join(counts) + (" (counted)" if study.counts_from == "counted" else "")]
    return "  ".join(parts)


def _node(node: NodeLocate) -> list[str]:
    head = f"{node.node.name} ({node.node.kind}, {node.node.address})"
    if node.failure is not None:
        out = [f"{head} — could not check ({_seconds(node.ms)}): {node.failure.message}"]
        if node.failure.hint:
            out.append(f"    {node.failure.hint}")
        return out
    if not node.studies:
        out = [f"{head} — not found ({_seconds(node.ms)})"]
    else:
        out = [f"{head} — {plural(len(node.studies), 'study')} ({_seconds(node.ms)})"]
        out.extend(f"    {_study(s)}" for s in node.studies)
    out.extend(f"    same patient and date, another accession: {_study(s)}" for s in node.siblings)
    if node.truncated:
        out.append("    (answer cut short: " + ("the node's own result limit)" if node.truncated_by == "node" else "past the match limit, query cancelled)"))
    return out


def locate_lines(report: LocateReport, *, calling_ae: str, phi: bool = False, patient_id: str | None = None) -> list[str]:
    verdict = report.verdict
    lines = [verdict.headline]
    lines.extend(f"  {MARK[f.severity]} " + ("To search by patient instead: pacsbot locate --patient <id> --date YYYYMMDD."
                                             if f.hint == PATIENT_SEARCH else f.text) for f in verdict.findings)
    if phi:
        study = next((s for n in report.nodes for s in (*n.studies, *n.siblings) if s.patient_name or s.birth_date), None)
        if study is not None:
            born = study.birth_date or ""
            born = f"{born[:4]}-{born[4:6]}-{born[6:]}" if len(born) == 8 else born
            lines.append(f"  Patient: {study.patient_name or '?'}, born {born or '?'}, ID {patient_id or study.patient_id}")
    lines.append("")
    for node in report.nodes:
        lines.extend(_node(node))
    lines.append("")
    lines.append(f"Read-only C-FIND from {calling_ae} for {report.query_text}; at most {report.cap} matches per node; "
                 f"{_seconds(report.ms)} in all.")
    return lines
