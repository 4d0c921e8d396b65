"""Serves read-only queries through the compiled path where it can, and hands every other request
(mutations, subscriptions, uncovered fields, anything that would be an error) to strawberry.

No silent slow path: a document the compiled path does not cover is logged at INFO once, naming
the field that caused it, and counted by reason (``CompiledReads.fallbacks``). Parsing, validating
and compiling a new document run in a worker thread, so the event loop keeps serving meanwhile."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import asyncpg
import orjson
from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    parse,
    validate,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gridweave.compiled.cache import ResponseCache
from gridweave.compiled.compiler import Compiled, CompiledQuery, compile_query
from gridweave.compiled.selection import Fallback, Variables, pick_operation
from gridweave.compiled.variables import coerce_variables
from gridweave.compiled.writes import ClaimWrite, FastClaims, plan_write
from gridweave.db import LOST_CONNECTION as DB_LOST_CONNECTION
from gridweave.ops import metrics
from gridweave.schema.bounds import InputBounds, variable_bound_errors, variable_uses
from gridweave.security import bearer_token, user_id_from_token
from gridweave.settings import Settings

log = logging.getLogger(__name__)
QUERY, MUTATION = OperationType.QUERY, OperationType.MUTATION
# Errors that mean "this pooled connection is gone" (a restarted server, a failover, a
# terminated backend): the read is retried once on a fresh connection.
LOST_CONNECTION = (*DB_LOST_CONNECTION, OSError)


class _PassOn(Exception):
    """Strawberry answers this request; ``reason`` labels the fallback metric."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class Prepared:
    """A parsed, valid query document and its statements, one per signature."""

    doc: DocumentNode
    operation: OperationDefinitionNode
    size: int
    switches: tuple[Any, ...] | None = None
    statements: dict[tuple[Hashable, ...], CompiledQuery] = field(default_factory=dict)
    uncompiled: str | None = None
    variable_uses: Mapping[str, frozenset[str]] = field(default_factory=dict)
    write: ClaimWrite | None = None


class CompiledReads:
    """Parses, validates (with the same limit rules as strawberry) and compiles each distinct
    document once; an LRU bounded by entries and by bytes keeps the results, including 'not
    compilable'."""

    def __init__(
        self,
        schema: GraphQLSchema,
        rules: Sequence[type[ASTValidationRule]],
        *,
        size: int = 512,
        max_bytes: int = 32 * 1024 * 1024,
        max_network_nodes: int = 20_000,
        max_tokens: int = 2_000,
        max_page_size: int = 100,
        bounds: InputBounds | None = None,
    ) -> None:
        self.schema = schema
        self.bounds = bounds
        self.max_tokens = max_tokens
        self.max_page_size = max_page_size
        self.max_network_nodes = max_network_nodes
        self.rules = list(rules)
        self.size = size
        self.max_bytes = max_bytes
        self.bytes = 0
        self.fallbacks: Counter[str] = Counter()
        self._cache: OrderedDict[tuple[str, str | None], Prepared | None] = OrderedDict()
        self._lock = threading.Lock()

    def cached(self, query: str, operation_name: str | None) -> tuple[bool, Prepared | None]:
        key = (query, operation_name)
        with self._lock:
            if key not in self._cache:
                return False, None
            self._cache.move_to_end(key)
            return True, self._cache[key]

    def prepare(self, query: str, operation_name: str | None) -> Prepared | None:
        found, prepared = self.cached(query, operation_name)
        if found:
            return prepared
        prepared = self._prepare(query, operation_name)
        self._store((query, operation_name), prepared, len(query))
        return prepared

    def _store(self, key: tuple[str, str | None], prepared: Prepared | None, size: int) -> None:
        with self._lock:
            old = self._cache.pop(key, None)
            self.bytes -= old.size if old else 0
            self._cache[key] = prepared
            self.bytes += size if prepared else 0
            while len(self._cache) > self.size or self.bytes > self.max_bytes:
                _, dropped = self._cache.popitem(last=False)
                self.bytes -= dropped.size if dropped else 0

    def _prepare(self, query: str, operation_name: str | None) -> Prepared | None:
        try:
            doc = parse(query, max_tokens=self.max_tokens)
            if validate(self.schema, doc, self.rules):
                return None
            operation = pick_operation(doc, operation_name, (QUERY, MUTATION))
        except (GraphQLError, Fallback, RecursionError):
            return None
        write = plan_write(self.schema, doc, operation)
        if write is None and operation.operation is MUTATION:
            return None  # a mutation this path does not answer
        uses = variable_uses(doc, operation)
        return Prepared(doc, operation, size=len(query) * 4, variable_uses=uses, write=write)

    def statement(self, prepared: Prepared, variables: Variables) -> CompiledQuery:
        """The statement for these variables' signature, compiled on first use; raises Fallback."""
        known = self.lookup(prepared, variables)
        if known is not None:
            return known
        try:
            compiled = self._compile(prepared, variables)
        except Fallback as e:
            if e.uncompiled:
                self._note_uncompiled(prepared, e.reason)
            raise
        except Exception as e:  # a compiler bug must cost speed, never an answer
            log.exception("compiled read path failed to compile a document")
            self._note_uncompiled(prepared, "compiler error")
            raise Fallback("compiler error") from e
        signature = compiled.signature(variables)
        with self._lock:
            if prepared.switches is None:
                prepared.switches = compiled.switches
            if len(prepared.statements) < 64:
                prepared.statements[signature] = compiled.query
                prepared.size += len(compiled.query.sql)
                self.bytes += len(compiled.query.sql)
        return compiled.query

    def lookup(self, prepared: Prepared, variables: Variables) -> CompiledQuery | None:
        """The statement already compiled for these variables' signature, if any."""
        if prepared.uncompiled is not None:
            raise Fallback(prepared.uncompiled)
        if prepared.switches is None:
            return None
        return prepared.statements.get(tuple(s(variables) for s in prepared.switches))

    def _compile(self, prepared: Prepared, variables: Variables) -> Compiled:
        return compile_query(
            self.schema,
            prepared.doc,
            prepared.operation,
            variables,
            max_network_nodes=self.max_network_nodes,
            max_page_size=self.max_page_size,
        )

    def _note_uncompiled(self, prepared: Prepared, reason: str) -> None:
        prepared.uncompiled = reason
        self.fallbacks[reason] += 1
        name = prepared.operation.name.value if prepared.operation.name else "anonymous"
        log.info(
            "compiled read path: %s query %r is answered by the resolvers (slow path) because"
            " of %s",
            name,
            _first_line(prepared),
            reason,
        )

    def explain(self, query: str, variables: Variables | None = None) -> str | None:
        """Why a query is not compiled (the field or rule), or None when it is: for tests."""
        prepared = self._prepare(query, None)
        if prepared is None or prepared.write is not None:
            return "not a valid single query"
        try:
            self._compile(
                prepared, coerce_variables(self.schema, prepared.operation, variables or {})
            )
        except Fallback as e:
            return e.reason
        return None


def _first_line(prepared: Prepared) -> str:
    loc = prepared.doc.loc
    text = loc.source.body if loc is not None else ""
    return " ".join(text.split())[:120]


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
        claims: FastClaims | None = None,
    ) -> None:
        self.graphql = graphql
        self.reads = reads
        self.claims = claims
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
        answered = await self._answer(scope, body)
        if answered is None:
            self.passed_on += 1
            await self.graphql(scope, _replay(body), send)
            return
        answer, read = answered
        if read:
            self.answered += 1
            metrics.compiled_answered()
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

    async def _answer(self, scope: Scope, body: bytes) -> tuple[bytes, bool] | None:
        """The response body and whether it answers a read (else the claim's fast write)."""
        try:
            return await self._compiled_answer(scope, body)
        except _PassOn as e:
            metrics.compiled_fallback(e.reason)
            return None

    async def _compiled_answer(self, scope: Scope, body: bytes) -> tuple[bytes, bool] | None:
        # Starlette's reading (the first of two headers), as strawberry's path reads the token
        token = bearer_token(Headers(scope=scope).get("authorization", ""))
        user_id = user_id_from_token(self.settings, token) if token else None
        if user_id is None:
            raise _PassOn("anonymous")
        try:
            request = orjson.loads(body)
        except orjson.JSONDecodeError as e:
            raise _PassOn("bad_request") from e
        if not isinstance(request, dict) or not isinstance(request.get("query"), str):
            raise _PassOn("bad_request")
        variables = request.get("variables")
        variables = {} if variables is None else variables
        op_name = request.get("operationName")
        if not isinstance(variables, dict) or not (op_name is None or isinstance(op_name, str)):
            raise _PassOn("bad_request")  # strawberry's 400s
        if not isinstance(request.get("extensions"), dict | None):
            raise _PassOn("bad_request")
        prepared, coerced = await self._prepared(request["query"], op_name, variables)
        if prepared.write is not None:
            return await self._write(prepared.write, coerced, user_id), False
        statement = await self._statement(prepared, coerced)
        try:
            params = statement.params(user_id, coerced)
        except Fallback as e:
            raise _PassOn("variables") from e
        answer = await self._cached_fetch(statement, params, user_id)
        if answer is None:
            raise _PassOn("database_error")
        return answer, True

    async def _write(self, write: ClaimWrite, variables: Variables, user_id: int) -> bytes:
        if self.claims is None:
            raise _PassOn("mutation")
        answer = await self.claims.answer(write, variables, user_id)
        if answer is None:
            raise _PassOn("variables")
        return answer

    async def _prepared(
        self, text: str, op_name: str | None, variables: dict[str, Any]
    ) -> tuple[Prepared, Variables]:
        """The parsed, valid document and its coerced variables, or _PassOn."""
        reads = self.reads
        found, prepared = reads.cached(text, op_name)
        if not found:
            prepared = await anyio.to_thread.run_sync(reads.prepare, text, op_name)
        if prepared is None:
            raise _PassOn("not_compilable")
        if reads.bounds is not None and variable_bound_errors(
            prepared.doc, prepared.operation, variables, reads.bounds, prepared.variable_uses
        ):
            raise _PassOn("variables")  # strawberry answers with those errors
        try:
            return prepared, coerce_variables(reads.schema, prepared.operation, variables)
        except Fallback as e:
            raise _PassOn("not_compilable" if e.uncompiled else "variables") from e

    async def _statement(self, prepared: Prepared, coerced: Variables) -> CompiledQuery:
        reads = self.reads
        try:
            statement = reads.lookup(prepared, coerced)
            if statement is None:
                statement = await anyio.to_thread.run_sync(reads.statement, prepared, coerced)
        except Fallback as e:
            raise _PassOn("not_compilable" if e.uncompiled else "variables") from e
        return statement

    async def _cached_fetch(
        self, statement: CompiledQuery, params: list[Any], user_id: int
    ) -> bytes | None:
        """Only while this process hears every change event may an answer be reused; an answer
        that depends on who asks is kept per viewer."""
        cache = self.cache if self.cache is not None and self.listening() else None
        if cache is None:
            return await self._fetch(statement.sql, params)
        viewer = user_id if statement.per_viewer else None
        key = (statement.sql, viewer, orjson.dumps(params[1:], default=str))
        hit = cache.get(key, user_id)
        if hit is not None:
            return hit
        generation = cache.generation
        answer = await self._fetch(statement.sql, params)
        if answer is not None:
            cache.put(key, user_id, answer, generation=generation)
        return answer

    async def _fetch(self, sql: str, params: list[Any]) -> bytes | None:
        """None hands the request to strawberry, which reports any database error in GraphQL's
        shape (masked, with the request id) rather than as a bare HTTP 500. A lost connection is
        invalidated and the read, being idempotent, is tried once more (the pool refuses connections
        the retry gets a live connection)."""
        for attempt in (1, 2):
            try:
                return await self._fetch_once(sql, params)
            except LOST_CONNECTION as e:
                log.warning("compiled read lost its connection (attempt %d): %s", attempt, e)
            except DBAPIError as e:
                if e.connection_invalidated and attempt == 1:
                    continue
                log.warning("compiled read failed, answering through the resolvers: %s", e)
                return None
            except asyncpg.PostgresError as e:
                log.warning("compiled read failed, answering through the resolvers: %s", e)
                return None
        return None

    async def _fetch_once(self, sql: str, params: list[Any]) -> bytes | None:
        async with self.engine().connect() as conn:
            raw = await conn.get_raw_connection()
            driver: Any = raw.driver_connection
            try:
                result = await driver.fetchval(sql, *params)
            except LOST_CONNECTION:
                await conn.invalidate()
                raise
            except asyncio.CancelledError:
                await conn.invalidate()
                raise
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
