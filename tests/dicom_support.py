"""Shared pieces for the DICOM tests: demo nodes, TLS files, nodes that misbehave on purpose.

Test modules import the fixtures they use from here (``from tests.dicom_support import
demo_network``), so conftest.py stays shared and small.
"""

from __future__ import annotations

import logging
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pacsbot.commands.config import DicomSettings
from pacsbot.commands.demo import UID_PREFIX, DemoNetwork, DemoSeries, DemoStudy


@pytest.fixture
def production_logging(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Logging as ``pacsbot serve`` sets it up, at DEBUG, captured by ``caplog``."""
    from pacsbot.bot.logs import setup_logging

    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    names = ("slack_bolt", "slack_sdk", "urllib3", "pynetdicom", "sqlalchemy.engine", "alembic")
    saved = {n: logging.getLogger(n).level for n in names}
    setup_logging("DEBUG", "text")
    root.addHandler(caplog.handler)
    caplog.handler.setLevel(logging.DEBUG)
    try:
        yield caplog
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved_handlers:
            root.addHandler(handler)
        root.setLevel(saved_level)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


@pytest.fixture(scope="session")
def demo_network() -> Iterator[DemoNetwork]:
    """The console's demo vna and pacs nodes, once for the whole run (they keep no state that matters)."""
    with DemoNetwork() as network:
        yield network


def node_dicts(network: DemoNetwork, **extra: Any) -> list[dict[str, Any]]:
    return [{**n.model_dump(mode="json", exclude_none=True), **extra} for n in network.node_configs()]


def dicom_settings(nodes: list[dict[str, Any]], **extra: Any) -> DicomSettings:
    return DicomSettings.model_validate({"nodes": nodes, **extra})


def tiny_studies(patient: str, count: int, *, prefix: str = "M") -> list[DemoStudy]:
    """``count`` one-image studies of one patient (a frequent flyer, for caps and limits)."""
    return [
        DemoStudy(patient, "DEMO^MANY", "19700101", "F", f"{prefix}{i:03d}", f"{UID_PREFIX}9.{prefix_number(prefix)}.{i}",
                  "20250101", "100000", "XR",
                  (DemoSeries(f"{UID_PREFIX}9.{prefix_number(prefix)}.{i}.1", 1, "CR", "PA", 1),))
        for i in range(count)
    ]


def prefix_number(prefix: str) -> int:
    return sum(ord(c) for c in prefix)


def closed_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SilentServer:
    """Accepts TCP connections and never says a word: an association request goes unanswered."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])
        self._clients: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                client, _ = self.sock.accept()
                self._clients.append(client)
            except OSError:
                continue

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        for client in self._clients:
            client.close()
        self.sock.close()


class BlackHole:
    """A port whose SYNs go unanswered, so a TCP connect hangs until its timeout.

    A listening socket that never accepts, with its accept queue filled: Linux then drops
    new SYNs (as a firewall that drops packets would), so ``connect`` waits.
    """

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = int(self.sock.getsockname()[1])
        self._fillers: list[socket.socket] = []
        for _ in range(8):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", self.port))
            self._fillers.append(filler)

    def hangs(self, seconds: float = 0.5) -> bool:
        probe = socket.socket()
        probe.settimeout(seconds)
        try:
            probe.connect(("127.0.0.1", self.port))
        except TimeoutError:
            return True
        except OSError:
            return False
        finally:
            probe.close()
        return False

    def close(self) -> None:
        for filler in self._fillers:
            filler.close()
        self.sock.close()


# ----------------------------------------------------------------------------------------
# TLS


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path

    def server_context(self, *, require_client_cert: bool = False) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(self.ca))
        context.load_cert_chain(str(self.server_cert), str(self.server_key))
        context.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_NONE
        return context


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _signed(name: str, cn: str, cwd: Path, ca: str, san: str | None = None) -> None:
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=cwd)
    ext = []
    if san:
        (cwd / f"{name}.ext").write_text(f"subjectAltName={san}\n")
        ext = ["-extfile", f"{name}.ext"]
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
             "-out", f"{name}.pem", "-days", "2", *ext, cwd=cwd)


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make test certificates")
    cwd = tmp_path_factory.mktemp("tls")
    for ca in ("ca", "other-ca"):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{ca}.key", "-out", f"{ca}.pem",
                 "-days", "2", "-subj", f"/CN=pacsbot test {ca}", cwd=cwd)
    _signed("server", "localhost", cwd, "ca", san="DNS:localhost,IP:127.0.0.1")
    _signed("client", "PACSBOT", cwd, "ca")
    return TlsFiles(cwd / "ca.pem", cwd / "server.pem", cwd / "server.key", cwd / "client.pem", cwd / "client.key",
                    cwd / "other-ca.pem")


# ----------------------------------------------------------------------------------------
# dcmtk's wlmscpfs: a real Modality Worklist SCP (Debian package ``dcmtk``)


def wlmscpfs_binary() -> str | None:
    """dcmtk's worklist SCP (``/usr/bin/wlmscpfs`` from the Debian package dcmtk), if installed."""
    return shutil.which("wlmscpfs") or ("/usr/bin/wlmscpfs" if Path("/usr/bin/wlmscpfs").exists() else None)


def order_dump(order: Any) -> str:
    """A :class:`~pacsbot.commands.demo.DemoOrder` as a dcmtk text dump (``dump2dcm`` input):
    a complete worklist item, as ``wlmscpfs`` requires (it rejects incomplete files)."""
    top = [
        ("0008,0005", "CS", "ISO_IR 100"), ("0008,0050", "SH", order.accession), ("0008,0090", "PN", order.physician),
        ("0010,0010", "PN", order.patient_name), ("0010,0020", "LO", order.patient_id),
        ("0010,0030", "DA", order.birth_date), ("0010,0040", "CS", order.sex), ("0020,000d", "UI", order.study_uid),
        ("0032,1032", "PN", order.physician), ("0032,1060", "LO", order.procedure),
    ]
    step = [
        ("0008,0060", "CS", order.modality), ("0040,0001", "AE", order.station_ae), ("0040,0002", "DA", order.date),
        ("0040,0003", "TM", order.time), ("0040,0006", "PN", order.physician), ("0040,0007", "LO", order.step),
        ("0040,0009", "SH", order.step_id), ("0040,0010", "SH", order.station_name), ("0040,0011", "SH", "RADIOLOGY"),
        ("0040,0020", "CS", order.status),
    ]
    tail = [("0040,1001", "SH", order.requested_procedure_id), ("0040,1003", "SH", "ROUTINE")]
    lines = [f"({tag}) {vr} [{value}]" for tag, vr, value in top]
    lines += ["(0040,0100) SQ", "(fffe,e000) -", *(f"({tag}) {vr} [{value}]" for tag, vr, value in step),
              "(fffe,e00d) -", "(fffe,e0dd) -"]
    lines += [f"({tag}) {vr} [{value}]" for tag, vr, value in tail]
    return "\n".join(lines) + "\n"


class Wlmscpfs:
    """One ``wlmscpfs`` process serving ``orders`` as AE title ``ae_title`` from a temporary
    worklist directory (``<workdir>/<AE>/*.wl`` made by ``dump2dcm``, plus its ``lockfile``).
    Like ``tests/orthanc.py``: its own port, stopped after; only the process we started."""

    def __init__(self, workdir: Path, orders: list[Any], *, ae_title: str = "DEMO_RIS", binary: str | None = None):
        self.workdir = Path(workdir)
        self.orders = list(orders)
        self.ae_title = ae_title
        self.binary = binary or wlmscpfs_binary()
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    def write_worklist(self) -> Path:
        folder = self.workdir / "worklists" / self.ae_title
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "lockfile").touch()
        dump2dcm = shutil.which("dump2dcm") or "/usr/bin/dump2dcm"
        for order in self.orders:
            dump = self.workdir / f"{order.accession}.dump"
            dump.write_text(order_dump(order))
            subprocess.run([dump2dcm, "--quiet", str(dump), str(folder / f"{order.accession}.wl")], check=True,
                           capture_output=True, timeout=30)
        return folder.parent

    def start(self, timeout: float = 15.0) -> "Wlmscpfs":
        if self.binary is None:
            raise RuntimeError("wlmscpfs is not installed")
        root = self.write_worklist()
        log_path = self.workdir / "wlmscpfs.log"
        for _attempt in range(3):  # a port picked as free may be taken before wlmscpfs binds it
            with socket.socket() as probe:
                probe.bind(("", 0))  # it binds every interface, so the port must be free on all
                self.port = int(probe.getsockname()[1])
            with log_path.open("wb") as log:
                self.process = subprocess.Popen(
                    [self.binary, "--single-process", "--data-files-path", str(root), "--acse-timeout", "10",
                     "--dimse-timeout", "10", "--verbose", str(self.port)],
                    cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    start_new_session=True, env={"TCP_NODELAY": "1", "PATH": "/usr/bin:/bin"},
                )
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.process.poll() is None:
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                        return self
                except OSError:
                    time.sleep(0.05)
            self.stop()
        raise RuntimeError(f"wlmscpfs did not start; its log ends with:\n{log_path.read_text(errors='replace')[-2000:]}")

    def stop(self) -> None:
        """Stop the process this object started, and only that one."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def __enter__(self) -> "Wlmscpfs":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def node(self, name: str = "ris", **extra: Any) -> dict[str, Any]:
        """A ``dicom.nodes`` entry for this worklist SCP."""
        return {"name": name, "ae_title": self.ae_title, "host": "127.0.0.1", "port": self.port, "kind": "worklist", **extra}
