"""A small keep-alive HTTP/1.1 client on asyncio streams (a load generator must cost little next
to the servers it measures on two cores), and graphql-transport-ws subscribers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect

HOST = "127.0.0.1"


class Http:
    def __init__(self, port: int, headers: Mapping[str, str]) -> None:
        self.port = port
        self.head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes) -> bytes:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        assert self.reader is not None
        request = (
            f"POST /graphql HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
            f"{self.head}Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        self.writer.write(request)
        status = await self.reader.readline()
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        data = await self.reader.readexactly(length)
        if b" 200 " not in status:
            raise RuntimeError(f"HTTP {status.decode().strip()}: {data[:200]!r}")
        return data

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def body(query: str, operation: str, **variables: Any) -> bytes:
    return orjson.dumps({"query": query, "operationName": operation, "variables": variables})


class Subscriber:
    """One graphql-transport-ws connection with one subscription; records when each event's
    claim arrived (claim id -> monotonic time)."""

    def __init__(self) -> None:
        self.conn: ClientConnection | None = None
        self.seen: dict[str, float] = {}
        self.task: asyncio.Task[None] | None = None

    async def start(self, port: int, token: str, query: str, variables: dict[str, Any]) -> None:
        self.conn = await connect(
            f"ws://{HOST}:{port}/graphql",
            subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
            max_queue=None,
        )
        init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
        await self.conn.send(orjson.dumps(init).decode())
        ack = orjson.loads(await self.conn.recv())
        if ack.get("type") != "connection_ack":
            raise RuntimeError(f"not acknowledged: {ack}")
        sub = {"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}}
        await self.conn.send(orjson.dumps(sub).decode())
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.conn is not None
        async for raw in self.conn:
            now = time.monotonic()
            message = orjson.loads(raw)
            if message.get("type") != "next":
                continue
            event = message["payload"]["data"]["serviceProjectEvents"]
            if event and event.get("claim"):
                self.seen[event["claim"]["id"]] = now

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
        if self.conn is not None:
            await self.conn.close()
