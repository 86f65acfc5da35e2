"""The privacy gate end to end: the PHI corpus through every path that writes where others read.

A real Bolt app on a real database answers signed requests; every Web API call lands in the
mock Slack. For each corpus message, driven through one of the paths (report command, report
form, message shortcut, :ticket: reaction, mention, channel message, DM, note, resolution and
reopen, "Share in channel", outage alert), the test collects what the bot wrote where others
can read it — ``chat.postMessage``/``chat.update`` (channels, threads, DMs), files in channels,
in-channel replies — and checks that none of the message's patient identifiers is there, while
its accession numbers, node names, AE titles and times are. Ticket exports, webhooks, SLA
reminders and the daily digest are checked the same way.
"""

from __future__ import annotations

import http.server
import json
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from pacsbot.bot.models import AuditEntry
from pacsbot.bot.privacy_gate import PUBLIC_METHODS
from pacsbot.bot.slackmock import MockSlack
from pacsbot.bot.storage import Database
from pacsbot.tickets.export import export_csv
from pacsbot.tickets.intake import CATEGORY_LABELS, summarize
from pacsbot.tickets.models import Ticket
from tests.harness import ADMIN, CLINICIAN, TECH, Harness, make_settings, texts_of
from tests.phi_corpus import SEEN_IDS, SEEN_NAMES, SITE_PATTERNS, Item, corpus

MANUALS = Path(__file__).resolve().parents[2] / "knowledge" / "manuals"
QUEUE = "C0PACSQUE"
ADMIN_CHANNEL = "C0PACSADM"
WARD = "C0RADIOLO"
_TOKEN = re.compile(r"[A-Za-z0-9]+")


def _settings(tmp_path: Any, db: Database, webhook_url: str | None = None, outage_reports: int = 1000) -> Any:
    queue: dict[str, Any] = {"name": "pacs", "channel": QUEUE}
    if webhook_url:
        queue["webhook"] = {"url": webhook_url}
    return make_settings(
        tmp_path, db.url,
        tickets={"default_queue": QUEUE, "admin_channel": ADMIN_CHANNEL, "queues": [queue],
                 "rules": [{"name": "all", "match": {"category": list(CATEGORY_LABELS)}, "queue": "pacs"}],
                 "outage": {"reports": outage_reports, "minutes": 15}},
        privacy={"identifier_patterns": SITE_PATTERNS},
        dicom={"ae_title": "PACSBOT"},
    )


class _Receiver(http.server.BaseHTTPRequestHandler):
    bodies: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        length = int(self.headers.get("Content-Length") or 0)
        _Receiver.bodies.append(json.loads(self.rfile.read(length) or b"{}"))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def webhook() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory, webhook: str) -> Iterator[Harness]:
    tmp = tmp_path_factory.mktemp("privacy")
    db = Database(f"sqlite:///{tmp / 'privacy.db'}")
    with MockSlack(token="xoxb-test-token") as mock:
        for user, handle in ((ADMIN, "alex.admin"), (CLINICIAN, "dr.rhea"), (TECH, "tom.tech")):
            mock.add_user(user, handle, real_name=handle)
        h = Harness(_settings(tmp, db, webhook), db, mock)
        h.services.privacy.remember(SEEN_IDS, SEEN_NAMES)  # as a locate in Slack would have
        yield h
        h.close()
    db.dispose()


# ----------------------------------------------------------------------------------------
# what others can read


def public_text(mock: MockSlack, since: int) -> str:
    """Everything the bot wrote, from call number ``since`` on, where someone other than the
    asker can read it."""
    parts: list[str] = []
    for call in mock.calls[since:]:
        params = call.params
        if call.method in PUBLIC_METHODS or (call.method == "response_url" and params.get("response_type") == "in_channel"):
            parts.append(json.dumps({k: v for k, v in params.items() if k not in ("url", "token")}, ensure_ascii=False))
    return "\n".join(parts)


def leaked(item: Item, output: str, baseline: Counter[str]) -> list[str]:
    """The identifiers of ``item`` seen in ``output``: whole, or by a word of 3+ letters/digits
    that neither the rest of the message nor the bot's own words for this path explain."""
    rest = item.text
    for ident in sorted(item.identifiers, key=len, reverse=True):
        rest = rest.replace(ident, " ")
    around = Counter(t.upper() for t in _TOKEN.findall(rest))
    seen = Counter(t.upper() for t in _TOKEN.findall(output))
    bad = []
    for ident in item.identifiers:
        if ident.lower() in output.lower():
            bad.append(ident)
            continue
        words = [w.upper() for w in _TOKEN.findall(ident) if len(w) >= 3]
        if any(seen[w] > 0 and around[w] == 0 and baseline[w] == 0 for w in words):
            bad.append(ident)
    return bad


def missing_keep(item: Item, output: str) -> list[str]:
    return [k for k in item.keep if k.lower() not in output.lower()]


# ----------------------------------------------------------------------------------------
# the paths

Driver = Callable[[Harness, str, int], None]


def _tickets(h: Harness) -> list[Ticket]:
    with h.services.db.session() as s:
        return list(s.scalars(select(Ticket).order_by(Ticket.id)))


def _card(h: Harness, ticket: Ticket) -> dict[str, Any]:
    return next(m for m in h.mock.messages[ticket.channel] if m["ts"] == ticket.card_ts)


def _click(h: Harness, user: str, action: str, ticket: Ticket) -> None:
    h.send(h.sim.block_action(user, {"action_id": f"{action}:{ticket.id}", "value": str(ticket.id)}, channel_id=QUEUE,
                              message=_card(h, ticket)))
    h.drain()


def _submit_last_view(h: Harness, user: str, values: dict[str, Any], n: int) -> None:
    view = h.mock.calls_to("views.open")[-1].params["view"]
    h.send(h.sim.view_submission(user, {**view, "id": f"V0P{n:06d}"}, values))
    h.drain()


def _form_values(description: str) -> dict[str, Any]:
    return {
        "category": {"category": {"type": "static_select", "selected_option": {"value": "missing_images"}}},
        "urgency": {"urgency": {"type": "radio_buttons", "selected_option": {"value": "routine"}}},
        "accession": {"accession": {"type": "plain_text_input", "value": ""}},
        "modality": {"modality": {"type": "static_select", "selected_option": None}},
        "location": {"location": {"type": "plain_text_input", "value": ""}},
        "description": {"description": {"type": "plain_text_input", "value": description}},
    }


def report_command(h: Harness, text: str, n: int) -> None:
    h.command(TECH, f"report {text}")
    h.drain()


def report_form(h: Harness, text: str, n: int) -> None:
    h.command(CLINICIAN, "report")
    h.drain()
    _submit_last_view(h, CLINICIAN, _form_values(text), n)


def message_shortcut(h: Harness, text: str, n: int) -> None:
    message = h.mock.post_as_user(CLINICIAN, WARD, text)
    h.send(h.sim.message_shortcut(ADMIN, "ticket_from_message", channel_id=WARD, message=message))
    h.drain()
    view = h.mock.calls_to("views.open")[-1].params["view"]
    description = next(b for b in view["blocks"] if b.get("block_id") == "description")["element"]["initial_value"]
    _submit_last_view(h, ADMIN, _form_values(description), n)


def reaction(h: Harness, text: str, n: int) -> None:
    message = h.mock.post_as_user(CLINICIAN, WARD, text)
    event = {"type": "reaction_added", "user": TECH, "reaction": "ticket", "item": {"type": "message", "channel": WARD, "ts": message["ts"]}}
    h.send(h.sim.event(event, event_id=f"Ev0PR{n:07d}"))
    h.drain()


def mention(h: Harness, text: str, n: int) -> None:
    h.send(h.sim.mention_event(CLINICIAN, f"how do I find {text}", channel_id=WARD))
    h.drain()


def channel_message(h: Harness, text: str, n: int) -> None:
    h.send(h.sim.message_event(TECH, f"pacs is slow today, {text}", channel_id=WARD))
    h.drain()


def direct_message(h: Harness, text: str, n: int) -> None:
    h.send(h.sim.message_event(CLINICIAN, f"where are the images for {text}", channel_id="D0RHEA001", channel_type="im"))
    h.drain()


_OWN_TICKETS: dict[str, int] = {}


def _own_ticket(h: Harness, key: str, report: str) -> Ticket:
    """One ticket per path, filed once and reused (a second identical report would be linked)."""
    if key not in _OWN_TICKETS:
        h.command(TECH, f"report {report}")
        h.drain()
        _OWN_TICKETS[key] = _tickets(h)[-1].id
    return next(t for t in _tickets(h) if t.id == _OWN_TICKETS[key])


def note(h: Harness, text: str, n: int) -> None:
    ticket = _own_ticket(h, "note", "viewer frozen in reading room 3 since the upgrade")
    _click(h, ADMIN, "ticket_note", ticket)
    _submit_last_view(h, ADMIN, {"note": {"note": {"type": "plain_text_input", "value": text}},
                                 "visibility": {"visibility": {"type": "radio_buttons", "selected_option": {"value": "public"}}}}, n)


def resolve_and_reopen(h: Harness, text: str, n: int) -> None:
    ticket = _own_ticket(h, "resolve", "login page for the dictation system loops back")
    _click(h, ADMIN, "ticket_resolve", ticket)
    _submit_last_view(h, ADMIN, {"resolution": {"resolution": {"type": "plain_text_input", "value": text}}}, n)
    _click(h, ADMIN, "ticket_reopen", ticket)


def share(h: Harness, text: str, n: int) -> None:
    body = h.command(CLINICIAN, f"ask how do I resend a series from the CT to PACS {text}").json() or {}
    h.drain()
    buttons = [e for b in body.get("blocks", []) if b.get("type") == "actions" for e in b["elements"] if e.get("action_id") == "kb_share"]
    if buttons:
        h.send(h.sim.block_action(CLINICIAN, {"action_id": "kb_share", "value": buttons[0]["value"]}, channel_id=WARD))
        h.drain()


PATHS: dict[str, Driver] = {
    "report command": report_command, "report form": report_form, "message shortcut": message_shortcut,
    "reaction": reaction, "mention": mention, "channel message": channel_message, "direct message": direct_message,
    "note": note, "resolution and reopen": resolve_and_reopen, "share in channel": share,
}
CLEAN = "CT2 images for acc A7001 not on pacs at 14:30"


@pytest.fixture(scope="module")
def outcome(bot: Harness) -> dict[str, Any]:
    """Drive the corpus through the paths (round robin) and keep what others could read."""
    h = bot
    items = corpus()
    # The bot's own words: what each path writes for a message without patient data, and the
    # manuals it quotes (a manual may name the test patient ZZTEST).
    manuals = Counter(t.upper() for path in MANUALS.rglob("*.md") for t in _TOKEN.findall(path.read_text(encoding="utf-8")))
    baselines: dict[str, Counter[str]] = {}
    for name, drive in PATHS.items():
        since = len(h.mock.calls)
        drive(h, CLEAN, 900000 + len(baselines))
        baselines[name] = Counter(t.upper() for t in _TOKEN.findall(public_text(h.mock, since))) + manuals
    leaks: list[tuple[str, str, list[str]]] = []
    kept = total_keep = 0
    lost_keep: list[tuple[str, list[str]]] = []
    per_path: Counter[str] = Counter()
    public_calls = 0
    for n, item in enumerate(items):
        name = list(PATHS)[n % len(PATHS)]
        since = len(h.mock.calls)
        PATHS[name](h, item.text, n)
        output = public_text(h.mock, since)
        public_calls += len([c for c in h.mock.calls[since:] if c.method in PUBLIC_METHODS])
        per_path[name] += 1
        bad = leaked(item, output, baselines[name])
        if bad:
            where = [line[:300] for line in output.splitlines()
                     if any(w.lower() in line.lower() for b in bad for w in _TOKEN.findall(b) if len(w) >= 3)]
            leaks.append((name, item.text, bad, where[:2]))
        if name in ("report command", "report form", "message shortcut", "reaction") and output:
            # the report's card carries its summary: its accessions, nodes, AE titles and times must survive
            shown = summarize(item.text, 90)  # what a card or an "Also reported by" line has room for
            keep = [k for k in item.keep if k.lower() in shown.lower()]
            total_keep += len(keep)
            lost = missing_keep(Item(item.text, item.identifiers, tuple(keep)), output)
            kept += len(keep) - len(lost)
            if lost:
                lost_keep.append((item.text, lost))
    return {"items": items, "leaks": leaks, "kept": kept, "total_keep": total_keep, "per_path": per_path,
            "public_calls": public_calls, "lost_keep": lost_keep}


def test_no_identifier_reaches_a_channel_on_any_path(outcome: dict[str, Any]) -> None:
    assert len(outcome["items"]) >= 500
    assert all(count >= 40 for count in outcome["per_path"].values()), outcome["per_path"]
    assert outcome["public_calls"] > len(outcome["items"])  # the paths really wrote to channels
    shown = "\n".join(f"{path}: {text!r} leaked {bad} in {where}" for path, text, bad, where in outcome["leaks"][:20])
    assert outcome["leaks"] == [], f"{len(outcome['leaks'])} messages leaked:\n{shown}"


def test_accessions_nodes_and_times_survive_on_cards(outcome: dict[str, Any]) -> None:
    assert outcome["total_keep"] > 100
    rate = outcome["kept"] / outcome["total_keep"]
    assert rate >= 0.99, f"only {rate:.1%} of accession numbers, node names, AE titles and times survived: {outcome['lost_keep'][:10]}"


def test_the_author_is_nudged_privately_and_it_is_audited(bot: Harness, outcome: dict[str, Any]) -> None:
    h = bot
    since = len(h.mock.calls)
    h.send(h.sim.message_event(TECH, "CT for ZZTEST^FAKE0042 DOB 19940101 is missing, acc A1002", channel_id=WARD))
    h.drain()
    nudges = [c.params for c in h.mock.calls[since:] if c.method == "chat.postEphemeral"]
    assert len(nudges) == 1 and nudges[0]["user"] == TECH and nudges[0]["channel"] == WARD
    assert "patient details (name, date" in nudges[0]["text"] and "not the place" in nudges[0]["text"]
    assert "FAKE0042" not in public_text(h.mock, since)
    with h.services.db.session() as s:
        rows = list(s.scalars(select(AuditEntry).where(AuditEntry.action == "privacy.nudge")))
    assert rows and all("FAKE0042" not in json.dumps(r.details) for r in rows)
    # a message without patient data is left alone
    since = len(h.mock.calls)
    h.send(h.sim.message_event(TECH, "CT2 is sending again, acc A1002 arrived at 14:30", channel_id=WARD))
    h.drain()
    assert not [c for c in h.mock.calls[since:] if c.method == "chat.postEphemeral"]


def test_unknown_answers_in_a_channel_do_not_quote_the_question(bot: Harness, outcome: dict[str, Any]) -> None:
    h = bot
    since = len(h.mock.calls)
    h.send(h.sim.mention_event(CLINICIAN, "what is the wifi password in the cafeteria for Mary Jones", channel_id=WARD))
    h.drain()
    replies = [c.params for c in h.mock.calls[since:] if c.method == "chat.postMessage" and c.params.get("channel") == WARD]
    assert replies and "couldn't find" in texts_of(replies[-1]["blocks"])
    shown = replies[-1]["text"] + texts_of(replies[-1]["blocks"])
    assert "cafeteria" not in shown  # the question is right above; not repeated
    assert "Mary Jones" not in json.dumps(replies[-1])  # not even in a button's value


# the clock's own digits: a 6-digit test identifier can be a timestamp's microseconds by chance
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[+-]\d{2}:\d{2}|Z)?")


def test_ticket_export_and_webhooks_are_masked(bot: Harness, outcome: dict[str, Any]) -> None:
    h = bot
    identifiers = [i for item in outcome["items"] for i in item.identifiers]
    with h.services.db.session() as s:
        csv_text = _TIMESTAMP.sub("<time>", export_csv(s, "PACS", mask=lambda text: h.services.privacy.text(text, mrkdwn=False)))
        stored = " ".join(t.description for t in s.scalars(select(Ticket)))
    # the tickets themselves keep what was reported (the team needs it); the export does not
    assert sum(1 for i in identifiers if i in stored) > 100
    assert [i for i in identifiers if len(i) > 5 and i in csv_text] == []
    job = h.services.registry.jobs["ticket-webhooks"]
    for _round in range(40):
        if not job.run(h.services):
            break
    bodies = _TIMESTAMP.sub("<time>", json.dumps(_Receiver.bodies))
    assert len(_Receiver.bodies) > 100
    assert [i for i in identifiers if len(i) > 5 and i in bodies] == []


def test_broadcasts_and_disguised_links_are_not_echoed(bot: Harness) -> None:
    h = bot
    since = len(h.mock.calls)
    h.command(TECH, "report <!channel> <!here> <!everyone> <!subteam^S0EVIL001|@everyone-else> viewer frozen "
                    "<http://evil.example|click here for the fix>")
    h.drain()
    output = public_text(h.mock, since)
    assert output
    for ping in ("<!channel>", "<!here>", "<!everyone>", "<!subteam^S0EVIL001"):
        assert ping not in output
    assert "<http://evil.example|" not in output


def test_the_weekly_report_after_the_corpus_names_nobody(bot: Harness, outcome: dict[str, Any]) -> None:
    from pacsbot.bot.features.report import post_weekly
    from pacsbot.reports.weekly import parse_week

    h = bot
    since = len(h.mock.calls)
    week = parse_week("this", now=h.services.clock.now(), tz=h.services.settings.timezone)
    report = post_weekly(h.services, week, ADMIN_CHANNEL)
    assert report.tickets  # the corpus's tickets are in it
    output = public_text(h.mock, since)
    assert "weekly report" in output.lower()
    identifiers = [i for item in outcome["items"] for i in item.identifiers if len(i) > 5]
    assert [i for i in identifiers if i in output] == []


def test_sla_reminders_and_the_digest_after_the_corpus_name_nobody(bot: Harness, outcome: dict[str, Any]) -> None:
    from datetime import timedelta

    from pacsbot.bot.outbox import get_outbox
    from pacsbot.core.clock import ManualClock

    h = bot
    before = h.services.clock
    day = before.now() + timedelta(days=5)  # every open ticket is past its acknowledge target
    while day.weekday() >= 5:
        day += timedelta(days=1)
    h.services.clock = ManualClock(day.replace(hour=7, minute=0, second=0, microsecond=0))  # working hours begin (UTC)
    try:
        since = len(h.mock.calls)
        assert h.services.registry.jobs["ticket-sla"].run(h.services) > 100
        assert h.services.registry.jobs["ticket-digest"].run(h.services) == 1
        h.drain()
        get_outbox(h.services).drain()
        output = public_text(h.mock, since)
    finally:
        h.services.clock = before
    assert "overdue since" in output and "Daily ticket digest" in output
    identifiers = [i for item in outcome["items"] for i in item.identifiers if len(i) > 5]
    assert [i for i in identifiers if i in output] == []
