"""AuditEntry and its connection (newest entry first)."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime

import strawberry

from gridweave.ids import encode_cursor, encode_id
from gridweave.models import AuditEntry as AuditEntryRow
from gridweave.schema.common import Node, PageInfo, page_info
from gridweave.schema.users import User


def entity_global_id(entity_id: str) -> strawberry.ID:
    """Entries name their entity as "Type:pk", which is exactly what a global id encodes."""
    return strawberry.ID(base64.b64encode(entity_id.encode()).decode())


@strawberry.type
class AuditEntry(Node):
    id: strawberry.ID
    at: datetime
    actor: User | None = strawberry.field(
        description="Who made the change; null when you may not see that user, or for the shell."
    )
    action: str = strawberry.field(description="e.g. claimServiceProject")
    entity_id: strawberry.ID | None
    hash: str = strawberry.field(
        description="Hex SHA-256 over this entry and the previous entry's hash."
    )
    previous_hash: str | None
    pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: AuditEntryRow, *, actor: User | None) -> AuditEntry:
        return cls(
            id=strawberry.ID(encode_id("AuditEntry", row.id)),
            at=row.at,
            actor=actor,
            action=row.action,
            entity_id=entity_global_id(row.entity_id) if row.entity_id else None,
            hash=row.hash,
            previous_hash=row.previous_hash,
            pk=row.id,
        )


@strawberry.type
class AuditEntryEdge:
    cursor: str
    node: AuditEntry


@strawberry.type(description="Audit entries, newest first; `after` pages towards older entries.")
class AuditEntryConnection:
    page_info: PageInfo
    edges: list[AuditEntryEdge]
    total: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field
    async def total_count(self) -> int:
        return await self.total()

    @classmethod
    def build(
        cls,
        page: Sequence[AuditEntryRow],
        *,
        actors: Mapping[int, User],
        has_next: bool,
        has_previous: bool,
        total: Callable[[], Awaitable[int]],
    ) -> AuditEntryConnection:
        edges = [
            AuditEntryEdge(
                cursor=encode_cursor(r.id),
                node=AuditEntry.from_row(r, actor=actors.get(r.actor_id) if r.actor_id else None),
            )
            for r in page
        ]
        return cls(
            page_info=page_info([r.id for r in page], has_next=has_next, has_previous=has_previous),
            edges=edges,
            total=total,
        )
