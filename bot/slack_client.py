"""Slack Web API clients: one place that sets the base URL, timeouts, retries — and the gate.

Bolt never reads ``SLACK_API_URL``; every client pacsbot makes comes from here so that the
configured base URL (GovSlack, a proxy, the local mock) is used by every Web API call, and so
that rate limits (HTTP 429, honouring Retry-After) and Slack server errors are retried.

Every client is gated: what it writes where others can read it (messages, updates, files)
passes the privacy gate (``bot.privacy_gate``) in :meth:`GatedWebClient.api_call`, the
method every Web API call goes through. ``build_services`` installs the installation's gate;
until then a client uses the default gate (cue words, names, dates), never none.

Every call is counted there too (``pacsbot_slack_api_calls_total``), and every HTTP 429 by
:class:`CountRateLimits`, the first retry handler of every client, which sees each answer.
"""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.webhook import WebhookClient, WebhookResponse

from pacsbot.bot import metrics
from pacsbot.bot.privacy_gate import PUBLIC_METHODS, PrivacyGate
from pacsbot.core.privacy import strip_vouch

DEFAULT_TIMEOUT = 15


RESPONSE_URL = "response_url"  # the "method" of a reply to a response_url (its URL is a secret)


def method_of(url: str) -> str:
    """The Web API method a request URL calls (``chat.postMessage``), else ``response_url``."""
    _, api, method = url.partition("/api/")
    return method.split("?", 1)[0].strip("/") if api and method else RESPONSE_URL


class CountRateLimits(RetryHandler):
    """Retries nothing: counts every HTTP 429 (``pacsbot_slack_rate_limited_total``), those the
    next handler waits out included. First in every client's list, so it sees each answer."""

    def __init__(self) -> None:
        super().__init__(max_retry_count=2**31)

    def _can_retry(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                   error: Exception | None = None) -> bool:
        if response is not None and response.status_code == 429:
            metrics.count_rate_limited(method_of(request.url))
        return False


def retry_handlers() -> list[RetryHandler]:
    return [
        CountRateLimits(),
        ConnectionErrorRetryHandler(max_retry_count=2),
        RateLimitErrorRetryHandler(max_retry_count=4),
        ServerErrorRetryHandler(max_retry_count=2),
    ]


class GatedWebClient(WebClient):
    """A WebClient whose every call passes the privacy gate (public methods masked)."""

    def __init__(self, *args: Any, gate: PrivacyGate | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.gate = gate or PrivacyGate.default()

    def api_call(self, api_method: str, *, json: dict | None = None, data: dict | None = None,
                 params: dict | None = None, **kwargs: Any) -> Any:
        gate = self.gate
        method = api_method.strip("/")
        gated = gate.public if method in PUBLIC_METHODS else gate.private
        if method == "files.completeUploadExternal" and not _to_a_channel(json, data, params):
            gated = gate.private  # a file in a DM the asker opened (their own report)
        if json is not None:
            json = gated(json)
        if data is not None and isinstance(data, dict):
            data = gated(data)
        if params is not None:
            params = gated(params)
        result = "exception"
        try:
            response = super().api_call(api_method, json=json, data=data, params=params, **kwargs)
            result = "ok"
            return response
        except SlackApiError as exc:
            result = "ratelimited" if getattr(exc.response, "status_code", None) == 429 else "error"
            raise
        finally:
            metrics.count_slack_call(method, result)

    def files_upload_v2(self, **kwargs: Any) -> Any:
        """A file shared in a channel: its text content is masked like a message (CSV
        exports), images pass as made (charts of counts). A file in a DM is the asker's."""
        if not _to_a_channel(kwargs):
            for key in ("content", "title", "initial_comment", "alt_txt"):
                if isinstance(kwargs.get(key), str):
                    kwargs[key] = strip_vouch(kwargs[key])
            return super().files_upload_v2(**kwargs)
        # The title and comment go out with files.completeUploadExternal, gated in api_call;
        # the content is uploaded to a URL of its own, so it is masked here.
        content = kwargs.get("content")
        if isinstance(content, bytes):
            try:
                text = content.decode("utf-8")
            except UnicodeDecodeError:
                text = None
            if text is not None:
                kwargs["content"] = self.gate.text(text, mrkdwn=False)
        elif isinstance(content, str):
            kwargs["content"] = self.gate.text(content, mrkdwn=False)
        return super().files_upload_v2(**kwargs)


def _to_a_channel(*payloads: dict[str, Any] | None) -> bool:
    """Does a file upload go to a channel (C…/G…), rather than a direct message (D…)?"""
    for payload in payloads:
        for key in ("channel", "channel_id", "channels"):
            value = (payload or {}).get(key)
            if not value:
                continue
            for channel in str(value).split(","):
                if not channel.strip().startswith("D"):
                    return True
    return False


class GatedWebhookClient(WebhookClient):
    """``response_url`` replies: gated when posted in the channel, markers stripped always."""

    def __init__(self, *args: Any, gate: PrivacyGate | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.gate = gate or PrivacyGate.default()

    def send_dict(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> WebhookResponse:
        result = "exception"
        try:
            response = super().send_dict(self.gate.reply(body), headers=headers)
            result = "ok" if response.status_code == 200 else "ratelimited" if response.status_code == 429 else "error"
            return response
        finally:
            metrics.count_slack_call(RESPONSE_URL, result)


def make_web_client(token: str | None, base_url: str | None = None, *, timeout: int = DEFAULT_TIMEOUT, patient: bool = True,
                    gate: PrivacyGate | None = None) -> GatedWebClient:
    """A Web API client. ``patient=False`` is for calls that someone is waiting on (before an
    ack): a short timeout and one retry on a dropped connection, never a wait for Retry-After."""
    return GatedWebClient(
        gate=gate,
        token=token,
        base_url=base_url or WebClient.BASE_URL,
        timeout=timeout,
        retry_handlers=retry_handlers() if patient else [CountRateLimits(), ConnectionErrorRetryHandler(max_retry_count=1)],
    )


def make_webhook_client(url: str, *, timeout: int = DEFAULT_TIMEOUT, gate: PrivacyGate | None = None) -> GatedWebhookClient:
    """For ``response_url`` replies (Bolt's own respond() does not retry)."""
    return GatedWebhookClient(url=url, timeout=timeout, retry_handlers=retry_handlers(), gate=gate)
