"""uvicorn as `gridweave serve` runs it closes connections that sit idle or trickle their
headers (a real server on a loopback port, raw sockets)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from gridweave.serving import HeaderDeadlineProtocol, uvicorn_options
from gridweave.settings import Settings

REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"ok"})


class QuickDeadline(HeaderDeadlineProtocol):
    header_timeout = 0.5


@pytest.fixture
async def port() -> AsyncIterator[int]:
    options = uvicorn_options(Settings(keep_alive_timeout_seconds=1))
    options["http"] = QuickDeadline
    config = uvicorn.Config(hello, host="127.0.0.1", port=0, lifespan="off", **options)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
        await asyncio.sleep(0.01)
    yield server.servers[0].sockets[0].getsockname()[1]
    server.should_exit = True
    await task


async def closed_after(reader: asyncio.StreamReader, limit: float) -> float:
    """Seconds until the server closes the connection (reading whatever it sends)."""
    started = time.monotonic()
    async with asyncio.timeout(limit):
        while await reader.read(1024):
            pass
    return time.monotonic() - started


async def test_a_silent_connection_is_closed(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    assert await closed_after(reader, 3) < 1.5
    writer.close()


async def test_trickled_headers_are_cut_off(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def trickle() -> None:
        for byte in REQUEST[:-2]:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.1)

    sender = asyncio.create_task(trickle())
    took = await closed_after(reader, 3)
    sender.cancel()

    assert took < 1.5
    writer.close()


async def test_a_kept_alive_connection_is_served_then_closed_when_idle(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(REQUEST)
    await writer.drain()

    first = await reader.readuntil(b"ok")
    writer.write(REQUEST)
    second = await reader.readuntil(b"ok")
    idle = await closed_after(reader, 3)

    assert first.startswith(b"HTTP/1.1 200")
    assert second.startswith(b"HTTP/1.1 200")
    assert idle < 1.5  # min(header deadline, keep-alive)
    writer.close()


def test_serve_passes_the_timeouts_to_uvicorn() -> None:
    options = uvicorn_options(Settings(keep_alive_timeout_seconds=7))

    assert options["timeout_keep_alive"] == 7
    assert options["http"] == "gridweave.serving:HeaderDeadlineProtocol"
    config = uvicorn.Config(hello, **options)
    config.load()
    assert config.http_protocol_class is HeaderDeadlineProtocol
