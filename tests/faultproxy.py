"""A TCP proxy on loopback that can refuse, drop or black-hole connections, for fault tests.

Put it between the bot and PostgreSQL (or any service) and switch its mode while the test
runs: ``ok`` forwards, ``refuse`` closes every connection (new ones at once: the service
looks stopped), ``hang`` keeps connections open but forwards nothing (a frozen server).
"""

from __future__ import annotations

import socket
import threading


class FaultProxy:
    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.mode = "ok"
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)
        self.port = int(self._server.getsockname()[1])
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="fault-proxy", daemon=True)

    def start(self) -> "FaultProxy":
        self._thread.start()
        return self

    def set(self, mode: str) -> None:
        """``ok``, ``refuse`` (and drop what is open) or ``hang``."""
        assert mode in ("ok", "refuse", "hang")
        self.mode = mode
        if mode == "refuse":
            self._drop_all()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._server.close()
        self._drop_all()

    def _drop_all(self) -> None:
        with self._lock:
            sockets, self._open = list(self._open), set()
        for s in sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except (TimeoutError, OSError):
                continue
            if self.mode == "refuse":
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        source.settimeout(0.2)
        try:
            while not self._stop.is_set():
                try:
                    data = source.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    break
                while self.mode == "hang" and not self._stop.is_set():
                    self._stop.wait(0.05)  # frozen: hold the bytes, answer nothing
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.close()
                except OSError:
                    pass
