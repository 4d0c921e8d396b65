"""``gridweave serve`` with the ledger's advisory lock taken out, to measure what the lock costs.

A measurement only: without the lock two transactions may chain onto the same predecessor, and
the bench reports whether the chain still verifies afterwards. Never run this against data you
keep. Usage: ``python -m bench.claims_lib.nolock serve --port P`` (the gridweave CLI's arguments).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.models import AuditEntry
from gridweave.services import audit


async def append_without_lock(
    session: AsyncSession,
    *,
    actor: Any,
    action: str,
    entity_id: str | None,
    summary: dict[str, Any],
    area_path: str | None = None,
) -> AuditEntry:
    """audit.append, minus ``pg_advisory_xact_lock``."""
    previous = await session.scalar(select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1))
    at = datetime.now(UTC)
    clean = orjson.loads(orjson.dumps(audit._scrub(summary), default=str))
    actor_id = actor.user_id if actor else None
    body = audit.canonical(
        at=at, actor_id=actor_id, action=action, entity_id=entity_id, summary=clean
    )
    entry = AuditEntry(
        at=at,
        actor_id=actor_id,
        action=action,
        entity_id=entity_id,
        summary=clean,
        previous_hash=previous,
        hash=audit.chain_hash(previous, body),
    )
    session.add(entry)
    await session.flush()
    await audit.notify_change(session, action=action, entity_id=entity_id, area_path=area_path)
    return entry


def main() -> None:
    audit.append = append_without_lock  # type: ignore[assignment]
    from gridweave.cli import app

    app()


if __name__ == "__main__":
    main()
