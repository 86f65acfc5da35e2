"""Everything a handler needs, built once per process: settings, database, access, audit..."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

from slack_sdk import WebClient

from pacsbot.bot.access import Access, GroupDirectory, Role
from pacsbot.bot.audit import Audit
from pacsbot.bot.background import Background
from pacsbot.bot.feature_set import Features
from pacsbot.bot.features import register_all
from pacsbot.bot.privacy_gate import PrivacyGate, build_gate
from pacsbot.bot.registry import Registry
from pacsbot.bot.settings import Secrets, Settings
from pacsbot.bot.slack_client import GatedWebClient, make_web_client
from pacsbot.bot.storage import Database
from pacsbot.core.clock import Clock, SystemClock

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    secrets: Secrets
    db: Database
    audit: Audit
    access: Access
    clock: Clock
    background: Background
    registry: Registry
    client: WebClient
    # The one outbound privacy gate; ``client`` and every response_url reply use it.
    privacy: PrivacyGate
    # What bot/features/* register (the manual index, the DICOM service...), typed; None: not running.
    features: Features = field(default_factory=Features)

    def today(self) -> date:
        """The date at the site (``timezone``), by the services' clock."""
        return self.clock.now().astimezone(ZoneInfo(self.settings.timezone)).date()

    def close(self) -> None:
        self.background.shutdown(wait=True)
        self.db.dispose()


def build_services(
    settings: Settings,
    secrets: Secrets,
    *,
    clock: Clock | None = None,
    db: Database | None = None,
    client: WebClient | None = None,
    role_overrides: dict[str, Role] | None = None,
    register_features: bool = True,
) -> Services:
    """Build the process-wide services and let every feature declare what it handles."""
    clock = clock or SystemClock()
    db = db or Database(settings.database_url, pool_size=settings.database.pool_size)
    given = client
    client = client or make_web_client(secrets.bot_token, secrets.api_url)
    if not isinstance(client, GatedWebClient):
        raise TypeError("every Slack client must come from bot.slack_client.make_web_client (it carries the privacy gate)")
    # Role checks may have to read a user group before an ack: a quick client that never
    # sleeps through a rate limit (the cached membership is kept when it fails).
    quick = make_web_client(secrets.bot_token, secrets.api_url, timeout=3, patient=False) if given is None else client
    directory = GroupDirectory(quick, refresh_seconds=settings.roles.group_refresh_seconds)
    privacy = build_gate(settings, db, clock.now, known_groups=directory.mentioned_ids)
    client.gate = quick.gate = privacy
    access = Access(settings.roles.admins, settings.roles.trainers, directory, overrides=role_overrides,
                    audiences=settings.roles.audiences)
    services = Services(
        settings=settings,
        secrets=secrets,
        db=db,
        audit=Audit(db, clock),
        access=access,
        clock=clock,
        background=Background(settings.server.background_threads),
        registry=Registry(),
        client=client,
        privacy=privacy,
    )
    if register_features:

        register_all(services)
    return services
