"""DICOM diagnostics -> Block Kit. Pure functions over :mod:`commands.results`.

PHI rule: patient name, birth date and ID appear only when the caller passes ``phi=True``,
which ``bot.features.diagnostics`` does only for a private reply to an admin, and never in
the fallback ``text`` (Slack shows it in notifications, on lock screens).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pacsbot.bot.render.blocks import MAX_BLOCKS_MESSAGE, Block, context, divider, escape, section
from pacsbot.commands.results import EchoResult, LocateReport, NodeLocate, NodeRef, StudyInfo
from pacsbot.commands.store import LastEcho
from pacsbot.commands.verdict import PATIENT_SEARCH, plural, total_images

ICON = {"ok": ":white_check_mark:", "info": ":information_source:", "warn": ":warning:", "bad": ":red_circle:"}
MAX_STUDY_LINES = 12


def _kind(node: NodeRef) -> str:
    return {"pacs": "PACS", "vna": "VNA", "modality": "modality", "router": "router"}.get(node.kind, "node")


def _node_label(node: NodeRef) -> str:
    lock = " :lock:" if node.tls else ""
    return f"*{escape(node.name)}* ({_kind(node)}, `{escape(node.address)}`{lock})"


def _seconds(ms: int) -> str:
    return f"{ms} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


# ----------------------------------------------------------------------------------------
# echo


def echo_line(result: EchoResult) -> str:
    if result.ok:
        return f":white_check_mark: *{escape(result.node.name)}* ok in {_seconds(result.ms)}"
    assert result.failure is not None
    line = f":x: *{escape(result.node.name)}* — {escape(result.failure.message)}"
    if result.failure.hint:
        line += f"\n      _{escape(result.failure.hint)}_"
    return line


def echo_blocks(results: Sequence[EchoResult], *, calling_ae: str) -> tuple[str, list[Block]]:
    ok = sum(1 for r in results if r.ok)
    if len(results) < 2:
        summary = ""
    elif ok == len(results):
        summary = "Both nodes answered." if ok == 2 else f"All {ok} nodes answered."
    else:
        summary = f"{ok} of {len(results)} nodes answered."
    text = "Echo: " + "; ".join(
        f"{r.node.name} ok ({_seconds(r.ms)})" if r.ok else f"{r.node.name} failed: {r.failure.message if r.failure else ''}"
        for r in results
    )
    blocks: list[Block] = [section("\n".join(echo_line(r) for r in results[:40]))]
    blocks.append(context(" ".join(p for p in (summary, f"C-ECHO from `{escape(calling_ae)}` — it changes nothing on the node.") if p)))
    return text, blocks


def pending_line(names: Sequence[str], seconds: float) -> str:
    return f":hourglass_flowing_sand: still waiting for {', '.join(f'*{escape(n)}*' for n in names)} (gives up after {seconds:g} s)"


def echo_interim_blocks(done: Sequence[EchoResult], pending: Sequence[str], wait_seconds: float) -> tuple[str, list[Block]]:
    text = "So far: " + "; ".join(f"{r.node.name} {'ok' if r.ok else 'failed'}" for r in done) + f"; waiting for {', '.join(pending)}"
    return text, [section("\n".join([*(echo_line(r) for r in done), pending_line(pending, wait_seconds)]))]


# ----------------------------------------------------------------------------------------
# nodes


def _ago(then: datetime, now: datetime) -> str:
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 90:
        return "just now" if seconds < 10 else f"{seconds} s ago"
    if seconds < 90 * 60:
        return f"{seconds // 60} min ago"
    if seconds < 36 * 3600:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


def nodes_blocks(nodes: Sequence[NodeRef], last: dict[str, LastEcho], *, now: datetime, calling_ae: str, demo: bool = False) -> tuple[str, list[Block]]:
    if not nodes:
        text = ("No DICOM nodes are configured. A PACS admin adds them under `dicom: nodes:` in the pacsbot "
                "configuration (see the admin guide).")
        return text, [section(text)]
    lines = []
    for node in nodes[:40]:
        echo = last.get(node.name)
        if echo is None:
            state = ":white_circle: never checked"
        elif echo.ok:
            state = f":large_green_circle: ok in {_seconds(echo.elapsed_ms)}, {_ago(echo.checked_at, now)}"
        else:
            state = f":red_circle: {escape(echo.message)}, {_ago(echo.checked_at, now)}"
        description = f" — {escape(node.description)}" if node.description else ""
        lines.append(f"{_node_label(node)}{description}\n      last echo: {state}")
    text = f"{plural(len(nodes), 'DICOM node')}: " + ", ".join(n.name for n in nodes)
    footer = f"pacsbot calls as `{escape(calling_ae)}`. Check them now: `/pacs echo all`."
    if demo:
        footer += " These are demo nodes with synthetic data."
    return text, [section("\n".join(lines)), context(footer)]


# ----------------------------------------------------------------------------------------
# locate


def _study_line(study: StudyInfo) -> str:
    parts = [f"`{escape(study.accession or 'no accession')}`", study.pretty_date or "no date"]
    if study.modalities:
        parts.append("/".join(escape(m) for m in study.modalities))
    if study.description:
        parts.append(escape(study.description[:60]))
    counts = []
    if study.series_count is not None:
        counts.append(plural(study.series_count, "series"))
    if study.instance_count is not None:
        counts.append(("at least " if not study.counts_exact else "") + plural(study.instance_count, "image"))
    elif study.counts_from == "unknown":
        counts.append("image count not available")
    line = " · ".join(parts)
    if counts:
        line += " — " + ", ".join(counts)
        if study.counts_from == "counted":
            line += " (counted)"
    return line


def _node_section(node: NodeLocate, *, by_patient: bool) -> Block:
    head = _node_label(node.node)
    if node.failure is not None:
        body = f":x: {escape(node.failure.message)}"
        if node.failure.hint:
            body += f"\n_{escape(node.failure.hint)}_"
        return section(f"{head} — could not check ({_seconds(node.ms)})\n{body}")
    if not node.studies:
        text = f"{head} — not found ({_seconds(node.ms)})"
        if node.siblings:
            lines = [f"• same patient and date, another accession: {_study_line(s)}" for s in node.siblings[:5]]
            text += "\n" + "\n".join(lines)
        return section(text)
    count = len(node.studies)
    found = "found" if not by_patient else f"{plural(count, 'study')}"
    total = total_images(node.studies)
    if by_patient or count > 1:
        summary = f"{found}" + (f", {plural(total, 'image')}" if total is not None and not by_patient else "")
    else:
        summary = "found"
    lines = [f"• {_study_line(s)}" for s in node.studies[:MAX_STUDY_LINES]]
    if count > MAX_STUDY_LINES:
        lines.append(f"• … and {count - MAX_STUDY_LINES} more")
    for sibling in node.siblings[:5]:
        lines.append(f"• same patient and date, another accession: {_study_line(sibling)}")
    if node.truncated:
        lines.append(":warning: _the answer was cut short_ " + ("(its own result limit)" if node.truncated_by == "node" else "(past the match limit)"))
    return section(f"{head} — {summary} ({_seconds(node.ms)})\n" + "\n".join(lines))


def _patient_block(report: LocateReport, patient_id: str | None) -> Block | None:
    study = next((s for n in report.nodes for s in (*n.studies, *n.siblings) if s.patient_name or s.birth_date), None)
    if study is None and not patient_id:
        return None
    parts = []
    if study is not None and study.patient_name:
        parts.append(escape(study.patient_name.replace("^", ", ").strip(", ")))
    if study is not None and study.birth_date and len(study.birth_date) == 8:
        parts.append(f"born {study.birth_date[:4]}-{study.birth_date[4:6]}-{study.birth_date[6:]}")
    pid = patient_id or (study.patient_id if study is not None else "")
    if pid:
        parts.append(f"ID {escape(pid)}")
    if not parts:
        return None
    return context(":bust_in_silhouette: Patient: " + " · ".join(parts) + " — _visible only to you_")


def locate_blocks(report: LocateReport, *, calling_ae: str, phi: bool = False, patient_id: str | None = None,
                  patient_search: bool = False) -> tuple[str, list[Block]]:
    """``patient_search``: the reader may search by patient, so the tip to do so is shown."""
    verdict = report.verdict
    text = f"{verdict.headline}"  # PHI-free: also the notification text
    blocks: list[Block] = [section(f"{ICON[verdict.severity]} *{escape(verdict.headline)}*")]
    lines = []
    for f in verdict.findings[:20]:
        if f.hint == PATIENT_SEARCH:
            if patient_search:
                lines.append("• To search by patient instead: `/pacs locate --patient <id> --date YYYYMMDD`.")
            continue
        lines.append(f"{ICON[f.severity] if f.severity in ('warn', 'bad') else '•'} {escape(f.text)}")
    if lines:
        blocks.append(section("\n".join(lines)))
    if phi:
        patient = _patient_block(report, patient_id)
        if patient is not None:
            blocks.append(patient)
    blocks.append(divider())
    for node in report.nodes:
        blocks.append(_node_section(node, by_patient=report.by_patient))
    blocks.append(context(
        f"Read-only: C-FIND from `{escape(calling_ae)}` for {escape(report.query_text)} · "
        f"at most {report.cap} matches per node · {_seconds(report.ms)} in all"
    ))
    return text, blocks[:MAX_BLOCKS_MESSAGE]


def locate_interim_blocks(done: Sequence[NodeLocate], pending: Sequence[str], wait_seconds: float, *, by_patient: bool) -> tuple[str, list[Block]]:
    text = "So far: " + "; ".join(f"{n.node.name} {'found' if n.found else 'not found' if n.ok else 'failed'}" for n in done)
    blocks: list[Block] = [section("*First answers* (the verdict follows when every node has answered):")]
    blocks.extend(_node_section(n, by_patient=by_patient) for n in done)
    blocks.append(section(pending_line(pending, wait_seconds)))
    return text, blocks
