"""A rolling restart, as a load balancer's target sees it: SIGTERM to a real two-worker server in
the middle of a burst of mutations. Every mutation that committed was acknowledged to its client
and every acknowledged one committed; requests in flight at the signal still got their answer;
open WebSockets are closed with 1012 (service restart) so that clients reconnect elsewhere; the
process exits by itself, well within its deadline."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from pathlib import Path
from typing import Any

import httpx
import websockets
from sqlalchemy import text

from gridweave.db import Sessionmaker
from gridweave.services.audit import verify_chain
from gridweave.settings import Settings
from tests.factories import make_user, token_for
from tests.ops.server import Server, running_server

CREATE = (
    "mutation($input: CreateAreaInput!) { createArea(input: $input) {"
    " area { code } userErrors { code message } } }"
)
CLIENTS = 12
MAX_REQUESTS = 400


async def open_websocket(server: Server, token: str) -> Any:
    ws = await websockets.connect(
        f"ws://127.0.0.1:{server.port}/graphql", subprotocols=["graphql-transport-ws"]
    )
    await ws.send(
        json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
    )
    ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert ack["type"] == "connection_ack"
    return ws


async def burst(
    server: Server, token: str, signalled: asyncio.Event
) -> tuple[set[str], set[str], int]:
    """Clients posting mutations until the server goes away: (acknowledged codes, codes whose
    request failed, acknowledgements received after the signal)."""
    acked: set[str] = set()
    failed: set[str] = set()
    after_signal = 0
    numbers = itertools.count()

    async def client() -> None:
        nonlocal after_signal
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as c:
            while True:
                n = next(numbers)
                if n >= MAX_REQUESTS:
                    return
                code = f"burst-{n}"
                sent_before_signal = not signalled.is_set()
                variables = {"input": {"name": f"区域{n}", "code": code, "level": "CITY"}}
                try:
                    r = await c.post(
                        "/graphql", json={"query": CREATE, "variables": variables}, headers=headers
                    )
                except httpx.TransportError:
                    failed.add(code)
                    if signalled.is_set():
                        return
                    raise
                assert r.status_code == 200, r.text
                payload = r.json()["data"]["createArea"]
                assert payload["userErrors"] == [], payload
                acked.add(payload["area"]["code"])
                if sent_before_signal and signalled.is_set():
                    after_signal += 1

    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return acked, failed, after_signal


async def test_sigterm_during_a_burst_loses_nothing(
    settings: Settings, database_url: str, sessionmaker: Sessionmaker, tmp_path: Path
) -> None:
    token = token_for(settings, await make_user(sessionmaker, "ADMIN"))
    async with running_server(
        settings,
        database_url,
        tmp_path / "server.log",
        "--workers",
        "2",
        GRIDWEAVE_SHUTDOWN_TIMEOUT_SECONDS="20",
    ) as server:
        # given an open subscription socket and a burst of mutations under way
        ws = await open_websocket(server, token)
        signalled = asyncio.Event()
        work = asyncio.create_task(burst(server, token, signalled))
        async with sessionmaker() as s:
            for _ in range(3_000):
                if await s.scalar(text("SELECT count(*) FROM areas")) >= 40:
                    break
                await asyncio.sleep(0.02)

        # when the process is told to stop
        server.terminate()
        signalled.set()
        stopped_at = time.monotonic()
        acked, failed, acked_after_signal = await asyncio.wait_for(work, 60)
        close = await asyncio.wait_for(_closed(ws), 20)
        exit_code = await server.wait(30)
        took = time.monotonic() - stopped_at

    # then every committed mutation was acknowledged, and every acknowledged one committed
    async with sessionmaker() as s:
        committed = set((await s.scalars(text("SELECT code FROM areas"))).all())
        chain = await verify_chain(s)
    assert committed == acked, (
        f"committed but not acknowledged: {sorted(committed - acked)[:5]}; "
        f"acknowledged but not committed: {sorted(acked - committed)[:5]}"
    )
    assert not committed & failed
    assert chain.valid
    assert chain.checked == len(acked)
    # requests in flight at the signal were answered, new ones were refused
    assert acked_after_signal > 0
    assert len(acked) < MAX_REQUESTS, "the burst ended before the signal took effect"
    # the socket was closed as a restart, and the server stopped by itself within its deadline
    assert close == 1012, close
    assert exit_code == 0, server.output()
    assert took < 20


async def _closed(ws: Any) -> int | None:
    try:
        async for _ in ws:
            pass
    except websockets.ConnectionClosed:
        pass
    code: int | None = ws.close_code
    return code
