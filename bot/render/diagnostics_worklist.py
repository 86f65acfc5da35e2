"""``/pacs worklist``: the verdict in plain words, then each worklist node's orders.

Patient ID and name appear only when the report was asked with ``want_phi`` (admins, in a
private reply, where ``dicom.show_phi`` allows it).
"""

from __future__ import annotations

from pacsbot.bot.render.blocks import MAX_BLOCKS_MESSAGE, MAX_SECTION_TEXT, Block, clip, context, divider, escape, section
from pacsbot.bot.render.diagnostics import ICON, _seconds
from pacsbot.commands.results import NodeWorklist, ScheduledItem, WorklistReport

MAX_ORDERS_SHOWN = 25  # per node; the rest is counted


def worklist_blocks(report: WorklistReport, *, calling_ae: str, phi: bool = False) -> tuple[str, list[Block]]:
    verdict = report.verdict
    blocks: list[Block] = [section(f"{ICON[verdict.severity]} *{escape(verdict.headline)}*")]
    lines = [f"{ICON[f.severity] if f.severity in ('warn', 'bad') else '•'} {escape(f.text)}" for f in verdict.findings[:20]]
    if lines:
        blocks.append(section(clip("\n".join(lines), MAX_SECTION_TEXT)))
    blocks.append(divider())
    for node in report.nodes:
        blocks.append(_node_section(node, phi=phi))
    blocks.append(context(f"Read-only: Modality Worklist C-FIND from `{escape(calling_ae)}` for {escape(report.query_text)} · "
                          f"at most {report.cap} orders per node · {_seconds(report.ms)} in all"))
    return verdict.headline, blocks[:MAX_BLOCKS_MESSAGE]


def _node_section(node: NodeWorklist, *, phi: bool) -> Block:
    title = f"*{escape(node.node.name)}* ({escape(node.node.address)})"
    if node.failure is not None:
        return section(f"{title}: :red_circle: could not be asked — {escape(str(node.failure))}")
    count = f"{len(node.items)}{'+' if node.truncated else ''} {'order' if len(node.items) == 1 else 'orders'}"
    lines = [f"{title}: {count} in {node.ms} ms"]
    lines += [_order_line(item, phi=phi) for item in node.items[:MAX_ORDERS_SHOWN]]
    if len(node.items) > MAX_ORDERS_SHOWN:
        lines.append(f"… and {len(node.items) - MAX_ORDERS_SHOWN} more (`pacsbot worklist … --json` lists them all)")
    return section(clip("\n".join(lines), MAX_SECTION_TEXT))


def _order_line(item: ScheduledItem, *, phi: bool) -> str:
    station = item.station_ae or f"any {item.modality}"
    if item.station_name:
        station += f" ({item.station_name})"
    parts = [escape(f"{item.pretty_date} {item.pretty_time or '--:--'}"), escape(item.modality or "?"), escape(station),
             f"`{escape(item.accession)}`" if item.accession else "(no accession)", escape(item.procedure or item.step)]
    if item.status and item.status != "SCHEDULED":
        parts.append(f"[{escape(item.status.lower())}]")
    line = "• " + " · ".join(p for p in parts if p)
    if phi and (item.patient_id or item.patient_name):
        line += f" · patient {escape(item.patient_id or '?')} {escape(item.patient_name or '')}".rstrip()
    return line
