"""Subscriptions that share one execution per event in a process.

A hundred dashboards watching one area with the same document used to execute that document a
hundred times per event. Subscribers whose document, operation name and variables are the same,
and whose answers cannot differ by viewer, now share one execution (:class:`SharedExecution`):
the document runs once per event, its ``next`` payload is encoded once and sent to each.

Whether answers can differ by viewer decides the key's last part (:func:`sharing_key`). When
every type the document selects is read alike by all signed-in users (``services.access``
READ_POLICIES) or by area scope (service projects and claims: the scope decides which events and
which rows a subscriber gets), subscribers with the same :class:`AreaScope` share; otherwise
only subscriptions of the same actor (user and grants) do. Each subscriber keeps its own bounded
queue of payloads: one that falls ``max_pending`` behind is dropped (SLOW_CONSUMER), the others
go on. The connection's own limits (token expiry, changed grants, idleness) close it as before,
which ends its subscriptions."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLSchema,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    get_named_type,
    is_abstract_type,
    is_object_type,
    parse,
    visit,
)
from sqlalchemy.exc import SQLAlchemyError
from strawberry.types import ExecutionResult

from gridweave.context import Context
from gridweave.events import EventStream
from gridweave.ops import metrics
from gridweave.services.access import READ_POLICIES, Actor, AreaScope, area_scope

log = logging.getLogger(__name__)

#: Read alike by every viewer with the same area scope (services.access.area_scope).
_BY_AREA_SCOPE = frozenset({"ServiceProject", "Claim"})
#: Types without a policy of their own: parts of what holds them (pages, reports, the event).
_PARTS = frozenset(
    {
        "Subscription",
        "ServiceProjectEvent",
        "CompletionReport",
        "PageInfo",
        "AreaConnection",
        "AreaEdge",
        "OrganizationConnection",
        "OrganizationEdge",
        "VulnerableGroupCount",
    }
)
_SHARED_BY_SCOPE = (
    frozenset(name for name, policy in READ_POLICIES.items() if not policy.per_viewer)
    | _BY_AREA_SCOPE
    | _PARTS
)


class _Unknown(Exception):
    """A field the schema does not have: strawberry answers the document itself."""


def selected_types(schema: GraphQLSchema, document: DocumentNode) -> set[str]:
    """The object types whose fields ``document`` may select (every type an interface or union
    field may stand for). One walk over the document: fragments are visited once, not expanded."""
    info = TypeInfo(schema)
    found: set[str] = set()

    class Collect(Visitor):
        def enter_field(self, node: FieldNode, *_: Any) -> None:
            field_type = info.get_type()
            if field_type is None:
                raise _Unknown
            named = get_named_type(field_type)
            if is_abstract_type(named):
                found.update(t.name for t in schema.get_possible_types(named))
            elif is_object_type(named):
                found.add(named.name)

    visit(document, TypeInfoVisitor(info, Collect()))
    return found


def shared_by_scope(schema: GraphQLSchema, query: str) -> bool | None:
    """Whether the subscribers of ``query`` with one area scope all get the same answers; None
    when it does not parse or names what the schema lacks (not shared: strawberry answers)."""
    try:
        document = parse(query, max_tokens=5_000)
        types = selected_types(schema, document)
    except (GraphQLError, _Unknown):
        return None
    return types <= _SHARED_BY_SCOPE


@dataclass(frozen=True, slots=True)
class SharingKey:
    query: str
    operation_name: str | None
    variables: bytes
    viewer: tuple[str, AreaScope | Actor]


async def sharing_key(
    schema: GraphQLSchema,
    context: Context,
    query: str,
    operation_name: str | None,
    variables: dict[str, Any] | None,
) -> SharingKey | None:
    """Which subscribers may share this subscription's execution (None: it runs on its own)."""
    actor = context.actor
    by_scope = shared_by_scope(schema, query)
    if actor is None or by_scope is None:
        return None
    try:
        canonical = orjson.dumps(variables or {}, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return None
    viewer: tuple[str, AreaScope | Actor] = ("actor", actor)
    if by_scope:
        try:
            async with context.sessionmaker() as session:
                viewer = ("scope", await area_scope(session, actor))
        except (SQLAlchemyError, OSError) as e:
            # raised here, outside any execution, it would reach no one: the subscriber would
            # wait forever, its id taken and its connection never idle
            log.warning("subscription's area scope not read (not shared): %s", e)
            return None
    return SharingKey(query, operation_name, canonical, viewer)


class SharedExecution:
    """One run of a subscription for every subscriber of its key. Each result is offered to every
    subscriber's stream as ``{"result": ..., "payload": ...}`` (the ``next`` payload encoded once,
    for an :class:`ExecutionResult`); a stream that overflows drops only its subscriber."""

    def __init__(
        self, owner: SharedSubscriptions, key: SharingKey, schema: Any, context: Context
    ) -> None:
        self.owner = owner
        self.key = key
        self.members: set[EventStream] = set()
        self.ended = False
        self.task = asyncio.create_task(self._run(schema, context), name="gridweave-shared-sub")

    def join(self) -> EventStream:
        stream = EventStream(self.owner.max_pending)
        self.members.add(stream)

        def leave() -> None:
            self.members.discard(stream)
            if not self.members and not self.ended:
                self.owner.forget(self)
                self.task.cancel()

        stream.unsubscribe = leave
        return stream

    async def _run(self, schema: Any, context: Context) -> None:
        try:
            with metrics.shared_execution_running():
                await self._stream(schema, context)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("a shared subscription failed")
        finally:
            self.ended = True
            self.owner.forget(self)
            for stream in list(self.members):
                stream.close()

    async def _stream(self, schema: Any, context: Context) -> None:
        source = await schema.stream(
            self.key.query,
            variable_values=orjson.loads(self.key.variables),
            context_value=context,
            operation_name=self.key.operation_name,
        )
        async with aclosing(source):
            async for result in source:
                if getattr(result, "errors", None):
                    # a refusal or a dropped stream: what follows is the end, so a subscriber
                    # who comes now starts an execution of its own and gets the errors too
                    self.owner.forget(self)
                item = {"result": result, "payload": _payload(result)}
                for stream in list(self.members):
                    stream.offer(item)


def _payload(result: Any) -> orjson.Fragment | None:
    """What strawberry's ``send_next`` sends for ``result``, encoded once."""
    if not isinstance(result, ExecutionResult):
        return None
    payload: dict[str, Any] = {"data": result.data}
    if result.errors:
        payload["errors"] = [e.formatted for e in result.errors]
    if result.extensions:
        payload["extensions"] = result.extensions
    return orjson.Fragment(orjson.dumps(payload))


class SharedSubscriptions:
    """The shared executions of one process, by key."""

    def __init__(self, *, max_pending: int) -> None:
        self.max_pending = max_pending
        self._running: dict[SharingKey, SharedExecution] = {}

    @property
    def execution_count(self) -> int:
        return len(self._running)

    def join(self, key: SharingKey, schema: Any, context: Context) -> EventStream:
        """A stream of the results of ``key``'s execution, started with ``context`` (detached
        from its connection) when none runs."""
        running = self._running.get(key)
        if running is None or running.ended:
            own = dataclasses.replace(
                context, request=None, response=None, connection_params=None, made_loaders=None
            )
            running = self._running[key] = SharedExecution(self, key, schema, own)
        return running.join()

    def forget(self, execution: SharedExecution) -> None:
        if self._running.get(execution.key) is execution:
            del self._running[execution.key]

    async def stop(self) -> None:
        for execution in list(self._running.values()):
            execution.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await execution.task
        self._running.clear()
