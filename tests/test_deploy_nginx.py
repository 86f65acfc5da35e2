"""The nginx example (deploy/nginx/pacsbot.conf) in a real nginx, in front of a real
``pacsbot serve`` (gunicorn; tests/bot/test_serve.py's ``served``), over real TLS.

The example is rendered mechanically (``render``): the marked placeholders (server name,
certificate paths), the ports and the log folder are replaced, nothing else, and the result
is included in a minimal nginx.conf whose main-context settings (pid, temporary folders) all
point into a temporary prefix, so nginx runs as whoever runs the tests. Where nginx is not
installed the integration tests skip (a failure under ``--require-integration``; ``.ci/run``
installs it) and the static checks still hold the essentials in place.
"""

from __future__ import annotations

import datetime
import http.client
import ipaddress
import json
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pacsbot.bot.simulate import Simulator
from pacsbot.bot.slackmock import MockSlack
from tests.bot.test_serve import SECRET, free_port, served  # noqa: F401 - served: a fixture

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "deploy" / "nginx" / "pacsbot.conf"
SERVER_NAME = "pacsbot.test"
BODY_LIMIT = 1024 * 1024  # client_max_body_size 1m


def nginx_binary() -> str | None:
    """nginx (Debian's ``nginx`` package: /usr/sbin/nginx, not on a normal user's PATH)."""
    return shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


NGINX = nginx_binary()
needs_nginx = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (apt-get install nginx; .ci/run installs it)")


def strip_comments(text: str) -> str:
    return "\n".join(line.split("#", 1)[0].rstrip() for line in text.splitlines())


# --------------------------------------------------------------------------------------
# rendering the example into a temporary prefix

@dataclass
class Ports:
    https: int
    http: int
    upstream: int


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for SERVER_NAME and 127.0.0.1 (EC P-256: quick to make)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SERVER_NAME)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(SERVER_NAME), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "fullchain.pem", folder / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


def render(prefix: Path, ports: Ports) -> Path:
    """The example with its placeholders, ports and log folder replaced (each must occur as
    expected: a changed example fails here, not silently), in a minimal nginx.conf whose
    main-context paths are all under ``prefix``. Returns that nginx.conf."""
    for folder in ("conf", "logs", "tmp", "tls"):
        (prefix / folder).mkdir(parents=True, exist_ok=True)
    if not (prefix / "tls" / "fullchain.pem").exists():
        make_certificate(prefix / "tls")
    text = EXAMPLE.read_text(encoding="utf-8")
    substitutions = [  # (in the example, replaced by, how many times)
        ("/etc/ssl/certs/pacsbot.example.org.fullchain.pem", str(prefix / "tls" / "fullchain.pem"), 1),
        ("/etc/ssl/private/pacsbot.example.org.key", str(prefix / "tls" / "privkey.pem"), 1),
        ("server_name pacsbot.example.org;", f"server_name {SERVER_NAME};", 2),
        ("listen 443 ssl;", f"listen 127.0.0.1:{ports.https} ssl;", 1),
        ("listen 80;", f"listen 127.0.0.1:{ports.http};", 1),
        ("server 127.0.0.1:3000;", f"server 127.0.0.1:{ports.upstream};", 1),
        ("/var/log/nginx/", f"{prefix}/logs/", 4),
    ]
    for old, new, count in substitutions:
        assert text.count(old) == count, f"{EXAMPLE.name}: expected {old!r} {count} time(s), found {text.count(old)}"
        text = text.replace(old, new)
    leftover = re.findall(r"(?:/etc/|/var/|example\.org)\S*", strip_comments(text))
    assert not leftover, f"not rendered into the prefix: {leftover}"
    (prefix / "conf" / "pacsbot.conf").write_text(text, encoding="utf-8")

    # as root (CI), keep the workers as this user too: the prefix is private to it
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
    temp = "\n".join(f"    {kind}_temp_path {prefix}/tmp/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    main = prefix / "conf" / "nginx.conf"
    main.write_text(
        f"{user}worker_processes 1;\n"
        f"error_log {prefix}/logs/error.log;\n"
        "events { worker_connections 128; }\n"
        "http {\n"
        f"{temp}\n"
        f"    access_log {prefix}/logs/access.log;\n"
        f"    include {prefix}/conf/pacsbot.conf;\n"
        "}\n",
        encoding="utf-8",
    )
    return main


def nginx_command(prefix: Path, conf: Path, *extra: str) -> list[str]:
    assert NGINX is not None
    return [NGINX, "-p", f"{prefix}/", "-e", f"{prefix}/logs/error.log", "-c", str(conf), *extra]


def can_connect(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


@dataclass
class Nginx:
    prefix: Path
    ports: Ports
    proc: subprocess.Popen[str]

    @property
    def error_log(self) -> str:
        """nginx's own error log and the example's (warnings and worse)."""
        paths = (self.prefix / "logs" / "error.log", self.prefix / "logs" / "pacsbot.error.log")
        return "".join(path.read_text(encoding="utf-8", errors="replace") for path in paths if path.exists())


def start_nginx(prefix: Path, upstream: int, *, attempts: int = 3) -> Nginx:
    """nginx in the foreground on free ports of 127.0.0.1, serving when this returns. A port
    taken between choosing and binding it (the suites run side by side) means another try."""
    for attempt in range(attempts):
        ports = Ports(https=free_port(), http=free_port(), upstream=upstream)
        conf = render(prefix, ports)
        proc = subprocess.Popen(nginx_command(prefix, conf, "-g", f"daemon off; pid {prefix}/logs/nginx.pid;"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            if can_connect(ports.https) and can_connect(ports.http):
                return Nginx(prefix, ports, proc)
            time.sleep(0.05)
        if proc.poll() is None:
            proc.kill()
        _out, err = proc.communicate(timeout=30)
        if "Address already in use" not in err or attempt == attempts - 1:
            pytest.fail(f"nginx did not start: {err[-2000:]}")
    raise AssertionError("unreachable")


def stop_nginx(server: Nginx) -> None:
    server.proc.send_signal(signal.SIGQUIT)  # graceful: finish requests in progress, then exit
    try:
        server.proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.communicate()


@pytest.fixture
def behind_nginx(tmp_path: Path, served: tuple[int, Any, MockSlack]) -> Iterator[tuple[Nginx, MockSlack]]:  # noqa: F811
    """A real ``pacsbot serve`` on 127.0.0.1 with the example nginx in front of it."""
    port, _proc, mock = served
    server = start_nginx(tmp_path / "nginx", port)
    try:
        yield server, mock
    finally:
        stop_nginx(server)


# --------------------------------------------------------------------------------------
# a client

@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def tls_context(prefix: Path, *, version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(prefix / "tls" / "fullchain.pem"))
    if version is not None:
        context.minimum_version = context.maximum_version = version
    return context


def https(server: Nginx, method: str, path: str, body: bytes | str = b"", headers: dict[str, str] | None = None, *,
          source: str | None = None, context: ssl.SSLContext | None = None) -> Response:
    """One request over TLS to 127.0.0.1 (the certificate is checked), as Host: SERVER_NAME."""
    conn = http.client.HTTPSConnection("127.0.0.1", server.ports.https, timeout=30,
                                       context=context or tls_context(server.prefix),
                                       source_address=(source, 0) if source else None)
    try:
        conn.request(method, path, body=body.encode() if isinstance(body, str) else body,
                     headers={"Host": SERVER_NAME, **(headers or {})})
        response = conn.getresponse()
        return Response(response.status, response.headers, response.read())
    finally:
        conn.close()


def plain_http(port: int, method: str, path: str, body: bytes = b"") -> Response:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers={"Host": SERVER_NAME})
        response = conn.getresponse()
        return Response(response.status, response.headers, response.read())
    finally:
        conn.close()


def post_oversize(server: Nginx, headers: dict[str, str], body: bytes, *, chunked: bool = False) -> Response:
    """POST /slack/events with a body over the limit, sending none of it when its length is
    declared, and all of it in 64 KiB chunks but no last chunk when ``chunked``: nginx must
    answer without waiting for more (it would time out with 408 otherwise). Nothing is sent
    after nginx may have answered, which would race it closing the connection."""
    assert len(body) > BODY_LIMIT
    lines = ["POST /slack/events HTTP/1.1", f"Host: {SERVER_NAME}", *(f"{k}: {v}" for k, v in headers.items()),
             "Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(body)}", "Connection: close"]
    with socket.create_connection(("127.0.0.1", server.ports.https), timeout=30) as raw, \
            tls_context(server.prefix).wrap_socket(raw, server_hostname=SERVER_NAME) as tls:
        tls.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        if chunked:
            tls.sendall(b"".join(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
                                 for chunk in (body[i:i + 65536] for i in range(0, len(body), 65536))))
        response = http.client.HTTPResponse(tls)
        response.begin()
        return Response(response.status, response.headers, response.read())


def from_nginx(response: Response) -> bool:
    """nginx's own error page (pacsbot's errors are JSON), without a version."""
    return b"<center>nginx</center>" in response.body and response.headers.get("Content-Type", "").startswith("text/html")


def health(server: Nginx, **kw: Any) -> Response:
    """GET /healthz, again while a check is still under way (it answers within 0.9 s)."""
    deadline = time.monotonic() + 30
    while True:
        response = https(server, "GET", "/healthz", **kw)
        if b"still checking" not in response.body or time.monotonic() > deadline:
            return response
        time.sleep(0.1)


# --------------------------------------------------------------------------------------
# static checks: hold the essentials in place even where nginx is not installed

def test_example_config_keeps_the_essentials() -> None:
    text = strip_comments(EXAMPLE.read_text(encoding="utf-8"))
    directives = {line.strip() for line in text.splitlines() if line.strip()}
    for expected in ("server_tokens off;", "ssl_protocols TLSv1.2 TLSv1.3;", "client_max_body_size 1m;",
                     "client_body_buffer_size 1m;", "proxy_max_temp_file_size 0;",
                     "proxy_set_header X-Forwarded-For $remote_addr;", "proxy_set_header X-Forwarded-Proto $scheme;",
                     "location = /slack/events {", "location ~ ^/(healthz|metrics)$ {", "return 404;",
                     "return 301 https://$server_name$request_uri;", "deny all;", "allow 127.0.0.1;"):
        assert expected in directives, f"{EXAMPLE.name} lost {expected!r}"
    assert "TLSv1.1" not in text and "TLSv1 " not in text and "SSLv3" not in text
    # the proxy's timeouts bound a stuck pacsbot without cutting an answer Slack still waits
    # for (3 s); pacsbot is on this host, so connecting takes no time
    timeouts = {name: int(seconds) for name, seconds in re.findall(r"^\s*(proxy_\w+_timeout)\s+(\d+)s;", text, re.M)}
    assert timeouts.keys() == {"proxy_connect_timeout", "proxy_send_timeout", "proxy_read_timeout"}, timeouts
    assert 1 <= timeouts["proxy_connect_timeout"] <= 3, timeouts
    assert 3 < timeouts["proxy_read_timeout"] <= 30 and 3 < timeouts["proxy_send_timeout"] <= 30, timeouts
    # only two locations pass anything to pacsbot: Slack's and the monitoring one
    assert text.count("proxy_pass http://pacsbot;") == 2
    # CHANGE marks every value an admin must set
    marked = [line for line in EXAMPLE.read_text(encoding="utf-8").splitlines() if "# CHANGE" in line]
    assert sum("server_name" in line for line in marked) == 2
    assert any("ssl_certificate " in line for line in marked) and any("ssl_certificate_key" in line for line in marked)


@needs_nginx
def test_nginx_t_accepts_the_rendered_example(tmp_path: Path) -> None:
    prefix = tmp_path / "nginx"
    conf = render(prefix, Ports(https=free_port(), http=free_port(), upstream=free_port()))
    result = subprocess.run(nginx_command(prefix, conf, "-t", "-g", f"pid {prefix}/logs/nginx.pid;"),
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr and "test is successful" in result.stderr
    assert "[warn]" not in result.stderr and "[emerg]" not in result.stderr, result.stderr


# --------------------------------------------------------------------------------------
# a real nginx in front of a real pacsbot

@pytest.mark.integration
@needs_nginx
def test_the_example_in_front_of_pacsbot(behind_nginx: tuple[Nginx, MockSlack]) -> None:
    """One test, so pacsbot starts once (most of its time): Slack's path, then the rest."""
    server, mock = behind_nginx
    slack_requests_pass_through_to_pacsbot(server, mock)
    everything_else_is_refused_or_redirected(server)


def slack_requests_pass_through_to_pacsbot(server: Nginx, mock: MockSlack) -> None:
    sim = Simulator(SECRET, response_url_base=mock.respond_base)

    good = sim.slash_command("U0ADMIN01", "help")
    response = https(server, "POST", "/slack/events", good.body, good.headers)
    assert response.status == 200 and b"/pacs audit" in response.body
    assert response.headers["Server"] == "nginx"  # server_tokens off; gunicorn's header is not passed on
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")

    forged = Simulator("not-the-secret").slash_command("U0ADMIN01", "help")
    response = https(server, "POST", "/slack/events", forged.body, forged.headers)
    assert response.status == 401 and not from_nginx(response)  # pacsbot's own refusal

    # the largest Slack sends (a 40,000-character message, repeated in its blocks, every
    # character escaped in JSON): well under the limit, and acked
    text = "é" * 40_000
    big = sim.event({"type": "message", "user": "U0ADMIN01", "channel": "C0GENERAL", "channel_type": "channel",
                     "ts": f"{time.time():.6f}", "text": text,
                     "blocks": [{"type": "rich_text", "elements": [{"type": "rich_text_section",
                                                                    "elements": [{"type": "text", "text": text}]}]}]})
    assert 400_000 < len(big.body) < BODY_LIMIT
    assert https(server, "POST", "/slack/events", big.body, big.headers).status == 200
    # ... kept in memory: nginx warns when it writes a body to a temporary file (Slack's
    # bodies can hold patient details)
    assert "temporary file" not in server.error_log, server.error_log

    # over the limit: 413 from nginx, before reading the body when its length is declared,
    # and as soon as it passes the limit when it is not (chunked: nginx may write such a body
    # to a temporary file before refusing it)
    oversize = sim.event({"type": "message", "user": "U0ADMIN01", "channel": "C0GENERAL", "channel_type": "channel",
                          "ts": f"{time.time():.6f}", "text": "x" * BODY_LIMIT})
    response = post_oversize(server, oversize.headers, oversize.body.encode())
    assert response.status == 413 and from_nginx(response)
    response = post_oversize(server, oversize.headers, oversize.body.encode(), chunked=True)
    assert response.status == 413 and from_nginx(response)

    # only POST reaches the Slack path
    response = https(server, "GET", "/slack/events")
    assert response.status == 403 and from_nginx(response)

    # pacsbot still answers after all that, and nginx had nothing worse than errors to say
    again = sim.slash_command("U0ADMIN01", "help")
    assert https(server, "POST", "/slack/events", again.body, again.headers).status == 200
    log = server.error_log
    assert "[crit]" not in log and "[alert]" not in log and "[emerg]" not in log, log
    assert "upstream response is buffered to a temporary file" not in log, log


def everything_else_is_refused_or_redirected(server: Nginx) -> None:
    # unknown paths: 404 from nginx, pacsbot never sees them
    for method, path in (("GET", "/"), ("GET", "/admin"), ("POST", "/slack/events/"), ("POST", "/slack/events/../x"),
                         ("GET", "/healthz/"), ("GET", "/metricsx"), ("GET", "/x/healthz"), ("POST", "/slack")):
        response = https(server, method, path)
        assert response.status == 404 and from_nginx(response), (method, path, response.status)
        assert response.headers["Server"] == "nginx" and b"nginx/" not in response.body

    # /healthz and /metrics: pacsbot's answers to this host, 403 to any other address (here
    # another loopback address: Linux routes all of 127/8 to this host) and to other methods
    response = health(server)
    assert response.status == 200, response.body
    body = response.json()
    assert body["status"] == "ok" and body["database"]["ok"] and body["slack"]["ok"]
    response = https(server, "GET", "/metrics")
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/plain"), response.status
    for path in ("/healthz", "/metrics"):
        response = https(server, "GET", path, source="127.0.0.2")
        assert response.status == 403 and from_nginx(response), path
        response = https(server, "POST", path, "{}")
        assert response.status == 403 and from_nginx(response), path

    # plain HTTP: redirected to https, never proxied
    for method in ("GET", "POST"):
        response = plain_http(server.ports.http, method, "/slack/events", b"x" if method == "POST" else b"")
        assert response.status == 301
        assert response.headers["Location"] == f"https://{SERVER_NAME}/slack/events"
        assert response.headers["Server"] == "nginx"

    # TLS 1.2 and 1.3 work; TLS 1.0 and 1.1 are refused by nginx (its protocol_version alert,
    # not this client failing to offer them: OpenSSL 3 offers them at security level 0)
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        assert tls_handshake(server, version) == version.name.replace("_", ".")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # ssl.TLSVersion.TLSv1 and TLSv1_1
        old_versions = (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1)
    for version in old_versions:
        with pytest.raises(ssl.SSLError) as refused:
            tls_handshake(server, version)
        assert refused.value.reason == "TLSV1_ALERT_PROTOCOL_VERSION", (version, refused.value)


def tls_handshake(server: Nginx, version: ssl.TLSVersion) -> str | None:
    """The protocol of a TLS handshake with the one ``version`` (the certificate checked)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # setting TLS 1.0 or 1.1
        context = tls_context(server.prefix, version=version)
        if version < ssl.TLSVersion.TLSv1_2:
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
        with socket.create_connection(("127.0.0.1", server.ports.https), timeout=30) as raw:
            with context.wrap_socket(raw, server_hostname=SERVER_NAME) as tls:
                return tls.version()


class Recorder(BaseHTTPRequestHandler):
    """An upstream that records what nginx sends it."""

    seen: list[tuple[str, str, dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.seen.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        data = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Server", "gunicorn")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass


@pytest.mark.integration
@needs_nginx
def test_what_nginx_passes_on(tmp_path: Path) -> None:
    """The body byte for byte (Slack's signature covers it), Slack's headers, and the
    forwarded headers: the client's real address (a forged X-Forwarded-For is replaced) and https."""
    Recorder.seen = []
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=upstream.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    server = start_nginx(tmp_path / "nginx", upstream.server_address[1])
    try:
        signed = Simulator(SECRET).slash_command("U0ADMIN01", "locate A123 ünïcode & more")
        response = https(server, "POST", "/slack/events?x=1", signed.body,
                         {**signed.headers, "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "http"})
        assert response.status == 200 and response.json() == {"ok": True}
        assert response.headers["Server"] == "nginx"
    finally:
        stop_nginx(server)
        upstream.shutdown()
        upstream.server_close()
    [(method, path, headers, body)] = Recorder.seen
    assert (method, path, body) == ("POST", "/slack/events?x=1", signed.body.encode())
    for name, value in signed.headers.items():
        assert headers[name.lower()] == value
    assert headers["x-forwarded-for"] == "127.0.0.1" and headers["x-real-ip"] == "127.0.0.1"
    assert headers["x-forwarded-proto"] == "https" and headers["host"] == SERVER_NAME
