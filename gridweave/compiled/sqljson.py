"""SQL expressions that build JSON: objects, lists, global ids and cursors."""

from __future__ import annotations

MAX_KEYS = 50  # json_build_object takes at most 100 arguments


def gid(type_name: str, pk_sql: str) -> str:
    return f"encode(convert_to('{type_name}:' || {pk_sql}, 'UTF8'), 'base64')"


def cursor(pk_sql: str) -> str:
    return f"encode(convert_to('cursor:' || {pk_sql}, 'UTF8'), 'base64')"


def json_object(pairs: list[tuple[str, str]]) -> str:
    """Keys are GraphQL names (``[_A-Za-z][_0-9A-Za-z]*``), safe inside SQL and JSON quotes.
    Past ``json_build_object``'s argument limit the object is concatenated as text, in order."""
    if len(pairs) <= MAX_KEYS:
        inner = ", ".join(f"'{k}', {v}" for k, v in pairs)
        return f"json_build_object({inner})"
    parts = " || ',' || ".join(
        f"'\"{k}\":' || (json_build_array({v}) -> 0)::text" for k, v in pairs
    )
    return f"('{{' || {parts} || '}}')::json"


def json_list(item_sql: str, from_sql: str, order: str) -> str:
    return f"coalesce((SELECT json_agg({item_sql} ORDER BY {order}) {from_sql}), '[]'::json)"
