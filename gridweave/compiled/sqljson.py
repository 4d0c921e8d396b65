"""SQL expressions that build JSON: objects, lists, global ids and cursors."""

from __future__ import annotations

from gridweave.compiled.selection import Fallback

MAX_KEYS = 50  # json_build_object takes at most 100 arguments


def gid(type_name: str, pk_sql: str) -> str:
    return f"encode(convert_to('{type_name}:' || {pk_sql}, 'UTF8'), 'base64')"


def cursor(pk_sql: str) -> str:
    return f"encode(convert_to('cursor:' || {pk_sql}, 'UTF8'), 'base64')"


def json_object(pairs: list[tuple[str, str]]) -> str:
    if len(pairs) > MAX_KEYS:
        raise Fallback("too many keys in one object")
    inner = ", ".join(f"'{k}', {v}" for k, v in pairs)
    return f"json_build_object({inner})"


def json_list(item_sql: str, from_sql: str, order: str) -> str:
    return f"coalesce((SELECT json_agg({item_sql} ORDER BY {order}) {from_sql}), '[]'::json)"
