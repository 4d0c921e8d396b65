"""What every family of DataLoaders shares: one short read session per batch (never a session
shared between fields strawberry resolves concurrently), rows by id, rows grouped by key."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from gridweave.db import Sessionmaker

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BatchLoaders:
    def __init__(self, sessionmaker: Sessionmaker) -> None:
        self._sm = sessionmaker

    def _make(
        self, fn: Callable[[AsyncSession, list[K]], Awaitable[Sequence[V]]]
    ) -> DataLoader[K, V]:
        async def batch(keys: list[K]) -> Sequence[V]:
            async with self._sm() as session:
                return await fn(session, keys)

        return DataLoader(load_fn=batch)

    @staticmethod
    async def _fetch(session: AsyncSession, sql: str, **params: Any) -> Sequence[Row[Any]]:
        return (await session.execute(text(sql), params)).all()

    async def _by_id(
        self, session: AsyncSession, table: str, cols: str, keys: list[int]
    ) -> list[Row[Any] | None]:
        rows = await self._fetch(
            session, f"SELECT {cols} FROM {table} WHERE id = ANY(:ids)", ids=keys
        )
        by_id = {r.id: r for r in rows}
        return [by_id.get(k) for k in keys]


def group_by_key(rows: Sequence[Row[Any]], keys: Sequence[Any]) -> list[list[Row[Any]]]:
    """Rows selected with a ``_key`` column, as one list per key, in the keys' order."""
    by_key: dict[Any, list[Row[Any]]] = defaultdict(list)
    for r in rows:
        by_key[r._key].append(r)
    return [by_key.get(k, []) for k in keys]
