"""Change events reach every listener when a transaction commits, and never when it rolls back."""

from __future__ import annotations

import asyncio
from typing import Any

from gridweave.db import Sessionmaker, asyncpg_dsn, unit_of_work
from gridweave.events import ChangeListener
from gridweave.services.audit import notify_change


async def test_listeners_hear_committed_changes_only(
    database_url: str, sessionmaker: Sessionmaker
) -> None:
    heard: list[dict[str, Any] | None] = []
    listener = ChangeListener(asyncpg_dsn(database_url))
    listener.subscribe(heard.append)
    listener.start()
    try:
        await asyncio.wait_for(listener.connected.wait(), 10)
        heard.clear()
        async with sessionmaker() as s, s.begin():
            await notify_change(s, action="rolledBack", entity_id="Area:1")
            await s.rollback()
        async with unit_of_work(sessionmaker) as s:
            await notify_change(s, action="updateArea", entity_id="Area:2")
        for _ in range(250):
            if heard:
                break
            await asyncio.sleep(0.02)
    finally:
        await listener.stop()

    assert heard[0] == {"action": "updateArea", "entity": "Area:2", "area": None}
    assert all(e is None or e["action"] != "rolledBack" for e in heard)
