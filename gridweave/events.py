"""Change events between processes, through PostgreSQL LISTEN/NOTIFY.

Each process keeps one listening connection, whatever else it runs, and fans every event out to
its in-process subscribers (caches, GraphQL subscriptions) without a query per subscriber: an
event carries ``action``, ``entity`` and ``area`` (the materialized path of the area it belongs to),
enough to filter by subtree. While the connection is down, every subscriber is told the world may
have changed (``None``), so that no cache outlives a missed notification; it reconnects with
backoff."""

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
#: The listening connection's name in pg_stat_activity (the pool's are "gridweave").
LISTENER_NAME = "gridweave-listener"

Subscriber = Callable[[dict[str, Any] | None], None]


class ChangeListener:
    def __init__(self, dsn: str, *, channel: str = CHANGES_CHANNEL) -> None:
        self.dsn = dsn
        self.channel = channel
        self.subscribers: list[Subscriber] = []
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        """Call ``fn`` with every event; the returned function unsubscribes."""
        self.subscribers.append(fn)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self.subscribers.remove(fn)

        return unsubscribe

    def stream(self, *, max_pending: int = 100) -> EventStream:
        """A bounded queue of events for one consumer (a subscription); see EventStream."""
        stream = EventStream(max_pending)
        stream.unsubscribe = self.subscribe(stream.offer)
        return stream

    def _publish(self, event: dict[str, Any] | None) -> None:
        for fn in list(self.subscribers):
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
                conn = await asyncpg.connect(
                    self.dsn, server_settings={"application_name": LISTENER_NAME}
                )
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


class EventStream:
    """One consumer's events. A consumer that falls ``max_pending`` events behind is dropped
    (``overflowed``, and iteration ends) rather than buffered without bound; a lost listener
    connection arrives as ``None`` (events may have been missed)."""

    def __init__(self, max_pending: int) -> None:
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(max_pending)
        self.overflowed = False
        self.unsubscribe: Callable[[], None] = lambda: None
        self._closed = asyncio.Event()

    def offer(self, event: dict[str, Any] | None) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True
            self.unsubscribe()
            self._closed.set()

    def close(self) -> None:
        self.unsubscribe()
        self._closed.set()

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> dict[str, Any] | None:
        if not self.queue.empty():
            return self.queue.get_nowait()
        if self._closed.is_set():
            raise StopAsyncIteration
        getter = asyncio.ensure_future(self.queue.get())
        closed = asyncio.ensure_future(self._closed.wait())
        got = False
        try:
            await asyncio.wait({getter, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            # also when the consumer is cancelled (a subscriber left): no get() left pending
            closed.cancel()
            got = getter.done()
            if not got:
                getter.cancel()
        if got:
            return getter.result()
        raise StopAsyncIteration


def in_area(event: dict[str, Any] | None, area_path: str) -> bool:
    """Whether an event belongs to the subtree whose root has ``area_path``."""
    return bool(event) and str((event or {}).get("area") or "").startswith(area_path)
