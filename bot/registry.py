"""What the bot can do, declared once: subcommands, buttons, modals, shortcuts, events, jobs.

Feature adapters (``bot/features/*.py``) declare each entry point with its policy: the role
it needs, the rate limit it counts against (``limit``, checked before the ack) and the audit
action its success is recorded under (``audit``). ``bot/listeners/policy.py`` enforces them in
one place for commands, buttons, modals and shortcuts (refusals audited in one shape, errors
reported to the user); ``/pacs help`` asks the same policy which subcommands a user may run.
An interaction that is not declared here is not handled.

A feature module declares its entries at module level, in a table of its own (a ``Registry``
that no app reads: ``TABLE = Registry()`` and ``@TABLE.subcommand(...)`` on module-level
functions), and its ``register(services)`` builds what the handlers use and adds the table to
the process's registry (:meth:`Registry.include`). The handlers then find their feature in
``ctx.services.features``, so nothing is a closure over one process's objects.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pacsbot.bot.access import Role
from pacsbot.bot.limits import Limit

if TYPE_CHECKING:
    from pacsbot.bot.context import Ctx
    from pacsbot.bot.services import Services

T = TypeVar("T")

Handler = Callable[["Ctx"], Any]
InteractionKind = Literal["action", "view", "view_closed", "shortcut", "message_shortcut"]


@dataclass(frozen=True)
class Subcommand:
    """``/pacs <name> ...``. ``inline`` handlers are pure and fast: their reply is the ack."""

    name: str
    handler: Handler
    role: Role
    summary: str
    usage: str
    group: str
    aliases: tuple[str, ...] = ()
    inline: bool = False
    ack_text: str | None = None
    hidden: bool = False
    details: str = ""
    # What a user sees in help, by role, where it differs: ((min role, usage, summary), ...)
    variants: tuple[tuple[Role, str, str], ...] = ()
    audit: str | None = None   # recorded on success when the handler records nothing itself
    limit: str | None = None   # a rate limit declared with Registry.limit, checked before the ack

    def shown_to(self, role: Role) -> tuple[str, str]:
        """(usage, summary) for help, as this role may use the command."""
        usage, summary = self.usage, self.summary
        for minimum, v_usage, v_summary in sorted(self.variants, key=lambda v: v[0]):
            if role >= minimum:
                usage, summary = v_usage, v_summary
        return usage, summary


@dataclass(frozen=True)
class Interaction:
    """A button or menu (``action``), a modal submission (``view``), a shortcut."""

    kind: InteractionKind
    id: str
    handler: Handler
    role: Role
    label: str
    inline: bool = False
    audit: str | None = None
    limit: str | None = None


@dataclass(frozen=True)
class EventSpec:
    type: str
    handler: Handler


@dataclass(frozen=True)
class Job:
    """A periodic job; the scheduler runs it once per slot across all replicas."""

    name: str
    every: timedelta
    run: Callable[["Services"], Any]


def permits(role: Role, entry: "Subcommand | Interaction") -> bool:
    """The policy's role step: the one test of a role against an entry (help's dry run too)."""
    return role >= entry.role


HomeProvider = Callable[["Services", str, Role], list[dict[str, Any]]]


@dataclass
class Registry:
    subcommands: dict[str, Subcommand] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    interactions: dict[tuple[str, str], Interaction] = field(default_factory=dict)
    events: dict[str, list[EventSpec]] = field(default_factory=dict)
    jobs: dict[str, Job] = field(default_factory=dict)
    home_providers: list[tuple[int, HomeProvider]] = field(default_factory=list)
    limits: dict[str, Limit] = field(default_factory=dict)
    # what is rendered from the declarations alone (help, per role): see ``memo``
    _memo: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    def memo(self, key: Any, make: Callable[[], T]) -> T:
        """``make()``, computed once per ``key`` and per set of subcommands declared so far
        (help is the same for everyone of one role until a subcommand is added)."""
        full = (key, tuple(self.subcommands))
        try:
            return self._memo[full]
        except KeyError:
            value = self._memo[full] = make()
            return value

    # declarations -----------------------------------------------------------------------
    def subcommand(
        self,
        name: str,
        *,
        role: Role,
        summary: str,
        usage: str | None = None,
        group: str = "General",
        aliases: tuple[str, ...] = (),
        inline: bool = False,
        ack_text: str | None = None,
        hidden: bool = False,
        details: str = "",
        variants: tuple[tuple[Role, str, str], ...] = (),
        audit: str | None = None,
        limit: str | None = None,
    ) -> Callable[[Handler], Handler]:
        def decorate(fn: Handler) -> Handler:
            self._add_subcommand(Subcommand(
                name=name,
                handler=fn,
                role=role,
                summary=summary,
                usage=usage or f"/pacs {name}",
                group=group,
                aliases=aliases,
                inline=inline,
                ack_text=ack_text,
                hidden=hidden,
                details=details or inspect.cleandoc(fn.__doc__ or ""),
                variants=variants,
                audit=audit,
                limit=limit,
            ))
            return fn

        return decorate

    def _add_subcommand(self, spec: Subcommand) -> None:
        if spec.name in self.subcommands or spec.name in self.aliases:
            raise ValueError(f"subcommand {spec.name!r} is declared twice")
        self.subcommands[spec.name] = spec
        for alias in spec.aliases:
            if alias in self.subcommands or alias in self.aliases:
                raise ValueError(f"alias {alias!r} is declared twice")
            self.aliases[alias] = spec.name

    def _interaction(self, kind: InteractionKind, id: str, role: Role, label: str, inline: bool, *,
                     audit: str | None = None, limit: str | None = None) -> Callable[[Handler], Handler]:
        if ":" in id:
            raise ValueError(f"{kind} id {id!r} may not contain ':' (it separates the id from a per-button suffix)")

        def decorate(fn: Handler) -> Handler:
            key = (kind, id)
            if key in self.interactions:
                raise ValueError(f"{kind} {id!r} is declared twice")
            self.interactions[key] = Interaction(kind, id, fn, role, label or id, inline, audit, limit)
            return fn

        return decorate

    def action(self, action_id: str, *, role: Role, label: str = "", inline: bool = False, audit: str | None = None,
               limit: str | None = None) -> Callable[[Handler], Handler]:
        """A block action. Buttons may use ``f"{action_id}:{suffix}"`` to keep ids unique."""
        return self._interaction("action", action_id, role, label, inline, audit=audit, limit=limit)

    def view(self, callback_id: str, *, role: Role, label: str = "", inline: bool = False, audit: str | None = None,
             limit: str | None = None) -> Callable[[Handler], Handler]:
        return self._interaction("view", callback_id, role, label, inline, audit=audit, limit=limit)

    def view_closed(self, callback_id: str, *, role: Role = Role.CLINICIAN, label: str = "") -> Callable[[Handler], Handler]:
        return self._interaction("view_closed", callback_id, role, label, False)

    def shortcut(self, callback_id: str, *, role: Role, label: str = "") -> Callable[[Handler], Handler]:
        """A global shortcut (from the lightning menu)."""
        return self._interaction("shortcut", callback_id, role, label, False)

    def message_shortcut(self, callback_id: str, *, role: Role, label: str = "") -> Callable[[Handler], Handler]:
        return self._interaction("message_shortcut", callback_id, role, label, False)

    def limit(self, name: str, settings: Callable[[Any], Any], refusal: Callable[[Any, int], str]) -> None:
        """A per-user rate limit entries may name (``limit=name``): ``settings(Settings)`` gives
        its ``runs`` and ``per_seconds``, ``refusal(those, seconds to wait)`` the words."""
        if name in self.limits:
            raise ValueError(f"limit {name!r} is declared twice")
        self.limits[name] = Limit(name, settings, refusal)

    def include(self, table: "Registry", *, roles: dict[str, Role] | None = None) -> None:
        """Add a feature's module-level table of entries. ``roles`` sets, by subcommand name,
        a role the site configures (``dicom.accession_locate_role`` for ``locate``)."""
        for name, spec in table.subcommands.items():
            self._add_subcommand(replace(spec, role=roles[name]) if roles and name in roles else spec)
        for (kind, id_), interaction in table.interactions.items():
            if (kind, id_) in self.interactions:
                raise ValueError(f"{kind} {id_!r} is declared twice")
            self.interactions[(kind, id_)] = interaction
        for event_type, specs in table.events.items():
            self.events.setdefault(event_type, []).extend(specs)
        for name, job in table.jobs.items():
            if name in self.jobs:
                raise ValueError(f"job {name!r} is declared twice")
            self.jobs[name] = job
        for order, provider in table.home_providers:
            self.home(order)(provider)
        for name, limit in table.limits.items():
            self.limit(name, limit.settings, limit.refusal)  # its own count: a table outlives one registry

    def validate(self) -> None:
        """Every named limit is declared (checked once all features are registered)."""
        named = [(f"subcommand {s.name!r}", s.limit) for s in self.subcommands.values()]
        named += [(f"{i.kind} {i.id!r}", i.limit) for i in self.interactions.values()]
        for what, limit in named:
            if limit is not None and limit not in self.limits:
                raise ValueError(f"{what} names the limit {limit!r}, which is not declared (Registry.limit)")

    def event(self, event_type: str) -> Callable[[Handler], Handler]:
        """An Events API handler. Several features may handle one event type (e.g. ``message``);
        each handler decides whether the event is for it."""

        def decorate(fn: Handler) -> Handler:
            self.events.setdefault(event_type, []).append(EventSpec(event_type, fn))
            return fn

        return decorate

    def job(self, name: str, *, every: timedelta) -> Callable[[Callable[["Services"], Any]], Callable[["Services"], Any]]:
        def decorate(fn: Callable[["Services"], Any]) -> Callable[["Services"], Any]:
            if name in self.jobs:
                raise ValueError(f"job {name!r} is declared twice")
            self.jobs[name] = Job(name, every, fn)
            return fn

        return decorate

    def home(self, order: int = 50) -> Callable[[HomeProvider], HomeProvider]:
        """A section of App Home: ``provider(services, user_id, role) -> blocks``."""

        def decorate(fn: HomeProvider) -> HomeProvider:
            self.home_providers.append((order, fn))
            self.home_providers.sort(key=lambda item: item[0])
            return fn

        return decorate

    # lookups ----------------------------------------------------------------------------
    def find_subcommand(self, word: str) -> Subcommand | None:
        word = word.lower()
        name = self.aliases.get(word, word)
        return self.subcommands.get(name)

    def allowed_subcommands(self, role: Role) -> list[Subcommand]:
        """What a user with ``role`` may run: the policy's dry run (its role step), used by help."""
        return [s for s in self.subcommands.values() if not s.hidden and permits(role, s)]

    def interactions_of(self, kind: InteractionKind) -> list[Interaction]:
        return [i for (k, _), i in self.interactions.items() if k == kind]
