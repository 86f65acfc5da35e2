"""Fixtures the ticket tests share: the service on the test settings, and a migrated database."""

from __future__ import annotations

import pytest

from pacsbot.bot.storage import Database, upgrade
from pacsbot.tickets.service import TicketService
from tests.tickets.test_tickets_domain import settings


@pytest.fixture
def svc() -> TicketService:
    return TicketService(settings())


@pytest.fixture
def ready(db: Database) -> Database:
    upgrade(db)
    return db
