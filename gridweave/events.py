"""Change events between processes, through PostgreSQL LISTEN/NOTIFY.

Each process keeps one listening connection. While it is down, every subscriber is told the world
may have changed (``on_change(None)``), so that no cache outlives a missed notification; it
reconnects with backoff."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import asyncpg
import orjson

from gridweave.ops import metrics
from gridweave.services.audit import CHANGES_CHANNEL

log = logging.getLogger(__name__)

Subscriber = Callable[[dict[str, Any] | None], None]


class ChangeListener:
    def __init__(self, dsn: str, *, channel: str = CHANGES_CHANNEL) -> None:
        self.dsn = dsn
        self.channel = channel
        self.subscribers: list[Subscriber] = []
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()

    def subscribe(self, fn: Subscriber) -> None:
        self.subscribers.append(fn)

    def _publish(self, event: dict[str, Any] | None) -> None:
        for fn in self.subscribers:
            fn(event)

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        metrics.change_event_received()
        try:
            event = orjson.loads(payload)
        except orjson.JSONDecodeError:
            event = None
        self._publish(event if isinstance(event, dict) else None)

    def _on_lost(self, _conn: Any) -> None:
        self.connected.clear()
        self._publish(None)
        self._lost.set()

    async def _run(self) -> None:
        delay = 0.5
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self.dsn)
                conn.add_termination_listener(self._on_lost)
                await conn.add_listener(self.channel, self._on_notify)
                self._lost.clear()
                self.connected.set()
                metrics.listener_connected(True)
                self._publish(None)  # anything may have changed while we were not listening
                delay = 0.5
                await self._lost.wait()
            except (OSError, asyncpg.PostgresError) as e:
                log.warning("change listener disconnected: %s", e)
            finally:
                self.connected.clear()
                metrics.listener_connected(False)
                self._publish(None)
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await conn.close()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="gridweave-change-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
