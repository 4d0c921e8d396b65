"""A per-process gate with a bounded queue: at most ``concurrency`` holders at once, at most
``queue`` waiting, and none waiting longer than ``wait_seconds``. Whoever finds the queue full, or
waits too long, is turned away at once (``GateFull``) instead of piling up in memory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class GateFull(Exception):
    """The gate is busy: try again shortly."""


class Gate:
    def __init__(self, *, concurrency: int, queue: int, wait_seconds: float) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self._queue = queue
        self._wait = wait_seconds
        self._waiting = 0

    @property
    def waiting(self) -> int:
        return self._waiting

    @asynccontextmanager
    async def enter(self) -> AsyncIterator[None]:
        if self._slots.locked() and self._waiting >= self._queue:
            raise GateFull
        self._waiting += 1
        try:
            async with asyncio.timeout(self._wait):
                await self._slots.acquire()
        except TimeoutError:
            raise GateFull from None
        finally:
            self._waiting -= 1
        try:
            yield
        finally:
            self._slots.release()
