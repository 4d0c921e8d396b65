"""Where the metrics are taken: an ASGI middleware around the GraphQL endpoint (requests, latency,
WebSocket connections), a strawberry extension (operation type and outcome), and pool events."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension

from gridweave.ops import metrics, observation


def _outcome(status: int, observed: str | None) -> str:
    if observed in ("timeout", "unavailable"):
        return observed
    if status >= 500:
        return "server_error"
    if observed is not None:
        return observed
    return "rejected" if status >= 400 else "ok"


class MetricsMiddleware:
    """Times every POST to the GraphQL path and counts it by operation type and outcome; counts
    accepted WebSocket connections while they are open."""

    def __init__(self, app: ASGIApp, path: str = "/graphql") -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        obs, token = observation.begin()
        status = 500
        started = time.perf_counter()
        recorded = False

        def record() -> None:
            nonlocal recorded
            if not recorded:
                recorded = True
                metrics.request_finished(
                    obs.operation, _outcome(status, obs.outcome), time.perf_counter() - started
                )

        async def tracking_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                record()  # before the client has its answer: a scrape after it counts this request
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        finally:
            observation.end(token)
            record()

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        accepted = False

        async def tracking_send(message: Message) -> None:
            nonlocal accepted
            await send(message)
            if message["type"] == "websocket.accept" and not accepted:
                accepted = True
                metrics.WEBSOCKETS.inc()

        try:
            await self.app(scope, receive, tracking_send)
        finally:
            if accepted:
                metrics.WEBSOCKETS.dec()


def _has_user_errors(data: Any) -> bool:
    if not isinstance(data, dict):
        return False
    return any(isinstance(p, dict) and p.get("userErrors") for p in data.values())


class MetricsExtension(SchemaExtension):
    """Tells the metrics middleware what the operation was and how it ended."""

    def on_operation(self) -> Iterator[None]:
        yield
        obs = observation.current()
        if obs is None:  # a subscription over a WebSocket: counted by the handler
            return
        ctx = self.execution_context
        try:
            obs.operation = ctx.operation_type.value
        except Exception:  # noqa: BLE001 - no document, or no such operation
            obs.operation = "unknown"
        result = ctx.result
        if ctx.pre_execution_errors:
            obs.outcome = "invalid"
        elif result is not None and getattr(result, "errors", None):
            obs.outcome = "error"
        elif obs.operation == "mutation" and _has_user_errors(getattr(result, "data", None)):
            obs.outcome = "user_error"
        else:
            obs.outcome = "ok"


_IN_USE: dict[int, int] = {}  # connections checked out, per engine of this process


def instrument_pool(engine: AsyncEngine) -> None:
    """Connections in use (pool events) and callers waiting for one (around the pool's get)."""
    sync_engine = engine.sync_engine

    key = id(sync_engine)

    def on_change(delta: int) -> Any:
        def listener(*_: Any) -> None:
            _IN_USE[key] = _IN_USE.get(key, 0) + delta
            metrics.POOL_IN_USE.set(sum(_IN_USE.values()))

        return listener

    def on_dispose(*_: Any) -> None:
        # Counted per engine, so that a disposed engine (and any miscount a lost server left in
        # it) leaves the gauge with it.
        _IN_USE.pop(key, None)
        metrics.POOL_IN_USE.set(sum(_IN_USE.values()))

    event.listen(sync_engine, "checkout", on_change(1))
    event.listen(sync_engine, "checkin", on_change(-1))
    event.listen(sync_engine, "engine_disposed", on_dispose)

    pool: Any = sync_engine.pool
    get = pool._do_get  # QueuePool's own hook: it blocks (in a greenlet) while the pool is empty

    def timed_get() -> Any:
        metrics.POOL_WAITING.inc()
        started = time.perf_counter()
        try:
            return get()
        finally:
            metrics.POOL_WAITING.dec()
            metrics.POOL_WAIT.observe(time.perf_counter() - started)

    pool._do_get = timed_get
