"""Relay global ids (base64 of "Type:pk", as strawberry.relay prints them) and page cursors."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence

from gridweave.errors import ValidationFailed

MAX_PK = 2**63 - 1  # bigint


def encode_id(type_name: str, pk: int) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


def _canonical_pair(value: str, low: int) -> tuple[str, int] | None:
    """("Type", pk) of base64("Type:pk") exactly as :func:`encode_id` prints it: the same text
    re-encoded gives back ``value``, so no spaces, signs, leading zeros, other digits ("١"),
    extra padding or a second spelling of one id pass."""
    try:
        type_name, colon, pk = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if not colon or not pk.isascii() or not pk.isdigit():
        return None
    number = int(pk)
    if not low <= number <= MAX_PK or encode_id(type_name, number) != value:
        return None
    return type_name, number


def decode_any(value: str) -> tuple[str, int] | None:
    return _canonical_pair(value, 1)


def decode_id(value: str, type_name: str, *, field: Sequence[str]) -> int:
    decoded = decode_any(value)
    if decoded is None or decoded[0] != type_name:
        raise ValidationFailed(f"This is not the id of a {type_name}.", field=field)
    return decoded[1]


def decode_optional(value: str | None, type_name: str, *, field: Sequence[str]) -> int | None:
    return None if value is None else decode_id(value, type_name, field=field)


def encode_cursor(pk: int) -> str:
    return base64.b64encode(f"cursor:{pk}".encode()).decode()


def decode_cursor(value: str | None) -> int:
    """0 for no cursor; keyset pages run on ascending ids."""
    if value is None:
        return 0
    return _cursor(value, 0)


def decode_newest_first_cursor(value: str | None) -> int | None:
    """None for no cursor; newest-first pages (``after`` moves back to smaller ids) start below
    the cursor's id, which is therefore at least 1."""
    return None if value is None else _cursor(value, 1)


def _cursor(value: str, low: int) -> int:
    decoded = _canonical_pair(value, low)
    if decoded is not None and decoded[0] == "cursor":
        return decoded[1]
    raise ValidationFailed(
        "This page cursor is not valid: start again from the first page.", field=["after"]
    )
