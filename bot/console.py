"""``pacsbot console``: chat with the bot in a terminal, no Slack workspace needed.

The console plays Slack's part. What you type becomes the signed request Slack would send
(a slash command, a message event, a button click, a modal submission), dispatched to the
same Bolt app and listeners as in production; the bot's Web API calls go to an in-process
mock of the Slack Web API, and what the bot posts is printed as readable text. The database
is the configured one (a SQLite file by default), so what you do is really stored.
"""

from __future__ import annotations

import json
import re
import secrets
import shlex
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from rapidfuzz import fuzz, process
from slack_bolt.request import BoltRequest

from pacsbot.bot.access import Role
from pacsbot.bot.render.terminal import TerminalRenderer, mrkdwn_to_text
from pacsbot.bot.settings import Secrets, Settings
from pacsbot.bot.simulate import SignedRequest, Simulator
from pacsbot.bot.slackmock import BOT_USER_ID, MockSlack, Output

CONSOLE_TOKEN = "xoxb-console-local-only"


@dataclass(frozen=True)
class DemoUser:
    id: str
    handle: str
    name: str
    role: Role


DEMO_USERS = (
    DemoUser("U0ADMIN01", "alex.admin", "Alex Admin", Role.ADMIN),
    DemoUser("U0TRAIN01", "terry.trainer", "Terry Trainer", Role.TRAINER),
    DemoUser("U0RAD0001", "dr.rhea", "Dr. Rhea Radiologist", Role.CLINICIAN),
    DemoUser("U0TECH001", "tom.tech", "Tom Technologist", Role.CLINICIAN),
    DemoUser("U0RES0001", "dr.ravi", "Dr. Ravi Resident", Role.CLINICIAN),
)
DEMO_CHANNELS = {
    "C0GENERAL": "general",
    "C0PACSQUE": "pacs-queue",
    "C0PACSADM": "pacs-admin",
    "C0RADIOLO": "radiology",
}
DEMO_GROUPS = (
    ("S0ADMINS1", "pacs-admins", ["U0ADMIN01"]),
    ("S0ONCALL1", "pacs-oncall", ["U0ADMIN01"]),
    ("S0TRAINER", "trainers", ["U0TRAIN01"]),
    ("S0RESIDNT", "new-residents", ["U0RAD0001", "U0RES0001"]),
    ("S0TECHS01", "ct-techs", ["U0TECH001"]),
    ("S0RADIOLO", "radiologists", ["U0RAD0001"]),
)
# Who reads which manuals, when the configuration says nothing (roles.audiences): the console
# shows a radiologist and a technologist different downtime procedures.
DEMO_AUDIENCES = {"technologist": ["@ct-techs"], "radiologist": ["@radiologists", "S0RESIDNT"]}

HELP = """Console commands (anything else is sent as a message):
  /pacs ...            a slash command, e.g. /pacs help (@person, @group and #channel become mentions, as in Slack)
  1, :click N          press button N
  :click LABEL [on TEXT]  press the newest button labelled LABEL (on a message that mentions TEXT)
  :select N VALUE      pick VALUE in menu N
  :set KEY=VALUE ...   fill fields of the open window (KEY is the field id shown; "filled in" values are kept)
  :submit [KEY=VALUE]  submit the open window    :close   close it
  :fill                go through the open window field by field: Enter keeps what is filled in; then submit
  :as USER [ROLE]      act as someone else (U0ADMIN01, dr.rhea, tom.tech, ...; role admin|trainer|clinician)
  :in #CHANNEL         talk in a channel         :dm      talk to the bot in a DM
  :thread [TEXT]       reply in the thread of the newest message here (that mentions TEXT); :thread off to leave
  :shortcut NAME [on TEXT]  run a shortcut; a message shortcut acts on the newest message by a person here
                       (or the newest that mentions TEXT). Shortcuts: {shortcuts}
  :home                open the bot's App Home   :react EMOJI [on TEXT]   react to the last message here
  :users               list the demo users       :wait    wait for slow work and show it
  :node stop|start NAME  stop or start a demo DICOM node (vna, pacs) to see the watch alert and recover
  :tick [MINUTES] [EVERY]  move the console's clock on (default 5) and run the jobs that fall due
                       (node watch, downtime reminders, SLA reminders) every EVERY minutes (default 1)
  :time [DAY] HH:MM    move the clock on to the next HH:MM (site time zone), e.g. :time mon 07:50
  :why QUESTION        how the manuals search ranks QUESTION: mode, confidence (0-1) and the top 3
  :quit                leave (Ctrl-D too)
Mention the bot with @pacsbot in a channel; in a DM just type. Files pacsbot uploads are saved in {files}."""


MAX_TICK_MINUTES = 24 * 60
# An @name or #name as typed: not inside a word (an e-mail address) nor in an escape already made.
_TYPED_MENTION = re.compile(r"(?<![\w&<|^@#])([@#])([A-Za-z0-9][A-Za-z0-9._-]*)")


class ShiftedClock:
    """The system clock, plus however far ``:tick`` has moved it on (the console only)."""

    def __init__(self) -> None:
        self.offset = timedelta()
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(timezone.utc) + self.offset

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self.offset += delta


@dataclass
class ModalState:
    view: dict[str, Any]
    values: dict[str, Any] = field(default_factory=dict)


class Console:
    def __init__(
        self,
        settings: Settings,
        *,
        user: str = "U0ADMIN01",
        role: Role | None = None,
        channel: str = "C0GENERAL",
        out: TextIO | None = None,
        wait_seconds: float = 60.0,
        files_dir: Path | None = None,
    ):
        self.settings = _with_demo_channels(settings)
        # where the files pacsbot uploads (CSV exports, the weekly chart) are saved for you to open
        self.files_dir = (Path(files_dir) if files_dir is not None else self.settings.data_dir / "console-files").resolve()
        self.out = out or sys.stdout
        self.wait_seconds = wait_seconds
        self.signing_secret = secrets.token_hex(16)
        self.mock = MockSlack(token=CONSOLE_TOKEN)
        self.role_overrides: dict[str, Role] = {u.id: u.role for u in DEMO_USERS}
        self.user = self._resolve_user(user)
        if role is not None:
            self.role_overrides[self.user] = role
        self.channel = self._resolve_channel(channel)
        self.thread_ts: str | None = None  # the thread you reply in (:thread), in self.channel
        self.modals: dict[str, list[ModalState]] = {}
        self.renderer = TerminalRenderer(user_name=self._user_name, channel_name=self._channel_name, group_name=self._group_name)
        self._read: Callable[[str], str] | None = None  # input(), while run_interactive runs (for :fill)
        self._printed = 0
        self._print_lock = threading.Lock()
        self._watcher: threading.Thread | None = None
        self._stop = threading.Event()
        self.services: Any = None
        self.demo: Any = None  # demo DICOM nodes this console started (dicom.demo: auto)
        self.app: Any = None
        self.scheduler: Any = None
        self.sim: Simulator | None = None
        self.failures = 0
        self.clock = ShiftedClock()

    # set-up ------------------------------------------------------------------------------
    def start(self) -> "Console":
        from pacsbot.bot.app import build_app
        from pacsbot.bot.scheduler import Scheduler
        from pacsbot.bot.services import build_services
        from pacsbot.bot.slack_client import make_web_client
        from pacsbot.bot.storage import upgrade

        self.mock.start()
        for user in DEMO_USERS:
            self.mock.add_user(user.id, user.handle, real_name=user.name)
        for channel_id, name in DEMO_CHANNELS.items():
            self.mock.add_channel(channel_id, name, [u.id for u in DEMO_USERS])
        for group_id, handle, members in DEMO_GROUPS:
            self.mock.add_usergroup(group_id, handle, members)
        self._start_demo_nodes()
        secrets_ = Secrets(bot_token=CONSOLE_TOKEN, app_token=None, signing_secret=self.signing_secret, api_url=self.mock.api_url)
        self.services = build_services(
            self.settings,
            secrets_,
            client=make_web_client(CONSOLE_TOKEN, self.mock.api_url),
            role_overrides=self.role_overrides,
            clock=self.clock,
        )
        upgrade(self.services.db)
        self.app = build_app(self.services)
        self.sim = Simulator(self.signing_secret, response_url_base=self.mock.respond_base)
        self.scheduler = Scheduler(self.services, tick_seconds=15)
        self.scheduler.start()
        self._printed = self.mock.last_seq
        return self

    def close(self) -> None:
        self._stop.set()
        if self.scheduler is not None:
            self.scheduler.stop()
        if self.services is not None:
            self.services.close()
        demo = self.demo_network
        if demo is not None:
            demo.stop()
        self.mock.stop()

    def _start_demo_nodes(self) -> None:
        """``dicom.demo: auto`` and no nodes configured: run the demo nodes for this console."""
        from pacsbot.commands.demo import DemoNetwork, demo_wanted

        dicom = self.settings.dicom
        if dicom.demo == "auto" and demo_wanted(dicom, interactive=True):
            today = datetime.now(ZoneInfo(self.settings.timezone)).date()
            self.demo = DemoNetwork(worklist_day=today).start()
            dicom = dicom.model_copy(update={"nodes": self.demo.node_configs(with_worklist=True), "demo": "false"})
            self.settings = self.settings.model_copy(update={"dicom": dicom})

    @property
    def demo_network(self) -> Any:
        """The demo DICOM nodes this console runs (``auto``), or that the bot started (``true``)."""
        demo = self.demo
        if demo is None and self.services is not None:
            demo = self.services.features.dicom_demo
        return demo

    def __enter__(self) -> "Console":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # names -------------------------------------------------------------------------------
    def _resolve_user(self, text: str) -> str:
        text = text.strip().lstrip("@")
        for user in DEMO_USERS:
            if text in (user.id, user.handle) or text.lower() == user.name.lower():
                return user.id
        if text.upper().startswith(("U", "W")) and text[1:].isalnum():
            return text.upper()
        choices = {u.handle: u.id for u in DEMO_USERS} | {u.name: u.id for u in DEMO_USERS}
        match = process.extractOne(text, list(choices), scorer=fuzz.WRatio, score_cutoff=60)
        if match:
            return choices[match[0]]
        raise ValueError(f"unknown user {text!r}; try :users")

    def _resolve_channel(self, text: str) -> str:
        text = text.strip().lstrip("#")
        if text in DEMO_CHANNELS:
            return text
        for channel_id, name in DEMO_CHANNELS.items():
            if name == text.lower():
                return channel_id
        if text[:1] in ("C", "G", "D") and text[1:].isalnum() and text.isupper():
            return text
        raise ValueError(f"unknown channel {text!r}; demo channels: " + ", ".join(f"#{n}" for n in DEMO_CHANNELS.values()))

    def _user_name(self, user_id: str) -> str:
        if user_id == BOT_USER_ID:
            return "pacsbot"
        user = self.mock.users.get(user_id)
        return user["name"] if user else user_id

    def _channel_name(self, channel_id: str) -> str:
        if channel_id.startswith("D"):
            return f"DM with @{self._user_name('U' + channel_id[1:])}"
        return DEMO_CHANNELS.get(channel_id, channel_id)

    def _group_name(self, group_id: str) -> str | None:
        return next((g["handle"] for g in self.mock.usergroups if g["id"] == group_id), None)

    @property
    def dm_channel(self) -> str:
        return "D" + self.user[1:]

    def prompt(self) -> str:
        role = self.services.access.role_of(self.user) if self.services else Role.CLINICIAN
        where = "DM" if self.channel.startswith("D") else f"#{self._channel_name(self.channel)}"
        if self.thread_ts:
            where += " › thread"
        return f"[@{self._user_name(self.user)} · {role.label} · {where}]> "

    def escape(self, text: str, *, command: bool) -> str:
        """``text`` as Slack sends it to the app: ``&``, ``<``, ``>`` escaped, and every @name and
        #name of the workspace turned into a mention. A slash command (``should_escape: true``
        in the manifest) gets ``<@U…|name>``, ``<!subteam^S…|@handle>``, ``<#C…|name>``; a
        message gets ``<@U…>``, ``<!subteam^S…>``, ``<#C…|name>``. Unknown names stay as typed."""
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

        def mention(match: re.Match[str]) -> str:
            sign, typed = match.group(1), match.group(2)
            for name in dict.fromkeys((typed, typed.rstrip("._-"))):  # "@dr.rhea." ends a sentence
                found = self._mention(sign, name, command=command)
                if found is not None:
                    return found + typed[len(name):]
            return match.group(0)

        return _TYPED_MENTION.sub(mention, text)

    def _mention(self, sign: str, name: str, *, command: bool) -> str | None:
        lowered = name.lower()
        if sign == "#":
            for channel_id, channel in self.mock.channels.items():
                if channel.get("name", "").lower() == lowered:
                    return f"<#{channel_id}|{channel['name']}>"
            return None
        if lowered in ("here", "channel", "everyone"):
            return f"<!{lowered}>"
        users = {BOT_USER_ID: "pacsbot"} | {uid: u.get("name", "") for uid, u in self.mock.users.items()}
        for user_id, handle in users.items():
            if handle.lower() == lowered:
                return f"<@{user_id}|{handle}>" if command else f"<@{user_id}>"
        for group in self.mock.usergroups:
            if group["handle"].lower() == lowered:
                return f"<!subteam^{group['id']}|@{group['handle']}>" if command else f"<!subteam^{group['id']}>"
        return None

    # output ------------------------------------------------------------------------------
    def say(self, *lines: str) -> None:
        with self._print_lock:
            for line in lines:
                print(line, file=self.out)
            self.out.flush()

    def _flush_outputs(self) -> None:
        with self._print_lock:
            outputs = self.mock.outputs_since(self._printed)
            for output in outputs:
                self._printed = max(self._printed, output.seq)
                for line in self._render_output(output):
                    print(line, file=self.out)
            self.out.flush()

    def _render_output(self, o: Output) -> list[str]:
        where: dict[str, Any] = {"channel": o.channel, "ts": o.ts, "kind": o.kind}
        if o.kind in ("message", "update"):
            place = self._place(o.channel)
            verb = "updated its message" if o.kind == "update" else "posted"
            thread = " (in thread)" if o.thread_ts else ""
            if o.extra.get("reply_broadcast"):
                thread = " (in thread, also sent to the channel)"
            message = next((m for m in self.mock.messages.get(o.channel or "", []) if m["ts"] == o.ts), None)
            where["message"] = message
            head = f"pacsbot {verb} in {place}{thread}:"
            return ["", head, *self._body(o.text, o.blocks, where)]
        if o.kind in ("ephemeral", "response"):
            who = f"@{self._user_name(o.user)}" if o.user and o.user != "U" else "you"
            public = o.extra.get("response_type") == "in_channel"
            head = f"pacsbot in {self._place(o.channel)}:" if public else f"pacsbot (only {who} can see this):"
            if o.extra.get("replace_original"):
                head = head[:-1] + ", replacing its earlier message:"
            if o.extra.get("delete_original"):
                return ["", f"pacsbot removed its message for {who}."]
            return ["", head, *self._body(o.text, o.blocks, where)]
        if o.kind in ("modal_open", "modal_update", "modal_push"):
            assert o.view is not None
            self._track_modal(o)
            return ["", *self._modal_lines(o.view, o.kind)]
        if o.kind == "home":
            assert o.view is not None
            return ["", f"App Home of @{self._user_name(o.user or '')}:", *self.renderer.blocks(o.view.get("blocks", []), where={"view": o.view, "kind": "home"})]
        if o.kind == "reaction":
            return ["", f"pacsbot reacted :{o.text}: in {self._place(o.channel)}"]
        if o.kind == "file":
            size = o.extra.get("size", 0)
            thread = " (in thread)" if o.thread_ts else ""
            lines = ["", f"pacsbot uploaded {o.extra.get('filename')} ({size} bytes) to {self._place(o.channel)}{thread}"
                     + (f": {mrkdwn_to_text(o.text, self._user_name, self._channel_name, self._group_name)}" if o.text else "")]
            try:
                saved = self._save_file(str(o.extra.get("filename") or "file"), o.extra.get("content") or b"")
            except OSError as exc:
                return [*lines, f"  (the console could not save it in {self.files_dir}: {exc.strerror or exc})"]
            return [*lines, f"  saved as {saved}"]
        if o.kind == "delete":
            return ["", f"pacsbot deleted a message in {self._place(o.channel)}"]
        return []

    def _save_file(self, filename: str, content: bytes) -> Path:
        """Keep an uploaded file where you can open it; an earlier one of that name is not overwritten."""
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(filename.replace("\\", "/")).name).lstrip(".") or "file"
        self.files_dir.mkdir(parents=True, exist_ok=True)
        stem, dot, suffix = name.rpartition(".") if "." in name else (name, "", "")
        target, n = self.files_dir / name, 1
        while True:
            try:
                with open(target, "xb") as handle:
                    handle.write(content)
                return target.resolve()
            except FileExistsError:
                n += 1
                target = self.files_dir / f"{stem}-{n}{dot}{suffix}"

    def _place(self, channel: str | None) -> str:
        if not channel:
            return "Slack"
        if channel.startswith("D"):
            return f"a DM to @{self._user_name('U' + channel[1:])}"
        return f"#{self._channel_name(channel)}"

    def _body(self, text: str, blocks: list[dict[str, Any]], where: dict[str, Any]) -> list[str]:
        if blocks:
            return self.renderer.blocks(blocks, where=where)
        return ["  " + line for line in mrkdwn_to_text(text, self._user_name, self._channel_name, self._group_name).splitlines()]

    def _modal_lines(self, view: dict[str, Any], kind: str) -> list[str]:
        title = self.renderer.text(view.get("title"))
        verb = {"modal_open": "opened", "modal_update": "updated", "modal_push": "opened (on top)", "ack_update": "updated"}.get(kind, "shows")
        lines = [f"┌─ pacsbot {verb} a window: {title} " + "─" * max(4, 40 - len(title))]
        lines.extend(self.renderer.blocks(view.get("blocks", []), where={"view": view, "kind": "modal"}, indent="│ "))
        actions = []
        if view.get("submit"):
            actions.append(f":submit ({self.renderer.text(view['submit'])})")
        actions.append(f":close ({self.renderer.text(view.get('close')) or 'Close'})")
        if view.get("submit") and self._inputs(view) and self._read is not None:
            actions.append(":fill (field by field)")
        lines.append("└─ " + "   ".join(actions))
        return lines

    def _track_modal(self, o: Output) -> None:
        stack = self.modals.setdefault(self.user, [])
        assert o.view is not None
        if o.kind == "modal_open":
            stack.clear()
            stack.append(ModalState(o.view))
        elif o.kind == "modal_push":
            stack.append(ModalState(o.view))
        else:
            for i, state in enumerate(stack):
                if state.view.get("id") == o.view.get("id"):
                    stack[i] = ModalState(o.view)
                    break
            else:
                stack.append(ModalState(o.view))

    def _print_ack(self, body: str, kind: str) -> None:
        if not body:
            return
        try:
            payload = json.loads(body)
        except ValueError:  # a plain-text ack: Slack shows it to you as a message (mrkdwn)
            self.say("", "pacsbot (only you can see this):", *self._body(body, [], {"kind": "ack", "channel": self.channel}))
            return
        if not isinstance(payload, dict):
            return
        action = payload.get("response_action")
        if action == "errors":
            lines = ["", "The window shows errors:"] + [f"  • {k}: {v}" for k, v in (payload.get("errors") or {}).items()]
            self.say(*lines)
            return
        if action in ("update", "push"):
            stack = self.modals.setdefault(self.user, [])
            view = {**payload["view"], "id": stack[-1].view.get("id") if stack and action == "update" else f"VACK{len(stack)}"}
            view["blocks"] = self.mock._with_block_ids(view.get("blocks", []))
            if action == "update" and stack:
                stack[-1] = ModalState(view)
            else:
                stack.append(ModalState(view))
            with self._print_lock:
                for line in ["", *self._modal_lines(view, "ack_update" if action == "update" else "modal_push")]:
                    print(line, file=self.out)
            return
        if action == "clear":
            self.modals[self.user] = []
            self.say("", "(the window closed)")
            return
        if payload.get("text") or payload.get("blocks"):
            public = payload.get("response_type") == "in_channel"
            head = f"pacsbot in {self._place(self.channel)}:" if public else "pacsbot (only you can see this):"
            with self._print_lock:
                for line in ["", head, *self._body(payload.get("text", ""), payload.get("blocks") or [], {"kind": "ack", "channel": self.channel})]:
                    print(line, file=self.out)

    # sending -----------------------------------------------------------------------------
    def _dispatch(self, request: SignedRequest, kind: str) -> int:
        response = self.app.dispatch(BoltRequest(body=request.body, headers=dict(request.headers)))
        if response.status != 200:
            self.failures += 1
            self.say(f"(Slack would have shown an error: the app answered HTTP {response.status})")
        self._print_ack(response.body or "", kind)
        self.services.background.wait_idle(self.wait_seconds)
        self._flush_outputs()
        return response.status

    def handle(self, line: str) -> bool:
        """Act on one line of input. Returns False when the user wants to leave."""
        line = line.strip()
        if not line:
            return True
        assert self.sim is not None
        try:
            if line in (":quit", ":q", ":exit", "exit", "quit"):
                return False
            if line.isdigit():
                return self._click(int(line))
            if line.startswith(":"):
                return self._console_command(line)
            if line.startswith("/"):
                command, _, text = line.partition(" ")
                if command != "/pacs":
                    self.say(f"(pacsbot only has the /pacs command; Slack would say “{command} is not a valid command”)")
                    return True
                self._dispatch(self.sim.slash_command(self.user, self.escape(text, command=True), channel_id=self.channel,
                                                      channel_name=self._channel_name(self.channel)), "command")
                return True
            self._message(line)
        except ValueError as exc:
            self.say(f"(console: {exc})")
        return True

    def _message(self, typed: str) -> None:
        """A person's message, as Slack delivers it: the ``message`` event, and ``app_mention``
        too when it mentions the bot in a channel (both carry the same ``ts``)."""
        assert self.sim is not None
        events = self.services.registry.events
        text = self.escape(typed, command=False)
        posted = self.mock.post_as_user(self.user, self.channel, text, thread_ts=self.thread_ts)
        event: dict[str, Any] = {"type": "message", "user": self.user, "text": text, "channel": self.channel, "ts": posted["ts"]}
        if self.thread_ts:
            event["thread_ts"] = self.thread_ts
        if self.channel.startswith("D"):
            if "message" in events:
                self._dispatch(self.sim.event({**event, "channel_type": "im"}), "event")
            return
        mentioned = f"<@{BOT_USER_ID}>" in text
        if mentioned and "app_mention" in events:
            self._dispatch(self.sim.event({**event, "type": "app_mention"}), "event")
        if "message" in events:
            self._dispatch(self.sim.event({**event, "channel_type": "channel"}), "event")
        if not mentioned:
            where = "in the thread" if self.thread_ts else ""
            self.say(f"(posted{' ' + where if where else ''}; pacsbot only answers channel messages that mention @pacsbot)")

    # messages people point at ----------------------------------------------------------------
    def _shown_messages(self) -> list[dict[str, Any]]:
        """The messages you see here: the open thread, or the channel (thread replies only when
        also sent to the channel)."""
        messages = list(self.mock.messages.get(self.channel, []))
        if self.thread_ts:
            return [m for m in messages if self.thread_ts in (m["ts"], m.get("thread_ts"))]
        return [m for m in messages if m.get("thread_ts") in (None, m["ts"]) or m.get("subtype") == "thread_broadcast"]

    def _message_text(self, message: dict[str, Any]) -> str:
        return mrkdwn_to_text(message.get("text") or "", self._user_name, self._channel_name, self._group_name)

    def _pick_message(self, on: str, *, what: str) -> dict[str, Any]:
        """The newest message here that mentions ``on`` (or has that ts); without ``on``, the newest by a person."""
        messages = self._shown_messages()
        on = on.strip()
        if on:
            pattern = re.compile(re.escape(on) + r"(?!\.?[0-9])", re.I)  # PACS-5 is not PACS-5.1
            for message in reversed(messages):
                searchable = json.dumps([self._message_text(message), message.get("text", ""), message.get("blocks", [])], ensure_ascii=False)
                if message["ts"] == on or pattern.search(searchable):
                    return message
            raise ValueError(f"no message {'in this thread' if self.thread_ts else 'here'} mentions {on!r}")
        people = [m for m in messages if m.get("user") != BOT_USER_ID]
        if not people:
            raise ValueError(f"no message by a person {'in this thread' if self.thread_ts else 'here'} to {what}; "
                             "add `on TEXT` to pick one of pacsbot's")
        return people[-1]

    def _thread(self, args: list[str]) -> None:
        if args and args[0].lower() in ("off", "leave", "close") and len(args) == 1:
            if self.thread_ts is None:
                raise ValueError("you are not in a thread")
            self.thread_ts = None
            self.say(f"(back in {self._place(self.channel)})")
            return
        before, self.thread_ts = self.thread_ts, None  # choose among the channel's messages
        try:
            on = " ".join(args).strip()
            messages = self._shown_messages()
            if not messages:
                raise ValueError(f"there is no message in {self._place(self.channel)} to reply to")
            root = self._pick_message(on, what="reply to") if on else messages[-1]
        except ValueError:
            self.thread_ts = before
            raise
        self.thread_ts = root.get("thread_ts") or root["ts"]
        self.say(f"(replying in the thread of {self._author(root)}'s message “{_snippet(self._message_text(root))}”; "
                 ":thread off to leave it)")

    def _author(self, message: dict[str, Any]) -> str:
        return "pacsbot" if message.get("user") == BOT_USER_ID else f"@{self._user_name(message.get('user') or '')}"

    def _shortcut(self, args: list[str]) -> None:
        assert self.sim is not None
        words = " ".join(args)
        name, _, on = words.partition(" on ")
        shortcuts = self._shortcuts()
        if not name.strip():
            raise ValueError("usage: :shortcut NAME [on TEXT]; shortcuts: " + (self._shortcut_names() or "none"))
        wanted = name.strip().strip("\"'").lower()
        spec = next((s for s in shortcuts if wanted in (s.id.lower(), s.label.lower())), None)
        if spec is None:
            spec = next((s for s in shortcuts if wanted in s.label.lower() or wanted in s.id.lower()), None)
        if spec is None:
            raise ValueError(f"pacsbot has no shortcut {name.strip()!r}; shortcuts: " + (self._shortcut_names() or "none"))
        if spec.kind == "shortcut":
            if on.strip():
                raise ValueError(f"“{spec.label}” is not on a message (it is in the ⚡ shortcuts menu): leave out `on …`")
            self._dispatch(self.sim.global_shortcut(self.user, spec.id), "shortcut")
            return
        message = self._pick_message(on, what="use it on")
        self.say(f"(“{spec.label}” on {self._author(message)}'s message “{_snippet(self._message_text(message))}”)")
        self._dispatch(self.sim.message_shortcut(self.user, spec.id, channel_id=self.channel, message=message), "shortcut")

    def _shortcuts(self) -> list[Any]:
        registry = self.services.registry if self.services is not None else None
        if registry is None:
            return []
        return [i for (kind, _), i in registry.interactions.items() if kind in ("shortcut", "message_shortcut")]

    def _shortcut_names(self) -> str:
        return "; ".join(f"“{s.label}” ({s.id}{', on a message' if s.kind == 'message_shortcut' else ''})" for s in self._shortcuts())

    def _console_command(self, line: str) -> bool:
        assert self.sim is not None
        words = shlex.split(line)
        command, args = words[0].lower(), words[1:]
        if command == ":help":
            self.say(HELP.format(shortcuts=self._shortcut_names() or "none", files=self.files_dir))
        elif command == ":users":
            for u in DEMO_USERS:
                role = self.services.access.role_of(u.id)
                self.say(f"  {u.id}  @{u.handle:<14} {u.name:<24} {role.label}")
        elif command == ":as":
            if not args:
                raise ValueError("usage: :as USER [admin|trainer|clinician]")
            self.user = self._resolve_user(args[0])
            if len(args) > 1:
                self.role_overrides[self.user] = Role.parse(args[1])
                self.services.access.overrides[self.user] = Role.parse(args[1])
            self.say(f"(you are now @{self._user_name(self.user)}, {self.services.access.role_of(self.user).label})")
        elif command == ":in":
            if not args:
                raise ValueError("usage: :in #channel")
            self.channel = self._resolve_channel(args[0])
            self.thread_ts = None
        elif command == ":dm":
            self.channel = self.dm_channel
            self.thread_ts = None
        elif command == ":thread":
            self._thread(args)
        elif command == ":shortcut":
            self._shortcut(args)
        elif command == ":fill":
            self._fill()
        elif command == ":home":
            self._dispatch(self.sim.event({"type": "app_home_opened", "user": self.user, "channel": self.dm_channel, "tab": "home"}), "event")
        elif command == ":click":
            if not args:
                raise ValueError("usage: :click N, or :click LABEL [on TEXT]")
            if args[0].isdigit():
                return self._click(int(args[0]))
            return self._click(self._find_button(args))
        elif command == ":select":
            if len(args) < 2 or not args[0].isdigit():
                raise ValueError("usage: :select N VALUE")
            return self._click(int(args[0]), " ".join(args[1:]))
        elif command == ":set":
            self._set_values(args)
        elif command == ":submit":
            self._set_values(args)
            self._submit()
        elif command == ":close":
            self._close()
        elif command == ":react":
            emoji, _, on = " ".join(args).partition(" on ")
            self._react(emoji.strip() or "ticket", on)
        elif command == ":wait":
            self.services.background.wait_idle(self.wait_seconds)
            self._flush_outputs()
        elif command == ":node":
            self._node(args)
        elif command == ":tick":
            self._tick(args)
        elif command == ":time":
            self._time(args)
        elif command == ":why":
            self._why(" ".join(args))
        else:
            raise ValueError(f"unknown console command {command}; type :help")
        return True

    def _why(self, question: str) -> None:
        """What the search makes of a question, for whoever tunes the manuals (the console only)."""
        from pacsbot.bot.cli.kb import corrections_text

        if not question.strip():
            raise ValueError("usage: :why QUESTION   (e.g. :why how do I hang a prior)")
        kb = self.services.features.knowledge
        if kb is None:
            raise ValueError("the knowledge feature is not running here")
        result = kb.search(question, limit=3)
        ranking = kb.snapshot.index.ranking
        self.say(f"(mode {result.mode}, confidence {result.confidence:.2f}: answers from {ranking.min_confidence:.2f}, "
                 f"choices from {ranking.choices_confidence:.2f}; ranked by {kb.snapshot.index.ranked_by}; {result.took_ms:.1f} ms)")
        if result.corrections:
            self.say("  read " + corrections_text(result))
        for i, hit in enumerate(result.hits, 1):
            self.say(f"  {i}. {hit.section.breadcrumb}  (confidence {hit.confidence:.2f})  {hit.key}")

    # demo nodes and time -------------------------------------------------------------------
    def _node(self, args: list[str]) -> None:
        if len(args) != 2 or args[0].lower() not in ("stop", "start"):
            raise ValueError("usage: :node stop|start NAME   (e.g. :node stop pacs)")
        network = self.demo_network
        if network is None:
            raise ValueError("only the demo DICOM nodes can be stopped and started here; configured nodes are real")
        verb, name = args[0].lower(), args[1].lower()
        node = next((n for n in network.members if n.name == name), None)
        if node is None:
            raise ValueError(f"there is no demo node {name!r}; demo nodes: {', '.join(n.name for n in network.members)}")
        if verb == "stop":
            node.stop()
            self.say(f"(demo node {name} stopped: it no longer answers. `:tick 15` lets the watch notice)")
        else:
            if node._server is None:  # noqa: SLF001 - the demo node's own flag
                node.start()
            self.say(f"(demo node {name} is answering again on port {node.port}. `:tick 10` lets the watch notice)")

    def _tick(self, args: list[str]) -> None:
        minutes, every = 5, 1
        usage = f"usage: :tick [MINUTES] [EVERY]   (1 to {MAX_TICK_MINUTES} minutes, jobs run every EVERY minutes)"
        if args:
            if not args[0].isdigit() or not 1 <= int(args[0]) <= MAX_TICK_MINUTES:
                raise ValueError(usage)
            minutes = int(args[0])
        if len(args) > 1:
            if not args[1].isdigit() or not 1 <= int(args[1]) <= minutes:
                raise ValueError(usage)
            every = int(args[1])
        done = 0
        while done < minutes:
            step = min(every, minutes - done)
            self.clock.advance(timedelta(minutes=step))
            done += step
            self.scheduler.run_due()
            self.services.background.wait_idle(self.wait_seconds)
        self.services.background.wait_idle(self.wait_seconds)
        self.say(f"(the clock moved on {minutes} min; it is now {self._local_now()} here)")
        self._flush_outputs()

    def _local_now(self) -> str:
        from zoneinfo import ZoneInfo

        tz = self.settings.timezone
        return f"{self.clock.now().astimezone(ZoneInfo(tz)):%a %d %b %H:%M} {tz}"

    def _time(self, args: list[str]) -> None:
        """Jump to the next HH:MM (on DAY): the clock only moves forward, as time does."""
        from zoneinfo import ZoneInfo

        usage = "usage: :time [mon|tue|...|sun] HH:MM   (the next such time, in the site's time zone)"
        days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
        if not 1 <= len(args) <= 2 or (len(args) == 2 and args[0].lower()[:3] not in days):
            raise ValueError(usage)
        hh, sep, mm = args[-1].partition(":")
        if not (sep and hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60):
            raise ValueError(usage)
        zone = ZoneInfo(self.settings.timezone)
        now = self.clock.now().astimezone(zone)
        target = now.replace(hour=int(hh), minute=int(mm), second=0, microsecond=0)
        while target <= now or (len(args) == 2 and target.weekday() != days.index(args[0].lower()[:3])):
            target += timedelta(days=1)
        self.clock.advance(target - now)
        self.scheduler.run_due()
        self.services.background.wait_idle(self.wait_seconds)
        self.say(f"(the clock moved on to {self._local_now()})")
        self._flush_outputs()

    def _find_button(self, args: list[str]) -> int:
        """The newest button called LABEL (on a message that mentions TEXT): scripts need not know numbers."""
        import re

        words = " ".join(args)
        label, _, on = words.partition(" on ")
        label = label.strip().lower()
        pattern = re.compile(re.escape(on.strip()) + r"(?!\.?[0-9])", re.I) if on.strip() else None  # PACS-5 is not PACS-5.1
        for number in sorted(self.renderer.clickables, reverse=True):
            clickable = self.renderer.clickables[number]
            if self.renderer.text(clickable.element.get("text")).strip().lower() != label:
                continue
            message = clickable.where.get("message") or {}
            if pattern is None or pattern.search(json.dumps([message.get("text", ""), message.get("blocks", [])])):
                return number
        raise ValueError(f"no button {label!r}" + (f" on a message mentioning {on.strip()!r}" if on.strip() else "") + " is shown")

    # buttons -----------------------------------------------------------------------------
    def _click(self, number: int, choice: str | None = None) -> bool:
        assert self.sim is not None
        clickable = self.renderer.clickables.get(number)
        if clickable is None:
            raise ValueError(f"there is no button {number}")
        element = clickable.element
        action: dict[str, Any] = {"action_id": element.get("action_id"), "block_id": clickable.block_id or "b", "type": element.get("type")}
        if element.get("type") == "button":
            if element.get("value") is not None:
                action["value"] = element["value"]
            action["text"] = element.get("text")
            if element.get("url"):
                self.say(f"(opens {element['url']} in the browser)")
        else:
            options = element.get("options") or [o for g in element.get("option_groups", []) for o in g.get("options", [])]
            if choice is None:
                raise ValueError(f"{number} is a menu: use :select {number} VALUE")
            option = _match_option(options, choice)
            action["selected_option"] = option
        if element.get("confirm"):
            self.say(f"(confirmed: {self.renderer.text(element['confirm'].get('title'))})")
        where = clickable.where
        kind = where.get("kind")
        if kind in ("modal", "home"):
            view = where.get("view") or {}
            current = self._current_modal()
            if kind == "modal" and current is not None and current.view.get("id") == view.get("id"):
                view = {**view, "state": {"values": self._state_values(current)}}
            request = self.sim.block_action(self.user, action, view=view)
        else:
            message = where.get("message")
            channel = where.get("channel") or self.channel
            request = self.sim.block_action(self.user, action, channel_id=channel, message=message)
        self._dispatch(request, "action")
        return True

    def _react(self, emoji: str, on: str = "") -> None:
        assert self.sim is not None
        target = self._pick_message(on, what="react to")
        if "reaction_added" not in self.services.registry.events:
            self.say(f"(you reacted :{emoji.strip(':')}:; pacsbot does not watch reactions)")
            return
        event = {"type": "reaction_added", "user": self.user, "reaction": emoji.strip(":"),
                 "item": {"type": "message", "channel": self.channel, "ts": target["ts"]}, "item_user": target.get("user")}
        self._dispatch(self.sim.event(event), "event")

    # modals ------------------------------------------------------------------------------
    def _current_modal(self) -> ModalState | None:
        stack = self.modals.get(self.user) or []
        return stack[-1] if stack else None

    def _inputs(self, view: dict[str, Any]) -> list[dict[str, Any]]:
        return [b for b in view.get("blocks", []) if b.get("type") == "input"]

    def _set_values(self, pairs: list[str]) -> None:
        modal = self._current_modal()
        if modal is None:
            if pairs:
                raise ValueError("no window is open")
            return
        inputs = self._inputs(modal.view)
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep:
                raise ValueError(f"{pair!r}: use FIELD=VALUE")
            block = next((b for b in inputs if key in (b.get("element", {}).get("action_id"), b.get("block_id"))), None)
            if block is None:
                ids = ", ".join(b.get("element", {}).get("action_id", "?") for b in inputs)
                raise ValueError(f"this window has no field {key!r}; fields: {ids}")
            modal.values[block["element"]["action_id"]] = value

    def _state_values(self, modal: ModalState) -> dict[str, dict[str, Any]]:
        values: dict[str, dict[str, Any]] = {}
        for block in self._inputs(modal.view):
            element = block.get("element", {})
            action_id = element.get("action_id")
            raw = modal.values.get(action_id)
            values.setdefault(block["block_id"], {})[action_id] = _element_state(element, raw)
        return values

    def _submit(self) -> None:
        assert self.sim is not None
        modal = self._current_modal()
        if modal is None:
            raise ValueError("no window is open")
        missing = []
        for block in self._inputs(modal.view):
            element = block.get("element", {})
            state = _element_state(element, modal.values.get(element.get("action_id")))
            if not block.get("optional") and _is_empty(state):
                missing.append(element.get("action_id"))
        if missing:
            raise ValueError("Slack will not submit this yet; please fill in: " + ", ".join(missing))
        request = self.sim.view_submission(self.user, modal.view, self._state_values(modal))
        stack = self.modals.get(self.user) or []
        before = len(stack)
        response = self.app.dispatch(BoltRequest(body=request.body, headers=dict(request.headers)))
        payload: dict[str, Any] = {}
        try:
            payload = json.loads(response.body) if response.body else {}
        except ValueError:
            pass
        if response.status == 200 and not payload.get("response_action") and len(stack) == before:
            stack.pop() if stack else None  # Slack closes a submitted modal unless told otherwise
        self._print_ack(response.body or "", "view")
        if response.status != 200:
            self.failures += 1
            self.say(f"(Slack would have shown an error: the app answered HTTP {response.status})")
        self.services.background.wait_idle(self.wait_seconds)
        self._flush_outputs()

    def _fill(self) -> None:
        """Ask for each field of the open window in turn, showing what is filled in (Enter keeps it), then submit."""
        modal = self._current_modal()
        if modal is None:
            raise ValueError("no window is open")
        if self._read is None:
            raise ValueError(":fill asks for each field in turn, so it only works as you type; in a script use :submit FIELD=VALUE")
        inputs = self._inputs(modal.view)
        if not inputs:
            raise ValueError("this window has no fields to fill")
        self.say("(one field at a time: type a value, or press Enter to keep what is shown)")
        for block in inputs:
            element = block.get("element", {})
            action_id = element.get("action_id")
            current = modal.values.get(action_id)
            shown = current if current is not None else self.renderer.prefilled(element)
            options = element.get("options") or [o for g in element.get("option_groups", []) for o in g.get("options", [])]
            choices = f" ({', '.join(str(o.get('value')) for o in options)})" if options else ""
            optional = ", optional" if block.get("optional") else ""
            prompt = f"  {self.renderer.text(block.get('label'))}{choices}{optional}" + (f" [{_snippet(shown)}]" if shown else "") + ": "
            while True:
                try:
                    answer = self._read(prompt).strip()
                except EOFError:
                    self.say("", "(stopped; the window is still open: :fill again, :submit or :close)")
                    return
                if not answer:
                    break  # keep what is shown
                try:
                    _element_state(element, answer)
                except ValueError as exc:
                    self.say(f"  ({exc})")
                    continue
                modal.values[action_id] = answer
                break
        self._submit()

    def _close(self) -> None:
        assert self.sim is not None
        modal = self._current_modal()
        if modal is None:
            raise ValueError("no window is open")
        self.modals[self.user].pop()
        if modal.view.get("notify_on_close"):
            self._dispatch(self.sim.view_closed(self.user, modal.view), "view_closed")
        self.say("(window closed)")

    # loops -------------------------------------------------------------------------------
    def run_script(self, lines: list[str]) -> int:
        for line in lines:
            self.say(f"{self.prompt()}{line}")
            if not self.handle(line):
                break
        return 1 if self.failures else 0

    def run_interactive(self, read: Callable[[str], str] = input) -> int:
        self.say(
            "pacsbot console — you are talking to the real bot with a pretend Slack.",
            f"Database: {self.services.db.display_url}. Type :help for console commands, /pacs help for the bot's.",
        )
        if self.demo_network is not None:
            from pacsbot.commands.demo import banner_lines, worklist_banner_lines

            self.say(*banner_lines(self.demo_network), *worklist_banner_lines(self.demo_network))
        self._watcher = threading.Thread(target=self._watch, daemon=True)
        self._watcher.start()
        self._read = read
        try:
            while True:
                try:
                    line = read(self.prompt())
                except EOFError:
                    self.say("")
                    return 0
                if not self.handle(line):
                    return 0
        except KeyboardInterrupt:  # Ctrl-C, at the prompt or while the bot works: leave quietly, as a shell does
            self.say("")
            return 130
        finally:
            self._read = None

    def _watch(self) -> None:
        # Print what arrives later (slow checks, reminders) without waiting for input.
        while not self._stop.wait(0.5):
            if self.mock.last_seq > self._printed and self.services.background.pending == 0:
                self._flush_outputs()


def _with_demo_channels(settings: Settings) -> Settings:
    """Point unset channels at the console's demo channels, so tickets have somewhere to go, and
    give the demo users audiences (``roles.audiences``) when none are configured."""
    tickets = settings.tickets
    updates: dict[str, Any] = {}
    if tickets.default_queue is None:
        updates["default_queue"] = "C0PACSQUE"
    if tickets.admin_channel is None:
        updates["admin_channel"] = "C0PACSADM"
    if tickets.oncall is None and not any(q.oncall for q in tickets.queues):
        updates["oncall"] = "@pacs-oncall"  # the demo on-call group (@alex.admin), paged for STAT reports
    if tickets.oncall_phone is None:
        updates["oncall_phone"] = "ext. 4-7227 (demo)"
    if updates:
        settings = settings.model_copy(update={"tickets": tickets.model_copy(update=updates)})
    if settings.slack.help_channel is None:
        settings = settings.model_copy(update={"slack": settings.slack.model_copy(update={"help_channel": "#pacs-help"})})
    if not settings.roles.audiences:
        settings = settings.model_copy(update={"roles": settings.roles.model_copy(update={"audiences": {k: list(v) for k, v in DEMO_AUDIENCES.items()}})})
    return settings


def _match_option(options: list[dict[str, Any]], choice: str) -> dict[str, Any]:
    lowered = choice.strip().lower()
    for option in options:
        if str(option.get("value", "")).lower() == lowered:
            return option
    for option in options:
        text = option.get("text", {}).get("text", "") if isinstance(option.get("text"), dict) else str(option.get("text", ""))
        if text.lower() == lowered or text.lower().startswith(lowered):
            return option
    values = ", ".join(str(o.get("value")) for o in options)
    raise ValueError(f"{choice!r} is not one of the choices: {values}")


def _element_state(element: dict[str, Any], raw: str | None) -> dict[str, Any]:
    kind = element.get("type")
    options = element.get("options") or [o for g in element.get("option_groups", []) for o in g.get("options", [])]
    state: dict[str, Any] = {"type": kind}
    if kind in ("plain_text_input", "email_text_input", "url_text_input", "number_input"):
        state["value"] = raw if raw is not None else element.get("initial_value")
    elif kind in ("static_select", "radio_buttons", "external_select"):
        if raw is not None:
            state["selected_option"] = _match_option(options, raw) if raw.strip() else None  # `:set KEY=` clears it
        else:
            state["selected_option"] = element.get("initial_option")
    elif kind in ("checkboxes", "multi_static_select", "multi_external_select"):
        if raw is not None:
            state["selected_options"] = [_match_option(options, part) for part in raw.split(",") if part.strip()]
        else:
            state["selected_options"] = element.get("initial_options") or []
    elif kind == "datepicker":
        state["selected_date"] = raw if raw is not None else element.get("initial_date")
    elif kind == "timepicker":
        state["selected_time"] = raw if raw is not None else element.get("initial_time")
    elif kind == "users_select":
        state["selected_user"] = raw.lstrip("@") if raw else element.get("initial_user")
    elif kind == "multi_users_select":
        state["selected_users"] = [u.strip().lstrip("@") for u in raw.split(",")] if raw else element.get("initial_users") or []
    elif kind in ("conversations_select", "channels_select"):
        key, initial = ("selected_conversation", "initial_conversation") if kind == "conversations_select" else ("selected_channel", "initial_channel")
        state[key] = raw.strip().lstrip("#") if raw is not None else element.get(initial)
        state[key] = state[key] or None
    elif kind in ("multi_conversations_select", "multi_channels_select"):
        key, initial = ("selected_conversations", "initial_conversations") if kind == "multi_conversations_select" else ("selected_channels", "initial_channels")
        state[key] = [c.strip().lstrip("#") for c in raw.split(",") if c.strip()] if raw is not None else element.get(initial) or []
    else:
        state["value"] = raw
    return state


def _snippet(text: str, width: int = 60) -> str:
    """One short line of ``text``, for a prompt or a note."""
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def _is_empty(state: dict[str, Any]) -> bool:
    for key, value in state.items():
        if key == "type":
            continue
        if value not in (None, "", [], {}):
            return False
    return True
