"""Slack Web API clients: one place that sets the base URL, timeouts and retries.

Bolt never reads ``SLACK_API_URL``; every client pacsbot makes comes from here so that the
configured base URL (GovSlack, a proxy, the local mock) is used by every Web API call, and so
that rate limits (HTTP 429, honouring Retry-After) and Slack server errors are retried.
"""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.webhook import WebhookClient

DEFAULT_TIMEOUT = 15


def retry_handlers() -> list[RetryHandler]:
    return [
        ConnectionErrorRetryHandler(max_retry_count=2),
        RateLimitErrorRetryHandler(max_retry_count=4),
        ServerErrorRetryHandler(max_retry_count=2),
    ]


def make_web_client(token: str | None, base_url: str | None = None, *, timeout: int = DEFAULT_TIMEOUT, patient: bool = True) -> WebClient:
    """A Web API client. ``patient=False`` is for calls that someone is waiting on (before an
    ack): a short timeout and one retry on a dropped connection, never a wait for Retry-After."""
    return WebClient(
        token=token,
        base_url=base_url or WebClient.BASE_URL,
        timeout=timeout,
        retry_handlers=retry_handlers() if patient else [ConnectionErrorRetryHandler(max_retry_count=1)],
    )


def make_webhook_client(url: str, *, timeout: int = DEFAULT_TIMEOUT) -> WebhookClient:
    """For ``response_url`` replies (Bolt's own respond() does not retry)."""
    return WebhookClient(url=url, timeout=timeout, retry_handlers=retry_handlers())
