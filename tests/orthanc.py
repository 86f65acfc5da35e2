"""A throwaway Orthanc for tests and benchmarks: its own config, ports, storage; stopped after.

Orthanc (Debian package ``orthanc``) cannot bind to one address: it listens on every
interface. We only ever send traffic to 127.0.0.1, keep its HTTP API local-only
(``RemoteAccessAllowed: false``), and stop exactly the process we started.

Test set-up loads studies through Orthanc's REST API (``POST /instances``); pacsbot itself
never stores anything anywhere.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ORTHANC_AET = "ORTHANC"


def orthanc_binary() -> str | None:
    """The Orthanc executable (Debian installs it in /usr/sbin, often not on a user's PATH)."""
    found = shutil.which("Orthanc")
    if found:
        return found
    for candidate in ("/usr/sbin/Orthanc", "/usr/local/sbin/Orthanc", "/usr/local/bin/Orthanc"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("", 0))  # Orthanc binds every interface, so the port must be free on all
        return int(sock.getsockname()[1])


class OrthancError(RuntimeError):
    pass


class Orthanc:
    """One Orthanc process. ``callers`` maps a calling AE title to a modality name it gets."""

    def __init__(
        self,
        workdir: Path,
        *,
        callers: Iterable[str] = ("PACSBOT",),
        limit_find_results: int = 0,
        aet: str = ORTHANC_AET,
        binary: str | None = None,
    ):
        self.workdir = Path(workdir)
        self.callers = list(callers)
        self.limit_find_results = limit_find_results
        self.aet = aet
        self.binary = binary or orthanc_binary()
        self.dicom_port = 0
        self.http_port = 0
        self.process: subprocess.Popen[bytes] | None = None
        # Its own name, checked on /system once it answers: with test runs side by side, the
        # HTTP port picked as free may be taken by another run's Orthanc before ours binds it
        # (ours then exits, and the other one would answer in its place).
        self.name = f"pacsbot-test-{uuid.uuid4().hex[:12]}"
        self._http: http.client.HTTPConnection | None = None

    # life -------------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        storage = self.workdir / "storage"
        return {
            "Name": self.name,
            "StorageDirectory": str(storage),
            "IndexDirectory": str(storage),
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": self.aet,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "Plugins": [],
            "DicomCheckCalledAet": True,  # a wrong called AE title is rejected at association
            "DicomAlwaysAllowEcho": True,
            "DicomAlwaysAllowFind": False,  # C-FIND only from the AE titles below
            "DicomAlwaysAllowStore": False,
            "DicomCheckModalityHost": False,
            "DicomModalities": {f"caller{i}": [aet, "127.0.0.1", 104] for i, aet in enumerate(self.callers)},
            "LimitFindResults": self.limit_find_results,
            "LimitFindInstances": 0,
            "StableAge": 1,
            "SaveJobs": False,
            "DicomAssociationCloseDelay": 0,
            "HttpThreadsCount": 8,
            "DicomThreadsCount": 8,
            "DeidentifyLogs": True,
        }

    def start(self, timeout: float = 30.0) -> "Orthanc":
        if self.binary is None:
            raise OrthancError("the Orthanc binary is not installed")
        self.workdir.mkdir(parents=True, exist_ok=True)
        last_log = ""
        for _attempt in range(3):  # a port picked as free may be taken before Orthanc binds it
            self.dicom_port, self.http_port = free_port(), free_port()
            path = self.workdir / "orthanc.json"
            path.write_text(json.dumps(self.config(), indent=2))
            log_path = self.workdir / "orthanc.log"
            with log_path.open("wb") as log:
                self.process = subprocess.Popen(
                    [self.binary, str(path)], cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, start_new_session=True,
                )
            if self._wait_ready(timeout):
                return self
            last_log = log_path.read_text(errors="replace")[-2000:]
            self.stop()
        raise OrthancError(f"Orthanc did not start; its log ends with:\n{last_log}")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False
            try:
                system = self.get("/system")
                if system.get("Name") != self.name or system.get("DicomPort") != self.dicom_port:
                    return False  # another Orthanc has this HTTP port: ours could not bind it
                with socket.create_connection(("127.0.0.1", self.dicom_port), timeout=1):
                    return True
            except (OSError, http.client.HTTPException, OrthancError):
                time.sleep(0.1)
        return False

    def stop(self) -> None:
        """Stop the process this object started, and only that one."""
        if self._http is not None:
            self._http.close()
            self._http = None
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def __enter__(self) -> "Orthanc":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # REST -------------------------------------------------------------------------------
    def _request(self, method: str, path: str, body: bytes | None = None, content_type: str = "application/json") -> Any:
        for attempt in range(2):
            if self._http is None:
                self._http = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=30)
            try:
                headers = {"Content-Type": content_type} if body is not None else {}
                self._http.request(method, path, body=body, headers=headers)
                response = self._http.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException):
                self._http.close()
                self._http = None
                if attempt:
                    raise
                continue
            if response.status >= 400:
                raise OrthancError(f"{method} {path}: HTTP {response.status} {data[:200]!r}")
            return json.loads(data) if data else None
        return None

    def get(self, path: str) -> Any:
        return self._request("GET", path)

    def post(self, path: str, payload: Any) -> Any:
        return self._request("POST", path, json.dumps(payload).encode())

    def upload(self, files: Iterable[bytes]) -> int:
        count = 0
        for data in files:
            self._request("POST", "/instances", data, "application/dicom")
            count += 1
        return count

    def study_instance_count(self, accession: str) -> list[int]:
        """Orthanc's own count of instances for each study with this accession (REST, not DICOM)."""
        ids = self.post("/tools/find", {"Level": "Study", "Query": {"AccessionNumber": accession}})
        return sorted(len(self.get(f"/studies/{i}/instances")) for i in ids)

    def node(self, name: str = "orthanc", **extra: Any) -> dict[str, Any]:
        """A ``dicom.nodes`` entry for this Orthanc."""
        return {"name": name, "ae_title": self.aet, "host": "127.0.0.1", "port": self.dicom_port, "kind": "pacs", **extra}
