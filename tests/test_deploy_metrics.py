"""deploy/prometheus-alerts.yml and deploy/grafana-dashboard.json cannot drift from the code:
every metric they name is one that ``/metrics`` serves, and (with ``promtool``) the rules and
the dashboard's queries are valid PromQL and the alerts fire when they should, and only then."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from pacsbot.bot import metrics
from tests.harness import ADMIN, Harness
from tests.metrics_support import Scrape

ROOT = Path(__file__).resolve().parent.parent
ALERTS = ROOT / "deploy" / "prometheus-alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana-dashboard.json"
SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{")  # a metric name and its label matchers
NOT_OURS = {"up"}  # made by Prometheus for every scrape
NO_PROMTOOL = "promtool is not installed (Debian/Ubuntu package `prometheus`): the PromQL itself is not checked"


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def dashboard_queries() -> list[str]:
    return [t["expr"] for p in dashboard()["panels"] for t in p.get("targets", [])]


def expressions() -> list[str]:
    return [rule["expr"] for rule in alert_rules()] + dashboard_queries()


def metric_names(expr: str) -> set[str]:
    # a string in a query (a template's nested query, a regex) is not a metric; label names in
    # by (...) are not followed by "{"
    return set(SELECTOR.findall(re.sub(r'"[^"]*"', '""', expr)))


def test_every_metric_the_samples_name_is_served(harness: Harness) -> None:
    harness.command(ADMIN, "help")
    metrics.scheduler_ticked()  # as a running scheduler does (the harness runs none)
    served = Scrape.of(harness.get("/metrics").body).names()
    named: dict[str, set[str]] = {}
    for expr in expressions():
        found = metric_names(expr)
        assert found, f"no metric in {expr!r}"
        for name in found:
            named.setdefault(name, set()).add(expr)
    missing = {name: exprs for name, exprs in named.items() if name not in served and name not in NOT_OURS}
    assert not missing, f"named in deploy/ but not served on /metrics: {missing}"
    # the dashboard shows what the issue asks for
    shown = set().union(*(metric_names(e) for e in dashboard_queries()))
    assert {"up", "pacsbot_acks_total", "pacsbot_ack_duration_seconds_bucket", "pacsbot_slack_api_calls_total",
            "pacsbot_slack_rate_limited_total", "pacsbot_outbox_backlog_messages", "pacsbot_outbox_oldest_message_age_seconds",
            "pacsbot_dicom_checks_total", "pacsbot_ticket_events_total"} <= shown


def test_every_query_is_scoped_to_the_scrape_job() -> None:
    for expr in expressions():
        for selector in re.findall(r"\b(?:up|pacsbot_[a-z0-9_]+)\s*\{([^}]*)\}", expr):
            assert re.search(r'\bjob="(pacsbot|\$job)"', selector), expr


def test_the_dashboard_is_importable() -> None:
    d = dashboard()
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))
    for panel in d["panels"]:
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"]) and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"} and panel["targets"], panel["title"]


def test_the_alerts_are_the_three_asked_for() -> None:
    rules = {rule["alert"]: rule for rule in alert_rules()}
    assert set(rules) == {"PacsbotDown", "PacsbotOutboxStuck", "PacsbotDicomNodeDown"}
    assert "absent(up" in rules["PacsbotDown"]["expr"]
    assert "> 900" in rules["PacsbotOutboxStuck"]["expr"]
    for rule in rules.values():
        assert rule["labels"]["severity"] in ("warning", "critical") and rule["annotations"]["summary"]


@pytest.fixture
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip(NO_PROMTOOL)
    return found


@pytest.mark.integration  # promtool: .ci/run installs it, and there a skip fails
def test_promtool_checks_the_rules_and_the_dashboard_queries(promtool: str, tmp_path: Path) -> None:
    checked = subprocess.run([promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # each dashboard query as a recording rule, with Grafana's variables filled in
    queries = [q.replace("$__rate_interval", "5m").replace("$job", "pacsbot") for q in dashboard_queries()]
    rules = {"groups": [{"name": "dashboard", "rules": [{"record": f"dashboard:query_{i}", "expr": q} for i, q in enumerate(queries)]}]}
    as_rules = tmp_path / "dashboard-rules.yml"
    as_rules.write_text(yaml.safe_dump(rules))
    checked = subprocess.run([promtool, "check", "rules", str(as_rules)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def _series(values: list[float]) -> str:
    return " ".join(f"{v:g}" for v in values)


@pytest.mark.integration  # promtool: .ci/run installs it, and there a skip fails
def test_promtool_the_alerts_fire_when_they_should(promtool: str, tmp_path: Path) -> None:
    minutes = 40
    bot = {"job": "pacsbot", "instance": "pacsbot:3000"}
    labels = 'job="pacsbot", instance="pacsbot:3000"'
    up = [1.0 if t <= 10 else 0.0 for t in range(minutes)]                       # down from minute 11
    age = [0.0 if t <= 10 else (t - 10) * 60.0 for t in range(minutes)]         # a message waits from minute 10
    pacs_ok = [3.0 * min(t, 10) for t in range(minutes)]                        # pacs stops answering at minute 10
    pacs_failed = [3.0 * max(0, t - 10) for t in range(minutes)]
    vna_ok = [3.0 * t for t in range(minutes)]                                  # vna always answers
    check = 'pacsbot_dicom_checks_total{%s, check="watch", node="%s", result="%s"}'
    rules = {rule["alert"]: rule["annotations"] for rule in alert_rules()}

    def told(alert: str, summary: str, **filled: str) -> dict[str, str]:
        """The annotations as Prometheus expands them: ``summary``, and the description filled in."""
        description = rules[alert]["description"]
        for template, value in filled.items():
            description = re.sub(template, value, description)
        assert "{{" not in description
        return {"summary": summary, "description": description}

    down = told("PacsbotDown", "pacsbot is down (pacsbot:3000)")
    down_absent = told("PacsbotDown", "pacsbot is down")
    stuck = told("PacsbotOutboxStuck", "pacsbot has not sent a Slack message for 18m 0s", **{r"\{\{ with query .*?\{\{ end \}\}": "3"})
    node = told("PacsbotDicomNodeDown", "DICOM node pacs is not answering", **{r"\{\{ \$labels\.node \}\}": "pacs"})
    spec = {
        "rule_files": [str(ALERTS)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": f"up{{{labels}}}", "values": _series(up)},
                    {"series": f"pacsbot_outbox_oldest_message_age_seconds{{{labels}}}", "values": _series(age)},
                    {"series": f"pacsbot_outbox_backlog_messages{{{labels}}}", "values": _series([3.0] * minutes)},
                    {"series": check % (labels, "pacs", "ok"), "values": _series(pacs_ok)},
                    {"series": check % (labels, "pacs", "failed"), "values": _series(pacs_failed)},
                    {"series": check % (labels, "vna", "ok"), "values": _series(vna_ok)},
                ],
                "alert_rule_test": [
                    {"eval_time": "12m", "alertname": "PacsbotDown", "exp_alerts": []},           # pending for 2 min
                    {"eval_time": "14m", "alertname": "PacsbotDown", "exp_alerts": [{"exp_labels": {**bot, "severity": "critical"}, "exp_annotations": down}]},
                    {"eval_time": "24m", "alertname": "PacsbotOutboxStuck", "exp_alerts": []},    # 14 min old
                    {"eval_time": "28m", "alertname": "PacsbotOutboxStuck", "exp_alerts": [{"exp_labels": {"severity": "warning"}, "exp_annotations": stuck}]},
                    {"eval_time": "13m", "alertname": "PacsbotDicomNodeDown", "exp_alerts": []},  # an answer 3 min ago
                    {"eval_time": "21m", "alertname": "PacsbotDicomNodeDown",
                     "exp_alerts": [{"exp_labels": {"node": "pacs", "severity": "critical"}, "exp_annotations": node}]},  # vna: never
                ],
            },
            {
                "interval": "1m",
                "input_series": [{"series": 'up{job="other"}', "values": "1x10"}],  # no pacsbot target at all
                "alert_rule_test": [
                    {"eval_time": "5m", "alertname": "PacsbotDown", "exp_alerts": [{"exp_labels": {"job": "pacsbot", "severity": "critical"}, "exp_annotations": down_absent}]},
                ],
            },
        ],
    }
    tests = tmp_path / "alerts-test.yml"
    tests.write_text(yaml.safe_dump(spec))
    tested = subprocess.run([promtool, "test", "rules", str(tests)], capture_output=True, text=True)
    assert tested.returncode == 0, tested.stdout + tested.stderr
