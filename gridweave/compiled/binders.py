"""Argument binders: each turns the request's variables into one SQL parameter, or raises
Fallback where strawberry would answer with an error (so that strawberry gives that error)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import ValueNode

from gridweave.compiled.selection import Binder, Fallback, value_of
from gridweave.errors import ValidationFailed
from gridweave.ids import decode_any, decode_cursor
from gridweave.models import AreaLevel, OrganizationKind
from gridweave.services.listing import like_pattern, uncased

Variables = Mapping[str, Any]
AREA_LEVELS = frozenset(level.value for level in AreaLevel)
ORG_KINDS = frozenset(kind.value for kind in OrganizationKind)
NODE_TYPES = frozenset({"Area", "Organization", "ServiceCategory"})
MAX_PAGE = 100


def first(node: ValueNode | None, max_page: int = MAX_PAGE) -> Binder:
    def bound(variables: Variables) -> int:
        value = value_of(node, variables)
        if value is None:
            return min(20, max_page)
        if not isinstance(value, int) or value < 0 or value > max_page:
            raise Fallback("first out of range")
        return value

    return bound


def after(node: ValueNode | None) -> Binder:
    def bound(variables: Variables) -> int:
        value = value_of(node, variables)
        try:
            return decode_cursor(value)
        except ValidationFailed as e:
            raise Fallback("bad cursor") from e

    return bound


def enum(node: ValueNode | None, allowed: frozenset[str]) -> Binder:
    def bound(variables: Variables) -> str | None:
        value = value_of(node, variables)
        if value is not None and value not in allowed:
            raise Fallback("bad enum value")
        return value  # type: ignore[no-any-return]

    return bound


def global_id(node: ValueNode | None, type_name: str) -> Binder:
    def bound(variables: Variables) -> int | None:
        value = value_of(node, variables)
        if value is None:
            return None
        decoded = decode_any(str(value))
        if decoded is None or decoded[0] != type_name:
            raise Fallback("bad id")
        return decoded[1]

    return bound


def _search(node: ValueNode | None, variables: Variables) -> str | None:
    value = value_of(node, variables)
    if isinstance(value, str) and any(ord(c) < 32 for c in value):
        raise Fallback("control characters in a search")
    term = value.strip() if isinstance(value, str) else None
    return term or None


def search_pattern(node: ValueNode | None) -> Binder:
    def bound(variables: Variables) -> str | None:
        term = _search(node, variables)
        return like_pattern(term) if term else None

    return bound


def search_term(node: ValueNode | None, *, upper: bool) -> Binder:
    def bound(variables: Variables) -> str | None:
        term = _search(node, variables)
        return term.upper() if term and upper else term

    return bound


def node_type(node: ValueNode | None) -> Binder:
    def bound(variables: Variables) -> str | None:
        decoded = decode_any(str(value_of(node, variables)))
        if decoded is None:
            return None
        if decoded[0] not in NODE_TYPES:
            raise Fallback("node type not compiled")
        return decoded[0]

    return bound


def node_pk(node: ValueNode | None) -> Binder:
    def bound(variables: Variables) -> int | None:
        decoded = decode_any(str(value_of(node, variables)))
        return decoded[1] if decoded else None

    return bound


def depth(node: ValueNode | None) -> Binder:
    def bound(variables: Variables) -> int | None:
        value = value_of(node, variables)
        if value is not None and (not isinstance(value, int) or value < 0):
            raise Fallback("bad depth")
        return value

    return bound


def search_uncased(node: ValueNode | None) -> Binder:
    def bound(variables: Variables) -> bool:
        term = _search(node, variables)
        return bool(term) and uncased(term or "")

    return bound
