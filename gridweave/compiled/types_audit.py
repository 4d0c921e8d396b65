"""Compiled declarations: AuditEntry, which only ledger readers see (its read policy is put into
the statement, and the answer is cached per viewer)."""

from __future__ import annotations

from gridweave.compiled.declare import FieldSql, ObjectType, column, global_id

# strawberry's DateTime is Python's isoformat() of a UTC datetime: microseconds only when non-zero.
_ISO = 'YYYY-MM-DD"T"HH24:MI:SS'


def _at(c: object, s: object, t: str) -> str:
    utc = f"({t}.at AT TIME ZONE 'UTC')"
    return (
        f"to_char({utc}, CASE WHEN extract(microseconds FROM {utc})::bigint % 1000000 = 0"
        f" THEN '{_ISO}+00:00' ELSE '{_ISO}.US+00:00' END)"
    )


AUDIT_ENTRY_FIELDS: dict[str, FieldSql] = {
    "id": global_id("AuditEntry"),
    "at": _at,
    "action": column("action"),
    "entityId": lambda c, s, t: f"encode(convert_to({t}.entity_id, 'UTF8'), 'base64')",
    "hash": column("hash"),
    "previousHash": column("previous_hash"),
}

TYPES = [ObjectType("AuditEntry", AUDIT_ENTRY_FIELDS, table="audit_log", node=True)]
