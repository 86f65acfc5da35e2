"""A minimal Socket Mode server for tests: the WebSocket end of ``apps.connections.open``.

Enough of RFC 6455 for slack_sdk's built-in client: the handshake, text frames, ping/pong and
close. Tests push envelopes (as Slack does) and read the bot's acks.
"""

from __future__ import annotations

import base64
import hashlib
import json
import queue
import socket
import struct
import threading
from typing import Any

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class SocketModeServer:
    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self.received: "queue.Queue[dict[str, Any]]" = queue.Queue()
        self.connected = threading.Event()
        self._client: socket.socket | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self._sock.getsockname()[1]}/link"

    def close(self) -> None:
        self._stop.set()
        try:
            self._sock.close()
        finally:
            if self._client is not None:
                self._client.close()

    def send(self, message: dict[str, Any]) -> None:
        assert self.connected.wait(30), "the bot never connected"
        data = json.dumps(message).encode()
        with self._lock:
            assert self._client is not None
            self._client.sendall(_frame(0x1, data))

    def ack(self, envelope_id: str, timeout: float = 10.0) -> dict[str, Any]:
        """The bot's acknowledgement of one envelope."""
        while True:
            message = self.received.get(timeout=timeout)
            if message.get("envelope_id") == envelope_id:
                return message

    # -------------------------------------------------------------------------------------
    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = client.recv(4096)
            if not chunk:
                return
            request += chunk
        headers = {}
        for line in request.decode("latin-1").split("\r\n")[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        accept = base64.b64encode(hashlib.sha1((headers["sec-websocket-key"] + GUID).encode()).digest()).decode()
        client.sendall(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode()
        )
        with self._lock:
            self._client = client
        client.sendall(_frame(0x1, json.dumps({"type": "hello", "num_connections": 1,
                                                "connection_info": {"app_id": "A0PACSBOT"}}).encode()))
        self.connected.set()
        buffer = b""
        while not self._stop.is_set():
            try:
                chunk = client.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            while True:
                parsed = _parse(buffer)
                if parsed is None:
                    break
                opcode, payload, buffer = parsed
                if opcode == 0x1:
                    self.received.put(json.loads(payload.decode()))
                elif opcode == 0x9:
                    with self._lock:
                        client.sendall(_frame(0xA, payload))
                elif opcode == 0x8:
                    return


def _frame(opcode: int, payload: bytes) -> bytes:
    header = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        header += bytes([n])
    elif n < 65536:
        header += bytes([126]) + struct.pack("!H", n)
    else:
        header += bytes([127]) + struct.pack("!Q", n)
    return header + payload


def _parse(buffer: bytes) -> tuple[int, bytes, bytes] | None:
    if len(buffer) < 2:
        return None
    opcode = buffer[0] & 0x0F
    masked = buffer[1] & 0x80
    n = buffer[1] & 0x7F
    i = 2
    if n == 126:
        if len(buffer) < 4:
            return None
        n = struct.unpack("!H", buffer[2:4])[0]
        i = 4
    elif n == 127:
        if len(buffer) < 10:
            return None
        n = struct.unpack("!Q", buffer[2:10])[0]
        i = 10
    mask = b""
    if masked:
        if len(buffer) < i + 4:
            return None
        mask = buffer[i:i + 4]
        i += 4
    if len(buffer) < i + n:
        return None
    payload = buffer[i:i + n]
    if masked:
        payload = bytes(b ^ mask[k % 4] for k, b in enumerate(payload))
    return opcode, payload, buffer[i + n:]
