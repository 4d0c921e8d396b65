"""Change events reach every listener when a transaction commits, and never when it rolls back."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from gridweave.db import Sessionmaker, asyncpg_dsn, unit_of_work
from gridweave.events import LISTENER_NAME, ChangeListener, in_area
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
            await notify_change(s, action="updateArea", entity_id="Area:2", area_path="1/2/")
        for _ in range(250):
            if heard:
                break
            await asyncio.sleep(0.02)
    finally:
        await listener.stop()

    assert heard[0] == {"action": "updateArea", "entity": "Area:2", "area": "1/2/"}
    assert all(e is None or e["action"] != "rolledBack" for e in heard)


async def test_a_mutation_announces_its_area_path(
    database_url: str, sessionmaker: Sessionmaker
) -> None:
    from gridweave.services import areas as svc
    from tests.factories import admin_actor, make_area

    street = await make_area(sessionmaker)
    admin = await admin_actor(sessionmaker)
    listener = ChangeListener(asyncpg_dsn(database_url))
    stream = listener.stream()
    listener.start()
    try:
        await asyncio.wait_for(listener.connected.wait(), 10)
        async with unit_of_work(sessionmaker) as s:
            await svc.update_area(s, actor=admin, area_id=street.id, name="Renamed")
        event = None
        while event is None:
            event = await asyncio.wait_for(stream.__anext__(), 5)
    finally:
        await listener.stop()
    assert event["action"] == "updateArea"
    assert event["area"] == street.path
    assert in_area(event, street.path)
    assert not in_area(event, street.path + "999/")


async def test_a_killed_listener_says_so_comes_back_and_hears_again(
    database_url: str, sessionmaker: Sessionmaker
) -> None:
    listener = ChangeListener(asyncpg_dsn(database_url))
    stream = listener.stream()
    listener.start()
    try:
        await asyncio.wait_for(listener.connected.wait(), 10)
        # (on connecting it says "anything may have changed": read that first, or it could be
        # taken below for the loss, and the change sent before the loss is noticed)
        assert await asyncio.wait_for(stream.__anext__(), 10) is None
        # when the server ends the listening connection (a restart, a failover)
        admin = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = $1",
                LISTENER_NAME,
            )
        finally:
            await admin.close()
        assert killed == 1
        # then its consumers hear "events may have been missed" (None) and, once it is back,
        # the next change
        seen: list[dict[str, Any] | None] = []
        while not (seen and seen[-1] is None):
            seen.append(await asyncio.wait_for(stream.__anext__(), 10))
        await asyncio.wait_for(listener.connected.wait(), 10)
        async with unit_of_work(sessionmaker) as s:
            await notify_change(s, action="updateArea", entity_id="Area:7", area_path="1/7/")
        event = None
        while event is None:
            event = await asyncio.wait_for(stream.__anext__(), 10)
    finally:
        await listener.stop()
    assert event == {"action": "updateArea", "entity": "Area:7", "area": "1/7/"}


async def test_a_slow_consumer_is_dropped_not_buffered() -> None:
    listener = ChangeListener("postgresql://unused")
    slow, fast = listener.stream(max_pending=3), listener.stream(max_pending=100)
    for i in range(5):
        listener._publish({"action": "x", "entity": f"Area:{i}", "area": "1/"})
    assert slow.overflowed
    assert not fast.overflowed
    assert [e["entity"] async for e in _take(fast, 5) if e] == [f"Area:{i}" for i in range(5)]
    assert [e async for e in slow] == [
        {"action": "x", "entity": f"Area:{i}", "area": "1/"} for i in range(3)
    ]
    assert len(listener.subscribers) == 1


async def _take(stream: Any, n: int) -> Any:
    for _ in range(n):
        yield await stream.__anext__()


async def test_a_subscriber_that_leaves_while_waiting_leaves_no_task_behind() -> None:
    """A subscriber's WebSocket closing cancels the task that waits for the next event; what it
    waited on must go with it (no "Task was destroyed but it is pending!" in the log, once per
    subscriber that left) and the stream must still give the next event to a new reader."""
    listener = ChangeListener("postgresql://unused")
    stream = listener.stream(max_pending=10)
    before = asyncio.all_tasks()
    waiting = asyncio.ensure_future(stream.__anext__())
    await asyncio.sleep(0.01)
    waiting.cancel()
    await asyncio.gather(waiting, return_exceptions=True)
    await asyncio.sleep(0.01)
    assert {t for t in asyncio.all_tasks() if not t.done()} - before == set()
    listener._publish({"action": "x", "entity": "Area:1", "area": "1/"})
    assert (await stream.__anext__()) == {"action": "x", "entity": "Area:1", "area": "1/"}
