"""Thin resolvers for the ledger: ``auditLog``, ``auditChainValid``, ``node`` for entries.

Both queries are declared ``ReadsLedger`` (AUDITOR or ADMIN) in the schema. The log pages newest
first: a reader wants the latest changes, and ``after`` (the last cursor seen) moves back in time.
"""

from __future__ import annotations

import asyncio
import base64

import strawberry

from gridweave.errors import ValidationFailed
from gridweave.ids import decode_any, decode_cursor
from gridweave.resolvers.nodes import EXTRA_NODE_RESOLVERS
from gridweave.schema.audit import AuditEntry, AuditEntryConnection
from gridweave.schema.common import GqlInfo, Node, page_size, trim
from gridweave.schema.permissions import ReadsLedger, SignedIn
from gridweave.schema.users import User
from gridweave.services import audit as svc
from gridweave.services.access import read_policy
from gridweave.services.users import visible_users


def _entity_key(entity_id: strawberry.ID | None) -> str | None:
    """A global id names an entity as the ledger does ("Type:pk", base64-encoded)."""
    if entity_id is None:
        return None
    if decode_any(entity_id) is None:
        raise ValidationFailed("This is not the id of anything.", field=["entityId"])
    return base64.b64decode(entity_id).decode()


async def audit_log(
    info: GqlInfo,
    entity_id: strawberry.ID | None = None,
    first: int | None = None,
    after: str | None = None,
) -> AuditEntryConnection:
    limit = page_size(info, first)
    before_id = decode_cursor(after) if after is not None else None
    entity = _entity_key(entity_id)
    sm = info.context.sessionmaker
    async with sm() as session:
        rows = await svc.list_entries(
            session, entity_id=entity, before_id=before_id, limit=limit + 1
        )
        page, has_next = trim(rows, limit)
        ids = {r.actor_id for r in page if r.actor_id is not None}
        actors = await visible_users(session, actor=info.context.actor, user_ids=ids)

    async def total() -> int:
        async with sm() as s:
            return await svc.count_entries(s, entity_id=entity)

    return AuditEntryConnection.build(
        page,
        actors={pk: User.from_record(r) for pk, r in actors.items()},
        has_next=has_next,
        has_previous=before_id is not None,
        total=total,
    )


_VERIFYING = asyncio.Lock()


async def audit_chain_valid(info: GqlInfo) -> bool:
    """Recomputes the whole chain: O(entries). One verification at a time per process, so thirty
    aliases in one query wait for each other instead of scanning the ledger thirty times at once.
    The CLI's ``gridweave audit verify`` names the first broken entry."""
    async with _VERIFYING, info.context.sessionmaker() as session:
        return (await svc.verify_chain(session)).valid


async def audit_entry_node(info: GqlInfo, pk: int) -> Node | None:
    """``node(id)`` for an entry: null unless the caller reads the ledger."""
    actor = info.context.actor
    if not read_policy("AuditEntry").may_read(actor):
        return None
    async with info.context.sessionmaker() as session:
        row = await svc.get_entry(session, pk)
        if row is None:
            return None
        ids = [row.actor_id] if row.actor_id is not None else []
        found = await visible_users(session, actor=actor, user_ids=ids)
    users = {pk: User.from_record(r) for pk, r in found.items()}
    return AuditEntry.from_row(row, actor=users.get(row.actor_id) if row.actor_id else None)


EXTRA_NODE_RESOLVERS["AuditEntry"] = audit_entry_node


@strawberry.type
class Queries:
    audit_log: AuditEntryConnection = strawberry.field(
        resolver=audit_log,
        permission_classes=[SignedIn, ReadsLedger],
        description="The ledger, newest entry first; `entityId` narrows it to one entity.",
    )
    audit_chain_valid: bool = strawberry.field(
        resolver=audit_chain_valid,
        permission_classes=[SignedIn, ReadsLedger],
        description="True when every audit entry's hash matches its content and its predecessor.",
    )
