"""WebSockets carry subscriptions only. A connection authenticates once, at connection_init;
queries and mutations go over HTTP, where the caller's roles are read afresh on every request (a
revoked grant must not live on in an open socket).

Limits (settings ``ws_*``, defaults in the README): connections per process (refused with 1013
beyond it), subscriptions per connection (strawberry's limit), a connection that sends no
``connection_init`` in time (4408, strawberry), a connection without any subscription for
``ws_idle_seconds`` (4408), a connection whose token expires (4401), and one whose user's grants
changed or vanished (4403, checked every ``ws_recheck_seconds``). A slow consumer is dropped by
its subscription (gridweave.subscriptions)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, ClassVar

from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    CompleteMessage,
    NextMessage,
    SubscribeMessage,
)
from strawberry.types.execution import PreExecutionError

from gridweave.events import EventStream
from gridweave.ops import metrics
from gridweave.resolvers.projects import SlowConsumer
from gridweave.services.access import load_actor
from gridweave.shared_subscriptions import SharedSubscriptions, sharing_key

log = logging.getLogger(__name__)

REFUSAL = "Queries and mutations go over HTTP; a WebSocket carries subscriptions only."
_SLOW_CONSUMER = {"data": None, "errors": [SlowConsumer().formatted]}


def _next(operation_id: str, payload: Any) -> NextMessage:
    """A ``next`` message; ``payload`` may be JSON encoded already (an ``orjson.Fragment``)."""
    return NextMessage(id=operation_id, type="next", payload=payload)


def is_subscription(query: str, operation_name: str | None) -> bool:
    try:
        doc = parse(query, max_tokens=5_000)
    except GraphQLError:
        return True  # let strawberry answer the syntax error itself
    ops = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [
        o for o in ops if operation_name is None or (o.name and o.name.value == operation_name)
    ]
    return len(chosen) == 1 and chosen[0].operation is OperationType.SUBSCRIPTION


class SubscriptionsOnlyHandler(BaseGraphQLTransportWSHandler[Any, Any]):
    #: Open WebSocket connections in this process.
    open_connections: ClassVar[int] = 0

    async def handle(self) -> None:
        settings = self.view.settings  # type: ignore[attr-defined]
        if SubscriptionsOnlyHandler.open_connections >= settings.ws_max_connections:
            await self.websocket.close(code=1013, reason="Too many connections: try again later")
            return
        SubscriptionsOnlyHandler.open_connections += 1
        watchdog = asyncio.create_task(self._watch(settings))
        try:
            await super().handle()
        finally:
            SubscriptionsOnlyHandler.open_connections -= 1
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog

    async def _watch(self, settings: Any) -> None:
        """Closes the connection when it idles, when its token expires, or when its user's
        grants change."""
        idle_since = checked = time.monotonic()
        tick = max(0.05, min(5.0, settings.ws_idle_seconds / 4, settings.ws_recheck_seconds / 4))
        while True:
            expires = self.context.token_expires_at
            wait = tick if expires is None else max(0.0, min(tick, expires - time.time()))
            await asyncio.sleep(wait)
            now = time.monotonic()
            if expires is not None and time.time() >= expires:
                await self.websocket.close(code=4401, reason="Token expired: sign in again")
                return
            if self.operations or not self.connection_acknowledged:
                idle_since = now
            elif now - idle_since >= settings.ws_idle_seconds:
                await self.websocket.close(code=4408, reason="Idle: no subscription")
                return
            if self.context.actor is not None and now - checked >= settings.ws_recheck_seconds:
                checked = now
                async with self.context.sessionmaker() as session:
                    actor = await load_actor(session, self.context.actor.user_id)
                if actor != self.context.actor:
                    await self.websocket.close(code=4403, reason="Your roles changed")
                    return

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        payload = message["payload"]
        if self.connection_acknowledged and not is_subscription(
            payload["query"], payload.get("operationName")
        ):
            error = GraphQLError(REFUSAL, extensions={"code": "FORBIDDEN"})
            await self.send_message(
                {"id": message["id"], "type": "error", "payload": [error.formatted]}
            )
            return
        await super().handle_subscribe(message)

    async def run_operation(self, operation: Operation[Any, Any]) -> None:
        with metrics.subscription_running():
            shared: SharedSubscriptions | None = getattr(
                self.view.app_state,  # type: ignore[attr-defined]
                "shared_subscriptions",
                None,
            )
            key = None
            if shared is not None:
                key = await sharing_key(
                    self.schema._schema,  # type: ignore[attr-defined]
                    self.context,
                    operation.query,
                    operation.operation_name,
                    operation.variables,
                )
            if shared is None or key is None:
                await super().run_operation(operation)
            else:
                await self._run_shared(operation, shared.join(key, self.schema, self.context))

    async def _run_shared(self, operation: Operation[Any, Any], stream: EventStream) -> None:
        """``run_operation`` for a subscriber of a shared execution: the same messages, the
        ``next`` payloads encoded once for every subscriber. A document refused before it runs
        is left to strawberry's own path (which answers it, or closes the connection)."""
        with contextlib.closing(stream):
            first = True
            async for item in stream:
                if item is None:
                    continue
                if first and (
                    isinstance(item["result"], PreExecutionError) or item["payload"] is None
                ):
                    stream.close()
                    await super().run_operation(operation)
                    return
                first = False
                await operation.send_operation_message(_next(operation.id, item["payload"]))
            if stream.overflowed:
                await operation.send_operation_message(_next(operation.id, _SLOW_CONSUMER))
            complete = CompleteMessage(id=operation.id, type="complete")
            await operation.send_operation_message(complete)
