"""Words and blocks of the node watch: alerts, /pacs status, downtime notices, outage notices.

Pure functions. Times are shown in the site's time zone; texts for clinicians stay short and calm.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pacsbot.bot.render.blocks import Block, clip, context, escape, section
from pacsbot.commands.config import NodeConfig
from pacsbot.commands.downtime import DowntimeView
from pacsbot.commands.outage import Affected
from pacsbot.commands.results import EchoResult
from pacsbot.commands.watch import Transition, duration_words, local_time, node_label
from pacsbot.commands.watch_store import NodeView
from pacsbot.core.privacy import vouch


def label_of(node: NodeConfig) -> str:
    return node_label(node.name, node.kind)


def down_alert(node: NodeConfig, t: Transition, result: EchoResult, ticket_ref: str | None, *, tz: str, checks: int) -> str:
    reason = result.failure.message if result.failure else "no answer"
    ticket = f" Outage ticket *{ticket_ref}*." if ticket_ref else ""
    return (f":red_circle: *{label_of(node)}* is down since {local_time(t.since, tz, t.at)}: {escape(reason)} "
            f"({checks} DICOM echoes in a row failed).{ticket}")


def up_alert(node: NodeConfig, t: Transition, ticket_ref: str | None, *, tz: str) -> str:
    ticket = f" A note was added to *{ticket_ref}*; resolve it when you are happy." if ticket_ref else ""
    return (f":large_green_circle: *{label_of(node)}* is back up after {duration_words(t.outage)} "
            f"(down since {local_time(t.since, tz, t.at)}).{ticket}")


def window(d: DowntimeView, tz: str, now: datetime) -> str:
    start = local_time(d.starts_at, tz, now)
    end = local_time(d.ends_at, tz, d.starts_at)
    return f"{start} to {end} ({duration_words(d.ends_at - d.starts_at)})"


def dated(when: datetime, tz: str, now: datetime) -> str:
    """``Tue 8 Dec 22:00`` in the site's time zone, with the year when it is not ``now``'s.
    Vouched: a date the bot states, not a patient's birth date."""
    zone = ZoneInfo(tz)
    local = when.astimezone(zone)
    year = f" {local.year}" if local.year != now.astimezone(zone).year else ""
    return vouch(f"{local:%a} {local.day} {local:%b}{year} {local:%H:%M}")


def notice_window(d: DowntimeView, tz: str, now: datetime) -> str:
    """``Tue 8 Dec 22:00 – 23:30 (Europe/Zurich)``; the end's date too when it is another day.
    Announcements are read in advance and forwarded, so they always carry the date and zone."""
    zone = ZoneInfo(tz)
    same_day = d.starts_at.astimezone(zone).date() == d.ends_at.astimezone(zone).date()
    end = f"{d.ends_at.astimezone(zone):%H:%M}" if same_day else dated(d.ends_at, tz, now)
    return f"{dated(d.starts_at, tz, now)} – {end} ({tz})"


def downtime_notice(kind: str, node: NodeConfig, d: DowntimeView, *, tz: str, now: datetime) -> str:
    """What is posted in the downtime channels: announced, reminded, started, ended, cancelled.
    Every notice states the weekday, the date and the time zone."""
    label, reason, when = label_of(node), escape(d.reason), notice_window(d, tz, now)
    if kind == "announce":
        return (f":wrench: Planned downtime of *{label}*: {when}, {duration_words(d.ends_at - d.starts_at)} — {reason}. "
                f"During it, follow the downtime procedure ({PROCEDURE_HINT}).")
    if kind == "reminder":
        return (f":alarm_clock: Reminder: planned downtime of *{label}* starts in {duration_words(d.starts_at - now)}: "
                f"{when} — {reason}.")
    if kind == "started":
        return f":wrench: Planned downtime of *{label}* has started, until {dated(d.ends_at, tz, now)} ({tz}) — {reason}."
    if kind == "ended":
        return f":white_check_mark: Planned downtime of *{label}* is over. It was planned for {when}."
    if kind == "cancelled":
        return f":information_source: Planned downtime #{d.id} of *{label}*, {when}, is cancelled."
    raise ValueError(kind)


def downtime_list(items: Sequence[DowntimeView], labels: dict[str, str], *, tz: str, now: datetime) -> tuple[str, list[Block]]:
    if not items:
        text = "No planned downtime is coming up."
        return text, [section(text)]
    lines = []
    for d in items:
        state = " — *now*" if d.current(now) else ""
        lines.append(f"• #{d.id} *{labels.get(d.node, d.node)}* {window(d, tz, now)}{state}: {escape(d.reason)}")
    text = f"Planned downtime: {len(items)}"
    return text, [section("*Planned downtime*\n" + "\n".join(lines))]


def node_line(node: NodeConfig, view: NodeView | None, planned: DowntimeView | None, ticket_ref: str | None, *,
              admin: bool, tz: str, now: datetime) -> str:
    label = f"*{label_of(node)}*"
    if not node.watch:
        return f":white_circle: {label} is not watched"
    if view is None or view.state == "unknown":
        state = f":white_circle: {label} not checked yet"
    elif view.state == "down":
        team = f" — the PACS team is on it ({ticket_ref})" if ticket_ref else " — the PACS team is on it"
        state = f":red_circle: {label} down since {local_time(view.since or now, tz, now)}{team}"
    else:
        state = f":large_green_circle: {label} working"
    if planned is not None:
        state += f"\n      :wrench: planned downtime until {local_time(planned.ends_at, tz, now)}: {escape(planned.reason)}"
    if admin and view is not None and view.last_check_at is not None:
        details = [f"`{node.name}`"]
        if view.last_ok:
            details.append(f"{view.last_elapsed_ms} ms")
        elif view.last_ok is False:
            details.append(f"last echo failed: {escape(clip(view.last_message, 120))}")
        if view.last_change_at:
            details.append(f"last change {local_time(view.last_change_at, tz, now)}")
        details.append(f"checked {local_time(view.last_check_at, tz, now)}")
        state += "\n      " + " · ".join(details)
    return state


def status_blocks(lines: Sequence[str], upcoming: Sequence[DowntimeView], labels: dict[str, str], *, tz: str,
                  now: datetime, watching: bool, admin: bool, title: str = "*System status*") -> tuple[str, list[Block]]:
    if not lines:
        text = "No DICOM nodes are configured, so there is nothing to show."
        return text, [section(text)]
    down = sum(1 for line in lines if line.startswith(":red_circle:"))
    text = "Everything is working." if not down else f"{down} system{'s are' if down > 1 else ' is'} down."
    blocks: list[Block] = [section(title + "\n" + "\n".join(lines))]
    if upcoming:
        blocks.extend(downtime_list(upcoming, labels, tz=tz, now=now)[1])
    if not watching and admin:
        blocks.append(context("The node watch is off (`dicom.watch.enabled: false`): states are not updated."))
    else:
        blocks.append(context(f"As of {local_time(now, tz, now)}. Something not working for you? `/pacs report` it."))
    return text, blocks


def outage_text(items: Sequence[Affected], refs: dict[int, str], *, tz: str, now: datetime) -> str:
    lines = []
    for a in items:
        if a.why == "down":
            ref = f" — {refs[a.ticket]}" if a.ticket in refs else ""
            lines.append(f":rotating_light: {a.label} is down since {local_time(a.since, tz, now)}, the team is on it{ref}.")
        else:
            until = local_time(a.until, tz, now) if a.until else "later"
            lines.append(f":wrench: {a.label} is in planned downtime until {until} ({escape(a.reason)}).")
    return "\n".join(lines)


PROCEDURE_HINT = "`/pacs ask what do I do while PACS is down`"


def procedure_blocks(heading: str, excerpt: str, see_also: Sequence[str] = ()) -> list[Block]:
    """``excerpt`` is already mrkdwn (converted from the manual's markdown)."""
    more = f" See also: {', '.join(escape(h) for h in see_also)}." if see_also else ""
    return [section(f"*Meanwhile — {escape(heading)}*\n{clip(excerpt, 900)}"),
            context(f"The full procedure: {PROCEDURE_HINT}.{more}")]


def as_blocks(text: str, extra: list[Block]) -> list[dict[str, Any]]:
    return [section(text), *extra]
