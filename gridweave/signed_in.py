"""Who sends a request: the actor behind a token's user id, read afresh on every request."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from gridweave.services.access import Actor, load_actor


async def actor_of(engine: AsyncEngine, user_id: int) -> Actor | None:
    """Read afresh on every request (a revoked grant takes effect at once): one query on an
    autocommit connection, so no BEGIN and ROLLBACK around it.

    It is a request's first statement, so it is the one that meets a connection whose backend
    was just killed but whose socket asyncpg has not seen close yet (the pool's closed-flag
    check lets it through). That loss invalidates the whole pool; the read, idempotent, is tried
    once more on a new connection, and the rest of the request too gets new ones."""
    for attempt in (1, 2):
        try:
            async with engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                return await load_actor(conn, user_id)
        except DBAPIError as e:
            if attempt == 2 or not e.connection_invalidated:
                raise
    raise AssertionError("unreachable")
