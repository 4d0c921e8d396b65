"""What checking a pooled connection costs, so that a restarted server costs only the requests in
flight. gridweave's engine (``gridweave.db.make_engine``) refuses, at checkout, a connection
asyncpg already knows is closed; SQLAlchemy's ``pool_pre_ping`` on asyncpg is three round trips
(BEGIN, ';', ROLLBACK); a one-trip ping (a pool "checkout" event) and no check at all are
measured beside them, in the same run, each as checkout + ``SELECT 1``.
Measured 2026-12-02 (load 4), before gridweave dropped pool_pre_ping: no ping 222 µs,
pool_pre_ping 483 µs (+0.26 ms a checkout), one-trip ping 617 µs.

    .venv/bin/python -m bench.checkout            # the embedded PostgreSQL, or DATABASE_URL's
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.util import await_only

from gridweave.db import make_engine, server_database_url
from gridweave.settings import Settings

MODES = ("no check", "pool_pre_ping", "one-trip ping", "closed flag (gridweave)")


def _engine(url: str, mode: str) -> AsyncEngine:
    if mode == MODES[3]:
        return make_engine(url, Settings())
    engine = create_async_engine(url, pool_size=5, pool_pre_ping=mode == MODES[1])
    if mode == MODES[2]:

        @event.listens_for(engine.sync_engine, "checkout")
        def ping(dbapi_connection: Any, record: Any, proxy: Any) -> None:
            try:
                await_only(dbapi_connection.driver_connection.fetchrow(";"))
            except Exception as e:
                raise exc.DisconnectionError() from e

    return engine


async def per_checkout(url: str, mode: str, n: int) -> float:
    engine = _engine(url, mode)

    async def one() -> None:
        async with engine.connect() as conn:
            raw = await conn.get_raw_connection()
            await raw.driver_connection.fetchval("SELECT 1")  # type: ignore[union-attr]

    for _ in range(100):
        await one()
    start = time.perf_counter()
    for _ in range(n):
        await one()
    elapsed = (time.perf_counter() - start) / n
    await engine.dispose()
    return elapsed * 1e6


async def main(n: int = 3000) -> None:
    url = server_database_url(Settings(), "postgres")
    times: dict[str, list[float]] = {m: [] for m in MODES}
    for _ in range(3):
        for mode in MODES:
            times[mode].append(await per_checkout(url, mode, n))
    base = min(times[MODES[0]])
    sys.stdout.write(f"{'checkout + SELECT 1':<28}{'best µs':>10}{'x no check':>12}\n")
    for mode in MODES:
        best = min(times[mode])
        sys.stdout.write(f"{mode:<28}{best:>10.0f}{best / base:>12.2f}\n")


if __name__ == "__main__":
    asyncio.run(main())
