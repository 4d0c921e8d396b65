"""Just enough variable coercion for the compiled path: defaults, required values, scalar types.
Anything unusual falls back to strawberry, which coerces (and reports errors) fully."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLError,
    GraphQLScalarType,
    GraphQLSchema,
    NamedTypeNode,
    NonNullTypeNode,
    OperationDefinitionNode,
    TypeNode,
    value_from_ast_untyped,
)

from gridweave.compiled.selection import Fallback

_CHECKS = {
    "Int": lambda v: isinstance(v, int) and not isinstance(v, bool) and -(2**31) <= v < 2**31,
    "String": lambda v: isinstance(v, str),
    "ID": lambda v: isinstance(v, str | int) and not isinstance(v, bool),
    "Boolean": lambda v: isinstance(v, bool),
}


def _valid(schema: GraphQLSchema, type_name: str, value: Any) -> bool:
    check = _CHECKS.get(type_name)
    if check is not None:
        return bool(check(value))
    named = schema.get_type(type_name)
    if isinstance(named, GraphQLScalarType):
        # The schema's own scalars (Date): valid when their parser takes the value; the value
        # stays as sent, and a field's binder parses it again.
        try:
            named.parse_value(value)
        except (GraphQLError, ValueError, TypeError):
            return False
        return True
    return isinstance(named, GraphQLEnumType) and isinstance(value, str) and value in named.values


def _named(t: TypeNode) -> tuple[str, bool]:
    if isinstance(t, NonNullTypeNode):
        return _named(t.type)[0], True
    if isinstance(t, NamedTypeNode):
        return t.name.value, False
    raise Fallback("list variables")


def coerce_variables(
    schema: GraphQLSchema, operation: OperationDefinitionNode, provided: Mapping[str, Any]
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        type_name, required = _named(definition.type)
        if name in provided:
            value = provided[name]
        elif definition.default_value is not None:
            value = value_from_ast_untyped(definition.default_value)
        else:
            value = None
        if value is None:
            if required:
                raise Fallback("missing required variable", uncompiled=False)
        elif not _valid(schema, type_name, value):
            raise Fallback("variable type", uncompiled=False)
        values[name] = str(value) if type_name == "ID" and value is not None else value
    return values
