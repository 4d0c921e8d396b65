"""The append-only, hash-chained ledger (阳光台账)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.models import AuditEntry
from gridweave.services.access import Actor

# Any fixed number: the advisory lock that serializes appends to the chain.
_CHAIN_LOCK = 7_301_994
_SECRET_KEYS = frozenset({"password", "password_hash", "token", "secret"})


def canonical(
    *,
    at: datetime,
    actor_id: int | None,
    action: str,
    entity_id: str | None,
    summary: dict[str, Any],
) -> bytes:
    body = {
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor_id": actor_id,
        "action": action,
        "entity_id": entity_id,
        "summary": summary,
    }
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


def chain_hash(previous_hash: str | None, body: bytes) -> str:
    return hashlib.sha256((previous_hash or "").encode() + body).hexdigest()


def _scrub(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: ("[redacted]" if k in _SECRET_KEYS else v) for k, v in summary.items()}


async def append(
    session: AsyncSession,
    *,
    actor: Actor | None,
    action: str,
    entity_id: str | None,
    summary: dict[str, Any],
) -> AuditEntry:
    """Append one entry in the caller's transaction. The transaction-scoped advisory lock makes
    concurrent appends queue, so the chain stays one line even across processes."""
    await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CHAIN_LOCK})
    previous = await session.scalar(select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1))
    at = datetime.now(UTC)
    clean = orjson.loads(orjson.dumps(_scrub(summary), default=str))
    actor_id = actor.user_id if actor else None
    body = canonical(at=at, actor_id=actor_id, action=action, entity_id=entity_id, summary=clean)
    entry = AuditEntry(
        at=at,
        actor_id=actor_id,
        action=action,
        entity_id=entity_id,
        summary=clean,
        previous_hash=previous,
        hash=chain_hash(previous, body),
    )
    session.add(entry)
    await session.flush()
    return entry


@dataclass(frozen=True, slots=True)
class ChainCheck:
    valid: bool
    checked: int
    first_broken_id: int | None = None
    reason: str | None = None


async def verify_chain(session: AsyncSession, *, batch: int = 5_000) -> ChainCheck:
    """Walk the ledger in id order and recompute every hash."""
    previous: str | None = None
    last_id = 0
    checked = 0
    while True:
        rows = (
            (
                await session.execute(
                    select(AuditEntry)
                    .where(AuditEntry.id > last_id)
                    .order_by(AuditEntry.id)
                    .limit(batch)
                )
            )
            .scalars()
            .all()
        )
        if not rows:
            return ChainCheck(valid=True, checked=checked)
        for e in rows:
            body = canonical(
                at=e.at,
                actor_id=e.actor_id,
                action=e.action,
                entity_id=e.entity_id,
                summary=e.summary,
            )
            if e.previous_hash != previous:
                return ChainCheck(
                    False, checked, e.id, "previous hash does not match the entry before"
                )
            if e.hash != chain_hash(previous, body):
                return ChainCheck(False, checked, e.id, "hash does not match the entry's content")
            previous = e.hash
            last_id = e.id
            checked += 1
            session.expunge(e)


async def count_entries(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(AuditEntry)) or 0)
