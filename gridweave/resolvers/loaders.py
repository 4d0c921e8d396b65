"""DataLoaders, one per relation. Each batch opens its own short read session (strawberry resolves
sibling fields concurrently, and one AsyncSession must never be shared between them)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable
from typing import Any, TypeVar

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.db import Sessionmaker
from gridweave.resolvers.batching import BatchLoaders, group_by_key
from gridweave.resolvers.meeting_loaders import MeetingLoaders
from gridweave.resolvers.procurement_loaders import ProcurementLoaders
from gridweave.services import projects
from gridweave.services.subtree import in_subtree_sql

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

AREA_COLS = (
    "id, name, code, level, parent_id, path, households, population, elderly_living_alone,"
    " left_behind_children, disabled_households, hardship_households, mobile_population"
)
ORG_COLS = "id, name, kind, credit_code, area_id, area_path, parent_id"


class Loaders(BatchLoaders):
    """Created per request; every loader caches within that request only."""

    def __init__(self, sessionmaker: Sessionmaker) -> None:
        super().__init__(sessionmaker)
        self.area = self._make(self._areas)
        self.organization = self._make(self._organizations)
        self.category = self._make(self._categories)
        self.area_children = self._make(self._area_children)
        self.area_child_count = self._make(self._area_child_counts)
        self.area_neighbors = self._make(self._area_neighbors)
        self.area_organizations = self._make(self._area_organizations)
        self.area_organization_count = self._make(self._area_organization_counts)
        self.organization_children = self._make(self._organization_children)
        self.service_areas = self._make(self._service_areas)
        self.organization_links = self._make(self._organization_links)
        self.project = self._make(self._projects)
        self.claim = self._make(self._claims)
        self.project_claims = self._make(self._project_claims)
        self.procurement = ProcurementLoaders(sessionmaker)
        self.meetings = MeetingLoaders(sessionmaker)

    async def _areas(self, session: AsyncSession, keys: list[int]) -> list[Row[Any] | None]:
        return await self._by_id(session, "areas", AREA_COLS, keys)

    async def _organizations(self, session: AsyncSession, keys: list[int]) -> list[Row[Any] | None]:
        return await self._by_id(session, "organizations", ORG_COLS, keys)

    async def _categories(self, session: AsyncSession, keys: list[int]) -> list[Row[Any] | None]:
        return await self._by_id(session, "service_categories", "id, code, name", keys)

    async def _area_children(
        self, session: AsyncSession, keys: list[tuple[int, int, int]]
    ) -> list[list[Row[Any]]]:
        """Keys are (parent id, after id, limit): one LATERAL top-N query per distinct page."""
        return await _grouped_pages(
            session,
            keys,
            "SELECT p.k AS _key, c.* FROM unnest(CAST(:keys AS bigint[])) AS p(k)"
            f" CROSS JOIN LATERAL (SELECT {AREA_COLS} FROM areas WHERE parent_id = p.k"
            " AND id > :after ORDER BY id LIMIT :lim) c",
        )

    async def _area_child_counts(self, session: AsyncSession, keys: list[int]) -> list[int]:
        rows = await self._fetch(
            session,
            "SELECT parent_id, count(*) AS n FROM areas WHERE parent_id = ANY(:ids)"
            " GROUP BY parent_id",
            ids=keys,
        )
        counts = {r.parent_id: r.n for r in rows}
        return [counts.get(k, 0) for k in keys]

    async def _area_neighbors(self, session: AsyncSession, keys: list[int]) -> list[list[Row[Any]]]:
        rows = await self._fetch(
            session,
            f"SELECT n.area_id AS _key, a.{AREA_COLS.replace(', ', ', a.')} FROM area_neighbors n"
            " JOIN areas a ON a.id = n.neighbor_id WHERE n.area_id = ANY(:ids) ORDER BY a.id",
            ids=keys,
        )
        return group_by_key(rows, keys)

    async def _area_organizations(
        self, session: AsyncSession, keys: list[tuple[str, str | None, int, int]]
    ) -> list[list[Row[Any]]]:
        """Keys are (area path, kind or None, after id, limit): organizations in the subtree."""
        groups: dict[tuple[str | None, int, int], list[str]] = defaultdict(list)
        for path, kind, after, lim in keys:
            groups[(kind, after, lim)].append(path)
        found: dict[tuple[str, str | None, int, int], list[Row[Any]]] = {}
        for (kind, after, lim), paths in groups.items():
            rows = await self._fetch(
                session,
                "SELECT p.k AS _key, o.* FROM unnest(CAST(:keys AS text[])) AS p(k)"
                f" CROSS JOIN LATERAL (SELECT {ORG_COLS} FROM organizations"
                f" WHERE {in_subtree_sql('area_path', 'p.k')}"
                " AND (CAST(:kind AS text) IS NULL OR kind = :kind)"
                " AND id > :after ORDER BY id LIMIT :lim) o",
                keys=paths,
                kind=kind,
                after=after,
                lim=lim,
            )
            for path, group in zip(paths, group_by_key(rows, paths), strict=True):
                found[(path, kind, after, lim)] = group
        return [found[k] for k in keys]

    async def _area_organization_counts(
        self, session: AsyncSession, keys: list[tuple[str, str | None]]
    ) -> list[int]:
        groups: dict[str | None, list[str]] = defaultdict(list)
        for path, kind in keys:
            groups[kind].append(path)
        counts: dict[tuple[str, str | None], int] = {}
        for kind, paths in groups.items():
            rows = await self._fetch(
                session,
                "SELECT p.k AS _key, (SELECT count(*) FROM organizations"
                f" WHERE {in_subtree_sql('area_path', 'p.k')}"
                " AND (CAST(:kind AS text) IS NULL OR kind = :kind)) AS n"
                " FROM unnest(CAST(:keys AS text[])) AS p(k)",
                keys=paths,
                kind=kind,
            )
            counts.update({(r._key, kind): r.n for r in rows})
        return [counts[k] for k in keys]

    async def _organization_children(
        self, session: AsyncSession, keys: list[int]
    ) -> list[list[Row[Any]]]:
        rows = await self._fetch(
            session,
            f"SELECT parent_id AS _key, {ORG_COLS} FROM organizations"
            " WHERE parent_id = ANY(:ids) ORDER BY id",
            ids=keys,
        )
        return group_by_key(rows, keys)

    async def _service_areas(self, session: AsyncSession, keys: list[int]) -> list[list[Row[Any]]]:
        rows = await self._fetch(
            session,
            "SELECT organization_id AS _key, area_id, category_id FROM organization_service_areas"
            " WHERE organization_id = ANY(:ids) ORDER BY area_id, category_id",
            ids=keys,
        )
        return group_by_key(rows, keys)

    async def _organization_links(
        self, session: AsyncSession, keys: list[int]
    ) -> list[list[Row[Any]]]:
        rows = await self._fetch(
            session,
            "SELECT k AS _key, l.id, l.kind, l.source_id, l.target_id, l.since"
            " FROM unnest(CAST(:ids AS bigint[])) AS k"
            " JOIN organization_links l ON l.source_id = k OR l.target_id = k ORDER BY l.id",
            ids=keys,
        )
        return group_by_key(rows, keys)

    async def _projects(self, session: AsyncSession, keys: list[int]) -> list[Row[Any] | None]:
        found = await projects.project_rows(session, keys)
        return [found.get(k) for k in keys]

    async def _claims(self, session: AsyncSession, keys: list[int]) -> list[Row[Any] | None]:
        found = await projects.claim_rows(session, keys)
        return [found.get(k) for k in keys]

    async def _project_claims(self, session: AsyncSession, keys: list[int]) -> list[list[Row[Any]]]:
        found = await projects.claims_of_projects(session, keys)
        return [found[k] for k in keys]


async def _grouped_pages(
    session: AsyncSession, keys: list[tuple[int, int, int]], sql: str
) -> list[list[Row[Any]]]:
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for parent, after, lim in keys:
        groups[(after, lim)].append(parent)
    found: dict[tuple[int, int, int], list[Row[Any]]] = {}
    for (after, lim), parents in groups.items():
        rows = (
            await session.execute(text(sql), {"keys": parents, "after": after, "lim": lim})
        ).all()
        for parent, group in zip(parents, group_by_key(rows, parents), strict=True):
            found[(parent, after, lim)] = group
    return [found[k] for k in keys]
