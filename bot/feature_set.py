"""What one process runs, as typed attributes: ``services.features.knowledge``, ``.dicom``...

Each adapter in ``bot/features/`` sets its own attribute in ``register(services)``; an
attribute left ``None`` is a feature this deployment does not run, and its callers say so or
do without (an answer without the outage notice, a ticket without the manual suggestions).

What one feature calls on another is declared here as a Protocol, so that a caller depends on
the few methods it uses, not on the other adapter's module (no import circles, and a test
may put a small fake in its place).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from pacsbot.bot.access import Role
    from pacsbot.bot.context import Ctx
    from pacsbot.bot.features.training import TrainingFeature
    from pacsbot.bot.outbox import Outbox
    from pacsbot.bot.render.blocks import Block
    from pacsbot.bot.services import Services
    from pacsbot.commands.demo import DemoNetwork
    from pacsbot.commands.service import Diagnostics
    from pacsbot.knowledge.base import KnowledgeBase
    from pacsbot.tickets.service import Declared, TicketService


class MessageAnswerer(Protocol):
    """Answers a mention, a DM or a question in a listed channel (``surface``: mention, dm, channel)."""

    def __call__(self, ctx: Ctx, event: dict[str, Any], surface: str) -> None: ...


class OutageNotice(Protocol):
    @property
    def text(self) -> str: ...

    @property
    def blocks(self) -> list[Block]: ...

    @property
    def ticket(self) -> int | None:
        """The outage ticket a report should join."""
        ...


class Outages(Protocol):
    """The node watch, as the knowledge and tickets features use it."""

    def may_concern(self, services: Services, text: str) -> bool:
        """Whether ``text`` names a configured node at all (no database: safe inside an ack)."""
        ...

    def notice(self, services: Services, *, text: str = "", category: str | None = None, role: Role = ...,
               user: str | None = None) -> OutageNotice | None:
        """"PACS is down since 14:02, the team is on it", or None."""
        ...


class TicketDesk(Protocol):
    """The tickets feature, as the knowledge feature and the node watch use it."""

    svc: TicketService

    def open_from_question(self, ctx: Ctx, question: str, section_key: str | None = None) -> None: ...

    def outage_declared(self, declared: Declared) -> None: ...

    def recovered(self, session: Session, number: int, label: str, down_for: str) -> int: ...

    def told(self, number: int, user: str) -> None: ...


@dataclass
class Features:
    knowledge: KnowledgeBase | None = None          # bot/features/knowledge.py
    answer_message: MessageAnswerer | None = None   # bot/features/knowledge.py, for bot/features/messages.py
    dicom: Diagnostics | None = None                # bot/features/diagnostics.py
    dicom_demo: DemoNetwork | None = None           # bot/features/diagnostics.py, when the demo node runs
    outages: Outages | None = None                  # bot/features/watch.py
    tickets: TicketDesk | None = None               # bot/features/tickets.py
    training: TrainingFeature | None = None         # bot/features/training.py
    outbox: Outbox | None = None                    # bot/outbox.py
