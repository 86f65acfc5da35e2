"""Installing pacsbot as a service: the systemd unit (deploy/pacsbot.service) and the container
image (Dockerfile, .dockerignore, compose.yaml).

``systemd-analyze verify`` checks the unit where systemd is installed; the image is built and
health-checked where a container runtime (docker, podman) answers. Elsewhere those two skip
and the static checks below still hold the essentials in place.
"""

from __future__ import annotations

import http.server
import json
import re
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "deploy" / "pacsbot.service"
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "compose.yaml"
DOCKERIGNORE = ROOT / ".dockerignore"
EXEC_START = "/opt/pacsbot/bin/pacsbot"


def unit_entries(text: str) -> dict[str, list[tuple[str, str]]]:
    """[Section] -> [(key, value), ...] in order (a key may repeat, as systemd allows)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        assert current is not None, f"a key before any section: {line!r}"
        key, sep, value = line.partition("=")
        assert sep, f"not key=value: {line!r}"
        current.append((key.strip(), value.strip()))
    return sections


def unit_section(name: str) -> dict[str, str]:
    entries = unit_entries(UNIT.read_text(encoding="utf-8"))
    assert name in entries, f"deploy/pacsbot.service has no [{name}] section"
    return {key: value for key, value in entries[name]}  # the last one wins, as in systemd


# --------------------------------------------------------------------------------------
# the systemd unit

def verify(unit: Path) -> tuple[int, list[str]]:
    """``systemd-analyze verify``: its exit status and the lines it printed about ``unit``."""
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)],
                            capture_output=True, text=True, timeout=60, check=False)
    output = (result.stdout + result.stderr).splitlines()
    return result.returncode, [line for line in output if str(unit) in line or unit.name in line]


def runnable_copy(tmp_path: Path, text: str) -> Path:
    """The unit with ExecStart= on this machine's pacsbot (verify checks that it exists)."""
    assert f"ExecStart={EXEC_START} " in text
    copy = tmp_path / "pacsbot.service"
    copy.write_text(text.replace(f"ExecStart={EXEC_START} ", f"ExecStart={sys.executable} -m pacsbot.bot "), encoding="utf-8")
    return copy


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed (no systemd here): the unit is only checked statically")
def test_systemd_analyze_verify_finds_nothing_wrong_in_the_unit(tmp_path: Path) -> None:
    code, problems = verify(runnable_copy(tmp_path, UNIT.read_text(encoding="utf-8")))
    assert problems == [], "systemd-analyze verify:\n" + "\n".join(problems)
    assert code == 0


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed (no systemd here): the unit is only checked statically")
def test_systemd_analyze_verify_would_report_a_mistake(tmp_path: Path) -> None:
    """The check above is not vacuous: a misspelt key and a bad value are reported."""
    text = UNIT.read_text(encoding="utf-8").replace("ProtectHome=true", "ProtectHome=maybe\nProtectHme=true")
    _, problems = verify(runnable_copy(tmp_path, text))
    assert any("ProtectHme" in line for line in problems), problems
    assert any("maybe" in line for line in problems), problems


def test_the_unit_starts_pacsbot_serve_as_its_own_user() -> None:
    unit, service, install = unit_section("Unit"), unit_section("Service"), unit_section("Install")
    assert unit["Description"] and unit["Documentation"]
    assert set(unit["After"].split()) >= {"network-online.target", "postgresql.service"}
    assert "network-online.target" in unit["Wants"].split()
    assert service["Type"] == "simple"
    assert service["ExecStart"] == f"{EXEC_START} serve --config /etc/pacsbot/pacsbot.yml"
    assert service["User"] == service["Group"] == "pacsbot"
    assert service.get("DynamicUser", "no") == "no"
    assert service["StateDirectory"] == "pacsbot"
    assert service["WorkingDirectory"] == "/var/lib/pacsbot"
    assert service["EnvironmentFile"] == "/etc/pacsbot/secrets.env"
    assert install["WantedBy"] == "multi-user.target"


def test_the_unit_restarts_on_failure_but_not_on_a_bad_configuration() -> None:
    service = unit_section("Service")
    assert service["Restart"] == "on-failure"
    assert service["RestartSec"]
    assert "2" in service["RestartPreventExitStatus"].split()  # pacsbot's exit 2: bad configuration
    assert service["TimeoutStopSec"]


HARDENING = {
    "ProtectSystem": "strict",
    "ProtectHome": "true",
    "PrivateTmp": "true",
    "NoNewPrivileges": "true",
    "ProtectKernelTunables": "true",
    "ProtectKernelModules": "true",
    "ProtectKernelLogs": "true",
    "ProtectControlGroups": "true",
    "RestrictNamespaces": "true",
    "LockPersonality": "true",
    "MemoryDenyWriteExecute": "true",
    "SystemCallArchitectures": "native",
    "CapabilityBoundingSet": "",
}


def test_the_unit_is_hardened() -> None:
    service = unit_section("Service")
    missing = {key: value for key, value in HARDENING.items() if service.get(key) != value}
    assert missing == {}, f"hardening keys missing or weaker: {missing}"
    assert set(service["RestrictAddressFamilies"].split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}
    # ProtectSystem=strict: only the state and cache folders are writable, nothing added
    assert service.get("ReadWritePaths", "") in ("", "/var/lib/pacsbot")


# --------------------------------------------------------------------------------------
# the container image: static

def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's stages, each a list of (INSTRUCTION, arguments), continuations joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    stages: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, arguments = line.partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((instruction.upper(), arguments.strip()))
    return stages


def test_the_image_is_built_in_two_stages_from_a_wheel() -> None:
    stages = dockerfile_stages()
    assert len(stages) >= 2
    assert any(i == "RUN" and "pip wheel" in a for i, a in stages[0])
    final = stages[-1]
    install = next(a for i, a in final if i == "RUN" and "pip install" in a)
    assert "[postgresql,charts]" in install
    assert "'/wheels/pacsbot-*.whl" not in install  # pip does not expand a quoted glob


def test_the_image_runs_as_a_fixed_non_root_user_with_its_data_in_a_volume() -> None:
    final = dockerfile_stages()[-1]
    users = [a for i, a in final if i == "USER"]
    assert users, "no USER in the final stage: it would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    args = dict(a.partition("=")[::2] for i, a in final if i == "ARG")
    uid = args.get(user.strip("${}"), user)
    assert uid.isdigit() and int(uid) >= 1000, f"USER {users[-1]} is not a fixed non-root UID"
    assert any(i == "VOLUME" and "/var/lib/pacsbot" in a for i, a in final)
    env = " ".join(a for i, a in final if i == "ENV")
    for setting in ("PACSBOT_DATA_DIR=/var/lib/pacsbot", "HOME=/tmp", "TMPDIR=/tmp"):
        assert setting in env
    assert ("EXPOSE", "3000") in final


def test_the_image_has_a_healthcheck_on_healthz() -> None:
    final = dockerfile_stages()[-1]
    checks = [a for i, a in final if i == "HEALTHCHECK"]
    assert len(checks) == 1 and "CMD" in checks[0] and "/healthz" in checks[0]
    entrypoint = [a for i, a in final if i in ("ENTRYPOINT", "CMD")]
    assert json.loads(entrypoint[0]) == ["pacsbot"] and json.loads(entrypoint[1])[0] == "serve"


def test_dockerignore_keeps_local_state_out_of_the_build() -> None:
    patterns = {line.strip().rstrip("/") for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.startswith("#")}
    assert patterns >= {".venv", ".git", "tests/golden", "benchmarks/data", "pacsbot-data", "build", "secrets.env"}


def test_compose_runs_pacsbot_after_a_healthy_postgresql() -> None:
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    postgres, pacsbot = compose["services"]["postgres"], compose["services"]["pacsbot"]
    assert postgres["image"].split(":")[1].startswith("16")
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert pacsbot["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert pacsbot["env_file"]
    volumes = set(compose["volumes"])
    postgres_volume, _, target = postgres["volumes"][0].partition(":")
    assert postgres_volume in volumes and target == "/var/lib/postgresql/data"
    mounts = dict(m.split(":")[1::-1] for m in pacsbot["volumes"])  # target -> source
    assert mounts["/var/lib/pacsbot"] in volumes
    assert mounts["/etc/pacsbot/pacsbot.yml"].startswith("./")
    assert pacsbot["environment"]["PACSBOT_CONFIG"] == "/etc/pacsbot/pacsbot.yml"
    assert pacsbot["read_only"] is True and "/tmp" in pacsbot["tmpfs"]


# --------------------------------------------------------------------------------------
# the container image: built and run, where a container runtime answers

def container_runtime() -> str | None:
    for name in ("docker", "podman"):
        if shutil.which(name) is None:
            continue
        try:
            if subprocess.run([name, "info"], capture_output=True, timeout=30, check=False).returncode == 0:
                return name
        except (OSError, subprocess.TimeoutExpired):
            continue
    return None


def runtime_or_skip() -> str:
    runtime = container_runtime()
    if runtime is None:
        found = [name for name in ("docker", "podman") if shutil.which(name)]
        pytest.skip(f"no container runtime answers here ({', '.join(found) + ' installed but `info` fails' if found else 'neither docker nor podman is installed'}): "
                    "the image is only checked statically")
    return runtime


class FakeSlack(http.server.BaseHTTPRequestHandler):
    """Slack's Web API as far as `pacsbot serve` needs it: every method answers ok."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"ok": True, "team": "T0TEST", "user_id": "U0BOT", "user": "pacsbot",
                           "team_id": "T0TEST", "bot_id": "B0BOT"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture()
def fake_slack() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("0.0.0.0", 0), FakeSlack)  # reached from the container
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
def test_the_image_builds_runs_read_only_and_turns_healthy(fake_slack: int) -> None:
    runtime = runtime_or_skip()
    tag = f"pacsbot-test:{secrets.token_hex(4)}"
    volume = f"pacsbot-test-{secrets.token_hex(4)}"
    name = f"pacsbot-test-{secrets.token_hex(4)}"

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([runtime, *args], capture_output=True, text=True, timeout=timeout, check=False)

    build = run("build", "-t", tag, str(ROOT), timeout=1800)
    assert build.returncode == 0, build.stdout[-4000:] + build.stderr[-4000:]
    try:
        config = json.loads(run("image", "inspect", tag).stdout)[0]["Config"]
        assert config["User"].split(":")[0] not in ("", "root", "0")
        assert "/var/lib/pacsbot" in (config.get("Volumes") or {})
        assert config.get("Healthcheck", {}).get("Test")

        read_only = ["--read-only", "--tmpfs", "/tmp", "-v", f"{volume}:/var/lib/pacsbot"]
        upgrade = run("run", "--rm", *read_only, tag, "db", "upgrade")
        assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
        check = run("run", "--rm", *read_only, tag, "db", "check")
        assert check.returncode == 0, check.stdout + check.stderr

        # HTTP mode against a fake Slack on this host; the image's own HEALTHCHECK, every 2 s
        started = run("run", "-d", "--name", name, *read_only, "--add-host", "host.docker.internal:host-gateway",
                      "-e", "SLACK_BOT_TOKEN=xoxb-test", "-e", "SLACK_SIGNING_SECRET=test-secret",
                      "-e", f"SLACK_API_URL=http://host.docker.internal:{fake_slack}/api/",
                      "--health-interval", "2s", "--health-start-period", "60s", tag)
        assert started.returncode == 0, started.stderr
        deadline, status = time.monotonic() + 180, ""
        while time.monotonic() < deadline:
            status = run("inspect", "--format", "{{.State.Health.Status}}", name).stdout.strip()
            if status in ("healthy", "unhealthy") or run("inspect", "--format", "{{.State.Running}}", name).stdout.strip() == "false":
                break
            time.sleep(2)
        logs = run("logs", name)
        assert status == "healthy", f"health: {status!r}\n{logs.stdout[-3000:]}{logs.stderr[-3000:]}"
        stop = run("stop", "-t", "45", name, timeout=90)
        assert stop.returncode == 0
        assert run("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip() == "0"
    finally:
        run("rm", "-f", name)
        run("volume", "rm", "-f", volume)
        run("image", "rm", "-f", tag)

