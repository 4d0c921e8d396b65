"""Serves read-only queries through the compiled path where it can, and hands every other request
(mutations, subscriptions, uncovered fields, anything that would be an error) to strawberry."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
from graphql import (
    ASTValidationRule,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    parse,
    validate,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gridweave.compiled.cache import ResponseCache
from gridweave.compiled.compiler import CompiledQuery, compile_query
from gridweave.compiled.selection import Fallback, pick_operation
from gridweave.compiled.variables import coerce_variables
from gridweave.security import bearer_token, user_id_from_token
from gridweave.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Prepared:
    operation: OperationDefinitionNode
    query: CompiledQuery


class CompiledReads:
    """Parses, validates (with the same limit rules as strawberry) and compiles each distinct
    document once; an LRU keeps the results, including 'not compilable'."""

    def __init__(
        self,
        schema: GraphQLSchema,
        rules: Sequence[type[ASTValidationRule]],
        *,
        size: int = 512,
        max_network_nodes: int = 20_000,
        max_tokens: int = 2_000,
        max_page_size: int = 100,
    ) -> None:
        self.schema = schema
        self.max_tokens = max_tokens
        self.max_page_size = max_page_size
        self.max_network_nodes = max_network_nodes
        self.rules = list(rules)
        self.size = size
        self._cache: OrderedDict[tuple[str, str | None], Prepared | None] = OrderedDict()

    def prepare(self, query: str, operation_name: str | None) -> Prepared | None:
        key = (query, operation_name)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        prepared = self._prepare(query, operation_name)
        self._cache[key] = prepared
        if len(self._cache) > self.size:
            self._cache.popitem(last=False)
        return prepared

    def _prepare(self, query: str, operation_name: str | None) -> Prepared | None:
        try:
            doc = parse(query, max_tokens=self.max_tokens)
            if validate(self.schema, doc, self.rules):
                return None
            compiled = compile_query(
                doc,
                operation_name,
                max_network_nodes=self.max_network_nodes,
                max_page_size=self.max_page_size,
            )
            return Prepared(pick_operation(doc, operation_name), compiled)
        except (GraphQLError, Fallback, RecursionError) as e:
            log.debug("not compiled: %s", e)
            return None


class CompiledFirst:
    """ASGI wrapper around the strawberry app for POST requests."""

    def __init__(
        self,
        graphql: ASGIApp,
        reads: CompiledReads,
        settings: Settings,
        engine: Callable[[], AsyncEngine],
        cache: ResponseCache | None = None,
        listening: Callable[[], bool] = lambda: False,
    ) -> None:
        self.graphql = graphql
        self.reads = reads
        self.settings = settings
        self.engine = engine
        self.cache = cache
        self.listening = listening
        self.answered = 0
        self.passed_on = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.graphql(scope, receive, send)
            return
        body = await _read_body(receive)
        answer = await self._answer(scope, body)
        if answer is None:
            self.passed_on += 1
            await self.graphql(scope, _replay(body), send)
            return
        self.answered += 1
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(answer)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": answer})

    async def _answer(self, scope: Scope, body: bytes) -> bytes | None:
        headers = dict(scope["headers"])
        token = bearer_token(headers.get(b"authorization", b"").decode("latin-1"))
        user_id = user_id_from_token(self.settings, token) if token else None
        if user_id is None:
            return None
        try:
            request = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(request, dict) or not isinstance(request.get("query"), str):
            return None
        variables = request.get("variables") or {}
        op_name = request.get("operationName")
        if not isinstance(variables, dict) or not (op_name is None or isinstance(op_name, str)):
            return None
        prepared = self.reads.prepare(request["query"], op_name)
        if prepared is None:
            return None
        try:
            params = prepared.query.params(user_id, coerce_variables(prepared.operation, variables))
        except Fallback:
            return None
        return await self._cached_fetch(prepared.query.sql, params, user_id)

    async def _cached_fetch(self, sql: str, params: list[Any], user_id: int) -> bytes | None:
        """Only while this process hears every change event may an answer be reused."""
        cache = self.cache if self.cache is not None and self.listening() else None
        if cache is None:
            return await self._fetch(sql, params)
        key = (sql, orjson.dumps(params[1:], default=str))
        hit = cache.get(key, user_id)
        if hit is not None:
            return hit
        generation = cache.generation
        answer = await self._fetch(sql, params)
        if answer is not None:
            cache.put(key, user_id, answer, generation=generation)
        return answer

    async def _fetch(self, sql: str, params: list[Any]) -> bytes | None:
        """None hands the request to strawberry, which reports any database error in GraphQL's
        shape (masked, with the request id) rather than as a bare HTTP 500."""
        try:
            async with self.engine().connect() as conn:
                raw = await conn.get_raw_connection()
                driver: Any = raw.driver_connection
                result = await driver.fetchval(sql, *params)
        except (asyncpg.PostgresError, DBAPIError) as e:
            log.warning("compiled read failed, answering through the resolvers: %s", e)
            return None
        return result.encode() if result is not None else None


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive
