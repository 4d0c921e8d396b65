"""One keyset Connection for every paged list: ``Connection[Area]`` is served as AreaConnection.

Pages are ordered by primary key and fetched with one extra row (to tell whether another page
follows); the cursor is the last id seen, so a page costs an index probe however deep it is."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

import strawberry

from gridweave.ids import encode_cursor
from gridweave.schema.common import PageInfo, page_info, trim

T = TypeVar("T")


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    page_info: PageInfo
    edges: list[Edge[T]]
    total: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field
    async def total_count(self) -> int:
        return int(await self.total())

    @classmethod
    def of_page(
        cls,
        page: Sequence[Any],
        node: Callable[[Any], T],
        *,
        has_next: bool,
        has_previous: bool,
        total: Callable[[], Awaitable[int]],
    ) -> Connection[T]:
        """A connection over ``page`` (rows with an ``id``), each mapped to a node by ``node``."""
        return cls(
            page_info=page_info([r.id for r in page], has_next=has_next, has_previous=has_previous),
            edges=[Edge(cursor=encode_cursor(r.id), node=node(r)) for r in page],
            total=total,
        )

    @classmethod
    def build(
        cls,
        rows: Sequence[Any],
        node: Callable[[Any], T],
        *,
        limit: int,
        after_id: int,
        total: Callable[[], Awaitable[int]],
    ) -> Connection[T]:
        """From ascending rows fetched with ``limit + 1`` after the cursor ``after_id``."""
        page, has_next = trim(rows, limit)
        return cls.of_page(page, node, has_next=has_next, has_previous=after_id > 0, total=total)
