"""WebSockets carry subscriptions only. A connection authenticates once, at connection_init;
queries and mutations go over HTTP, where the caller's roles are read afresh on every request (a
revoked grant must not live on in an open socket)."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import SubscribeMessage

from gridweave.ops import metrics

REFUSAL = "Queries and mutations go over HTTP; a WebSocket carries subscriptions only."


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
            await super().run_operation(operation)
