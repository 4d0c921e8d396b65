"""Compiled declarations: AuditEntry, which only ledger readers see (its read policy is put into
the statement, and the answer is cached per viewer)."""

from __future__ import annotations

from gridweave.compiled.declare import FieldSql, ObjectType, column, global_id, utc_datetime

AUDIT_ENTRY_FIELDS: dict[str, FieldSql] = {
    "id": global_id("AuditEntry"),
    "at": utc_datetime("at"),
    "action": column("action"),
    "entityId": lambda c, s, t: f"encode(convert_to({t}.entity_id, 'UTF8'), 'base64')",
    "hash": column("hash"),
    "previousHash": column("previous_hash"),
}

TYPES = [ObjectType("AuditEntry", AUDIT_ENTRY_FIELDS, table="audit_log", node=True)]
