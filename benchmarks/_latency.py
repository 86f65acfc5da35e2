"""A TCP proxy on 127.0.0.1 that delays every chunk by a fixed time in each direction.

Stands in for the network between pacsbot and a remote archive (a VNA in another data
centre: a few ms each way). Run as its own process so it takes nothing from the GIL of the
process being measured:

    python -m benchmarks._latency LISTEN_PORT TARGET_PORT DELAY_MS

Prints ``ready`` on stdout once listening. Order within a stream is preserved.
"""

from __future__ import annotations

import asyncio
import socket
import sys


def _quickack(sock: object) -> None:
    # A real network does not ACK anything itself; the proxy must not add delayed-ACK stalls
    # (against the peer's Nagle) that the measured client has already switched off.
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        pass


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float, source: object) -> None:
    loop = asyncio.get_running_loop()
    last = 0.0
    try:
        while True:
            _quickack(source)
            data = await reader.read(65536)
            _quickack(source)
            if not data:
                break
            # Deliver at arrival + delay, never before the previous chunk (keeps order).
            due = max(loop.time() + delay, last)
            last = due
            loop.call_at(due, writer.write, data)
    except (ConnectionError, OSError):
        pass
    finally:
        await asyncio.sleep(delay)
        try:
            writer.close()
        except (ConnectionError, OSError):
            pass


async def _serve(listen: int, target: int, delay: float) -> None:
    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            client_writer.close()
            return
        client_sock, server_sock = client_writer.get_extra_info("socket"), server_writer.get_extra_info("socket")
        for sock in (client_sock, server_sock):
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await asyncio.gather(_pipe(client_reader, server_writer, delay, client_sock),
                             _pipe(server_reader, client_writer, delay, server_sock))

    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> int:
    listen, target, delay_ms = int(argv[0]), int(argv[1]), float(argv[2])
    try:
        asyncio.run(_serve(listen, target, delay_ms / 1000))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
