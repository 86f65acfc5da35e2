"""Every Web API client retries rate limits (after Retry-After) and Slack server errors."""

from __future__ import annotations

import time

import pytest
from slack_sdk.errors import SlackApiError

from pacsbot.bot.slack_client import make_web_client
from pacsbot.bot.slackmock import MockSlack


def test_429_is_retried_after_retry_after(mock_slack: MockSlack) -> None:
    client = make_web_client("xoxb-test-token", mock_slack.api_url)
    mock_slack.fail("chat.postMessage", status=429, retry_after=1, times=1)
    started = time.monotonic()
    response = client.chat_postMessage(channel="C0GENERAL", text="hello")
    assert response["ok"] is True
    assert time.monotonic() - started >= 1.0
    assert len(mock_slack.calls_to("chat.postMessage")) == 2


def test_server_errors_are_retried(mock_slack: MockSlack) -> None:
    client = make_web_client("xoxb-test-token", mock_slack.api_url)
    mock_slack.fail("views.publish", status=503, times=2)
    assert client.views_publish(user_id="U1", view={"type": "home", "blocks": []})["ok"]
    assert len(mock_slack.calls_to("views.publish")) == 3


def test_api_errors_are_not_retried(mock_slack: MockSlack) -> None:
    client = make_web_client("xoxb-test-token", mock_slack.api_url)
    mock_slack.fail("chat.postMessage", error="channel_not_found")
    with pytest.raises(SlackApiError):
        client.chat_postMessage(channel="C0NOPE", text="x")
    assert len(mock_slack.calls_to("chat.postMessage")) == 1


def test_the_base_url_is_used(mock_slack: MockSlack) -> None:
    client = make_web_client("xoxb-test-token", mock_slack.api_url)
    client.auth_test()
    assert mock_slack.calls_to("auth.test")[0].token == "xoxb-test-token"
