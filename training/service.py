"""The training feature's front door for ``bot`` and the command line: modules, dates, rules.

Holds what does not belong in the database: the module catalog (re-read when files change),
the time zone and working hours, due-date rules. Records live in ``training.records``, which
callers use with their own session so they can add their own writes to the same transaction.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from pacsbot.core.clock import Clock, SystemClock
from pacsbot.core.errors import NotFound, UserError
from pacsbot.training.catalog import Catalog, CatalogCache
from pacsbot.training.config import TrainingSettings
from pacsbot.training.content import Module
from pacsbot.training.records import VersionInfo, ensure_version
from pacsbot.training.schedule import in_working_hours, local_date, parse_due

log = logging.getLogger(__name__)

class TrainingService:
    def __init__(
        self,
        settings: TrainingSettings,
        *,
        timezone: str = "UTC",
        manual_dirs: list[Path] | None = None,
        base_url: str | None = None,
        clock: Clock | None = None,
        module_dirs: list[Path] | None = None,
    ):
        self.settings = settings
        self.tz = ZoneInfo(timezone)
        self.clock = clock or SystemClock()
        self.cache = CatalogCache(module_dirs if module_dirs is not None else settings.module_dirs(),
                                  manual_dirs=manual_dirs, base_url=base_url)

    # modules ---------------------------------------------------------------------------
    def catalog(self) -> Catalog:
        return self.cache.get()

    def module(self, module_id: str, catalog: Catalog | None = None) -> Module:
        catalog = catalog or self.catalog()
        found = catalog.get(module_id)
        if found is not None:
            return found
        guess = catalog.suggest(module_id)
        hint = f" Did you mean `{guess}`?" if guess else ""
        raise NotFound(f"There is no training module `{module_id}`.{hint} Type `/pacs train modules` to see them all.")

    def version(self, session: Session, module: Module) -> VersionInfo:
        """The recorded version of the module's current content (recorded on first use)."""
        return ensure_version(session, module, self.clock.now())

    # dates -----------------------------------------------------------------------------
    def now(self) -> datetime:
        return self.clock.now()

    def today(self) -> date:
        return local_date(self.clock.now(), self.tz)

    def default_due(self) -> date | None:
        days = self.settings.default_due_days
        return self.today() + timedelta(days=days) if days else None

    def parse_due(self, text: str) -> date:
        try:
            return parse_due(text, self.today())
        except ValueError as exc:
            raise UserError(str(exc)) from None

    def working_now(self) -> bool:
        start, end = self.settings.hours()
        return in_working_hours(self.clock.now(), self.tz, start, end, self.settings.weekday_numbers())
