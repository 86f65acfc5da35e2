"""Roles from config ids and Slack user groups: cached, refreshed, failing closed."""

from __future__ import annotations

import time

from pacsbot.bot.access import Access, GroupDirectory, Role
from pacsbot.bot.slack_client import make_web_client
from pacsbot.bot.slackmock import MockSlack


def test_roles_from_ids_and_admins_include_trainer() -> None:
    access = Access(["U0ADMIN01"], ["U0TRAIN01"])
    assert access.role_of("U0ADMIN01") is Role.ADMIN
    assert access.role_of("U0TRAIN01") is Role.TRAINER
    assert access.role_of("U0SOMEONE") is Role.CLINICIAN
    assert access.allows("U0ADMIN01", Role.TRAINER) and not access.allows("U0TRAIN01", Role.ADMIN)


def test_roles_from_groups_by_handle_and_id(mock_slack: MockSlack) -> None:
    mock_slack.add_usergroup("S0TRAIN01", "educators", ["U0EDU0001"])
    directory = GroupDirectory(make_web_client("xoxb-test-token", mock_slack.api_url))
    access = Access(["@pacs-admins"], ["S0TRAIN01"], directory)
    assert access.role_of("U0ADMIN02") is Role.ADMIN
    assert access.role_of("U0EDU0001") is Role.TRAINER
    assert access.role_of("U0OTHER01") is Role.CLINICIAN
    calls = len(mock_slack.calls)
    for _ in range(20):
        access.role_of("U0OTHER01")
    assert len(mock_slack.calls) == calls, "membership must be cached"


def test_membership_is_refreshed_after_the_ttl(mock_slack: MockSlack) -> None:
    now = [1000.0]
    directory = GroupDirectory(make_web_client("xoxb-test-token", mock_slack.api_url), refresh_seconds=60, monotonic=lambda: now[0])
    access = Access(["@pacs-admins"], [], directory)
    assert access.role_of("U0NEWADM1") is Role.CLINICIAN
    mock_slack.add_usergroup("S0ADMINS1", "pacs-admins", ["U0ADMIN02", "U0NEWADM1"])
    now[0] += 61
    access.role_of("U0NEWADM1")  # stale: served from cache while a refresh runs
    deadline = time.monotonic() + 5
    while access.role_of("U0NEWADM1") is not Role.ADMIN:
        assert time.monotonic() < deadline, "membership was not refreshed"
        time.sleep(0.02)


def test_slack_failure_fails_closed_then_keeps_last_known(mock_slack: MockSlack) -> None:
    now = [0.0]
    directory = GroupDirectory(make_web_client("xoxb-test-token", mock_slack.api_url), refresh_seconds=60, monotonic=lambda: now[0])
    access = Access(["@pacs-admins"], [], directory)
    mock_slack.fail("usergroups.list", error="ratelimited", times=1)
    assert access.role_of("U0ADMIN02") is Role.CLINICIAN  # nothing known: grants nothing
    now[0] += GroupDirectory.RETRY_AFTER_FAILURE + 1
    assert access.role_of("U0ADMIN02") is Role.ADMIN
    mock_slack.fail("usergroups.users.list", status=500, times=10)
    now[0] += 61
    assert access.role_of("U0ADMIN02") is Role.ADMIN  # Slack down: last known membership kept


def test_unknown_handle_grants_nothing(mock_slack: MockSlack) -> None:
    directory = GroupDirectory(make_web_client("xoxb-test-token", mock_slack.api_url))
    assert Access(["@no-such-group"], [], directory).role_of("U0ADMIN02") is Role.CLINICIAN


def test_overrides_win() -> None:
    access = Access(["U0ADMIN01"], [], overrides={"U0ADMIN01": Role.CLINICIAN})
    assert access.role_of("U0ADMIN01") is Role.CLINICIAN


def test_audiences_from_ids_and_groups_in_the_configured_order(mock_slack: MockSlack) -> None:
    mock_slack.add_usergroup("S0RADIOLO", "radiologists", ["U0RAD0001", "U0BOTH001"])
    mock_slack.add_usergroup("S0TECHS01", "ct-techs", ["U0BOTH001"])
    directory = GroupDirectory(make_web_client("xoxb-test-token", mock_slack.api_url))
    access = Access([], [], directory, audiences={"technologist": ["U0TECH001", "@ct-techs"], "radiologist": ["@radiologists"]})
    assert access.audiences_of("U0TECH001") == ("technologist",)
    assert access.audiences_of("U0RAD0001") == ("radiologist",)
    assert access.audiences_of("U0BOTH001") == ("technologist", "radiologist")
    assert access.audiences_of("U0OTHER01") == ()
    assert access.group_refs() == ["@ct-techs", "@radiologists"]  # warmed at start like the role groups


def test_audiences_before_an_ack_use_only_what_is_cached(mock_slack: MockSlack) -> None:
    mock_slack.add_usergroup("S0RADIOLO", "radiologists", ["U0RAD0001"])
    directory = GroupDirectory(make_web_client("xoxb-test-token", mock_slack.api_url))
    access = Access([], [], directory, audiences={"radiologist": ["@radiologists"]})
    assert access.audiences_of("U0RAD0001", wait=False) == ()  # not read yet: read in the background
    deadline = time.monotonic() + 5
    while access.audiences_of("U0RAD0001", wait=False) != ("radiologist",):
        assert time.monotonic() < deadline, "the group was not read in the background"
        time.sleep(0.02)
