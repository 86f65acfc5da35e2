"""A small asyncio HTTP/1.1 load generator: N keep-alive connections, latency per request.

Written for the benchmarks (not a dependency): it sends pre-built, pre-signed requests
(a Slack signature stays valid for five minutes) as fast as the server answers.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field


@dataclass
class Result:
    requests: int = 0
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)  # what the errors were: "HTTP 503", "TimeoutError"
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] * 1000

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies) * 1000 if self.latencies else float("nan")

    @property
    def max(self) -> float:
        return max(self.latencies) * 1000 if self.latencies else float("nan")


def encode(path: str, body: str, headers: dict[str, str], host: str) -> bytes:
    data = body.encode()
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(data)}", "Connection: keep-alive"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("closed")
    status = int(status_line.split()[1])
    length = 0
    close = False
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value.strip())
        elif name == "connection" and value.strip().lower() == "close":
            close = True
    if length:
        await reader.readexactly(length)
    return status, close


async def _worker(host: str, port: int, payloads: list[bytes], deadline: float, result: Result, timeout: float, start_index: int) -> None:
    reader = writer = None
    i = start_index
    while time.monotonic() < deadline:
        if writer is None:
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError as exc:
                result.errors += 1
                result.failures[type(exc).__name__] = result.failures.get(type(exc).__name__, 0) + 1
                await asyncio.sleep(0.05)
                continue
        payload = payloads[i % len(payloads)]
        i += 1
        t0 = time.monotonic()
        try:
            writer.write(payload)
            await writer.drain()
            status, close = await asyncio.wait_for(_read_response(reader), timeout)  # type: ignore[arg-type]
        except (TimeoutError, OSError, ConnectionError, ValueError, asyncio.IncompleteReadError) as exc:
            result.errors += 1
            result.failures[type(exc).__name__] = result.failures.get(type(exc).__name__, 0) + 1
            writer.close()
            reader = writer = None
            continue
        elapsed = time.monotonic() - t0
        result.requests += 1
        result.latencies.append(elapsed)
        result.statuses[status] = result.statuses.get(status, 0) + 1
        if status != 200:
            result.errors += 1
            result.failures[f"HTTP {status}"] = result.failures.get(f"HTTP {status}", 0) + 1
        if close:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


async def _run(host: str, port: int, payloads: list[bytes], concurrency: int, seconds: float, timeout: float) -> Result:
    result = Result()
    started = time.monotonic()
    deadline = started + seconds
    await asyncio.gather(*(_worker(host, port, payloads, deadline, result, timeout, k) for k in range(concurrency)))
    result.seconds = time.monotonic() - started
    return result


def run(host: str, port: int, payloads: list[bytes], *, concurrency: int, seconds: float, timeout: float = 10.0) -> Result:
    return asyncio.run(_run(host, port, payloads, concurrency, seconds, timeout))
