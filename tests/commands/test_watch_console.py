"""The console: stop a demo node, let time pass, see the alert; start it, see the recovery."""

from __future__ import annotations

import io
from typing import Any

import pytest

from pacsbot.bot.console import HELP, Console
from tests.harness import make_settings


def test_stop_tick_alert_start_tick_recovery(tmp_path: Any, db_url: str) -> None:
    out = io.StringIO()
    with Console(make_settings(tmp_path, db_url), user="U0ADMIN01", out=out, wait_seconds=30) as c:
        assert c.run_script([":tick 1", ":node stop pacs", ":tick 15", ":node start pacs", ":tick 10",
                             ":node stop ct9", ":tick nine"]) == 0
    text = out.getvalue()
    assert "pacsbot posted in #pacs-admin:\n  :red_circle: *PACS* is down since " in text
    assert "connection refused" in text and "Outage ticket *PACS-1*." in text
    assert ":large_green_circle: *PACS* is back up after " in text
    assert text.count(":red_circle: *PACS* is down") == 1 and text.count("is back up after") == 1
    assert "(console: there is no demo node 'ct9'; demo nodes: vna, pacs)" in text
    assert "(console: usage: :tick [MINUTES]" in text


def test_help_names_the_new_commands() -> None:
    assert ":node stop|start NAME" in HELP and ":tick [MINUTES]" in HELP


@pytest.mark.parametrize("line", [":node stop pacs"])
def test_configured_nodes_cannot_be_stopped(tmp_path: Any, db_url: str, line: str) -> None:
    node = {"name": "pacs", "ae_title": "PACS", "host": "127.0.0.1", "port": 1, "watch": False}
    out = io.StringIO()
    with Console(make_settings(tmp_path, db_url, dicom={"nodes": [node]}), out=out) as c:
        c.run_script([line])
    assert "only the demo DICOM nodes can be stopped and started here" in out.getvalue()
