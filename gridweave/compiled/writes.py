"""The claim answered past strawberry's executor: the write a popular list receives hundreds of in
one second (``bench/claims``), where executing the document cost more than the claim itself.

Only the executor is skipped. The document was parsed and validated with strawberry's rules and
its variables bounded the same way (:class:`~gridweave.compiled.endpoint.CompiledFirst`); the
actor is read afresh as for every request, on the claim's own connection, and retried once as
:func:`~gridweave.signed_in.actor_of` does when that connection was lost; the work is the
resolver's own :func:`~gridweave.resolvers.projects.claim_as_asked`, run and refused through the
same :func:`~gridweave.resolvers.common.attempt`, and the claim is shown through the schema's own
``Claim.from_row`` and scalar serializers. Covered: ``claimServiceProject`` alone in its
operation, its payload's ``claim`` (id, slots, status, claimedAt, rating), ``userErrors`` and
``__typename`` anywhere, fragments included, directives not. Anything else (the payload's
``project``, say) is answered by strawberry. tests/api/test_fast_claims.py holds both answers
equal."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLInputType,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    Undefined,
    ValueNode,
    get_named_type,
    value_from_ast,
)
from graphql.language import get_location
from sqlalchemy import Row
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.compiled.selection import Fallback, Variables, collect, fragments_of
from gridweave.db import Sessionmaker
from gridweave.errors import DomainError
from gridweave.ops import metrics
from gridweave.resolvers.common import attempt
from gridweave.resolvers.projects import claim_as_asked
from gridweave.schema.common import UserError
from gridweave.schema.masking import (
    UNEXPECTED_ERROR_CODE,
    log_unexpected,
    request_id,
    unexpected_message,
)
from gridweave.schema.projects import Claim, ClaimServiceProjectInput
from gridweave.services.access import load_actor

FIELD = "claimServiceProject"
# The payload's objects, and the fields of each answered here (attribute of the schema object).
_OBJECTS = {"claim": "Claim", "userErrors": "UserError"}
_LEAVES: Mapping[str, Mapping[str, str]] = {
    "Claim": {
        "id": "id",
        "slots": "slots",
        "status": "status",
        "claimedAt": "claimed_at",
        "rating": "rating",
    },
    "UserError": {"field": "field", "code": "code", "message": "message"},
}


@dataclass(frozen=True, slots=True)
class Out:
    """One response key of the payload: a leaf, or an object with its own keys."""

    key: str
    name: str
    children: tuple[Out, ...] = ()


@dataclass(frozen=True, slots=True)
class ClaimWrite:
    """What a claim document asks: its response key, input and payload selection."""

    key: str
    input: ValueNode
    payload: tuple[Out, ...]
    location: Mapping[str, int]


def plan_write(
    schema: GraphQLSchema, doc: DocumentNode, operation: OperationDefinitionNode
) -> ClaimWrite | None:
    """The plan of a document this module answers, or None for strawberry."""
    if operation.operation is not OperationType.MUTATION:
        return None
    roots = operation.selection_set.selections
    if len(roots) != 1 or not isinstance(roots[0], FieldNode):
        return None
    root = roots[0]
    args = root.arguments or ()
    if root.name.value != FIELD or root.directives or [a.name.value for a in args] != ["input"]:
        return None
    if root.selection_set is None or root.loc is None:
        return None
    try:
        payload = _outs([root.selection_set], "ClaimPayload", fragments_of(doc), schema)
    except Fallback:
        return None
    where = get_location(root.loc.source, root.loc.start)
    return ClaimWrite(
        key=root.alias.value if root.alias else FIELD,
        input=args[0].value,
        payload=payload,
        location={"line": where.line, "column": where.column},
    )


def _outs(
    sets: list[SelectionSetNode], type_name: str, fragments: Any, schema: GraphQLSchema
) -> tuple[Out, ...]:
    """The keys of an object of ``type_name``; fragments on the interfaces it implements (a
    claim is a ``Node``) apply too."""
    graphql_type = schema.get_type(type_name)
    if not isinstance(graphql_type, GraphQLObjectType):
        raise Fallback(type_name)
    names = {type_name, *(i.name for i in graphql_type.interfaces)}
    outs = []
    for sel in collect(sets, names, fragments):
        if sel.name == "__typename":
            outs.append(Out(sel.key, sel.name))
        elif type_name == "ClaimPayload" and sel.name in _OBJECTS:
            outs.append(
                Out(
                    sel.key,
                    sel.name,
                    _outs(sel.selection_sets, _OBJECTS[sel.name], fragments, schema),
                )
            )
        elif sel.name in _LEAVES.get(type_name, {}):
            outs.append(Out(sel.key, sel.name))
        else:
            raise Fallback(f"{type_name}.{sel.name}")
    return tuple(outs)


class FastClaims:
    """Answers :class:`ClaimWrite` plans; the sessionmaker is the app's, looked up per request
    (it is created at startup)."""

    def __init__(
        self,
        schema: GraphQLSchema,
        sessionmaker: Callable[[], Sessionmaker],
    ) -> None:
        mutation = schema.mutation_type
        assert mutation is not None
        self.input_type: GraphQLInputType = mutation.fields[FIELD].args["input"].type
        self.serializers = {
            name: {
                field: get_named_type(graphql_type.fields[field].type).serialize for field in leaves
            }
            for name, leaves in _LEAVES.items()
            if isinstance(graphql_type := schema.get_type(name), GraphQLObjectType)
        }
        self.sessionmaker = sessionmaker
        self.answered = 0

    async def answer(self, plan: ClaimWrite, variables: Variables, user_id: int) -> bytes | None:
        """The response body; None when the input cannot be read here (strawberry answers)."""
        args = value_from_ast(plan.input, self.input_type, dict(variables))
        if args is Undefined or not isinstance(args, dict):
            return None
        asked = ClaimServiceProjectInput(
            project_id=args["projectId"], claimant_id=args["claimantId"], slots=args.get("slots")
        )
        for attempt_no in (1, 2):
            signed_in = False

            async def work(session: AsyncSession) -> Row[Any]:
                nonlocal signed_in
                actor = await load_actor(session, user_id)
                signed_in = True
                return await claim_as_asked(session, actor, asked)

            try:
                outcome = await attempt(self.sessionmaker(), work, one_write=True)
                break
            except Exception as e:
                if not signed_in:  # nothing was sent but the actor's read: see actor_of
                    lost = isinstance(e, DBAPIError) and e.connection_invalidated
                    if attempt_no == 1 and lost:
                        continue
                    raise  # a 503 (DatabaseUnavailable), as for any request whose actor is lost
                return self._unexpected(plan, e)  # masked as strawberry masks it
        self.answered += 1
        metrics.fast_write_answered("user_error" if isinstance(outcome, DomainError) else "ok")
        if isinstance(outcome, DomainError):
            shown: dict[str, Any] = {"claim": None, "userErrors": [UserError.from_error(outcome)]}
        else:
            shown = {"claim": Claim.from_row(outcome), "userErrors": []}
        return orjson.dumps({"data": {plan.key: self._object("ClaimPayload", plan.payload, shown)}})

    def _object(self, type_name: str, outs: tuple[Out, ...], value: Any) -> dict[str, Any]:
        shown: dict[str, Any] = {}
        for out in outs:
            if out.name == "__typename":
                shown[out.key] = type_name
            elif out.children:
                child_type = _OBJECTS[out.name]
                inner = value[out.name]
                if isinstance(inner, list):
                    shown[out.key] = [self._object(child_type, out.children, v) for v in inner]
                else:
                    shown[out.key] = (
                        None if inner is None else self._object(child_type, out.children, inner)
                    )
            else:
                raw = getattr(value, _LEAVES[type_name][out.name])
                serialize = self.serializers[type_name][out.name]
                if isinstance(raw, list):
                    shown[out.key] = [serialize(v) for v in raw]
                else:
                    shown[out.key] = None if raw is None else serialize(raw)
        return shown

    def _unexpected(self, plan: ClaimWrite, error: Exception) -> bytes:
        rid = request_id()
        log_unexpected(error, plan.key, rid)
        metrics.fast_write_answered("error")
        return orjson.dumps(
            {
                "data": None,
                "errors": [
                    {
                        "message": unexpected_message(rid),
                        "locations": [plan.location],
                        "path": [plan.key],
                        "extensions": {"code": UNEXPECTED_ERROR_CODE, "requestId": rid},
                    }
                ],
            }
        )
