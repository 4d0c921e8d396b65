"""Loads an area subtree's organizations and ties (three small queries) for ``graph.network``."""

from __future__ import annotations

import networkx as nx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.errors import ValidationFailed
from gridweave.graph.network import (
    AgreementRow,
    AreaRow,
    LinkRow,
    MeetingRow,
    OrgRow,
    build_network,
)
from gridweave.services.access import Actor, require_actor
from gridweave.services.areas import get_area
from gridweave.services.calendar import today

_AREAS = text(
    "SELECT id, name, level, parent_id FROM areas WHERE path LIKE :prefix"
    " AND length(path) - length(replace(path, '/', '')) <= :max_slashes ORDER BY id LIMIT :cap"
)
# Correlated lookups (one index probe per organization) rather than joins: a join lets the planner
# hash the whole service-area table, which is 200,000 rows at city scale.
_ORGS = text(
    "SELECT o.id, o.name, o.kind, o.area_id, o.parent_id,"
    " ARRAY(SELECT DISTINCT s.area_id FROM organization_service_areas s"
    "       WHERE s.organization_id = o.id ORDER BY 1) AS served"
    " FROM organizations o WHERE o.area_path LIKE :prefix"
    " AND length(o.area_path) - length(replace(o.area_path, '/', '')) <= :max_slashes"
    " ORDER BY o.id LIMIT :cap"
)
_LINKS = text(
    "SELECT l.kind, l.source_id, l.target_id FROM organizations s"
    " JOIN organization_links l ON l.source_id = s.id JOIN organizations t ON t.id = l.target_id"
    " WHERE s.area_path LIKE :prefix AND t.area_path LIKE :prefix"
    " AND length(s.area_path) - length(replace(s.area_path, '/', '')) <= :max_slashes"
    " AND length(t.area_path) - length(replace(t.area_path, '/', '')) <= :max_slashes"
    " ORDER BY l.id"
)

_MEETINGS = text(
    "SELECT m.id, m.name, m.area_id,"
    " ARRAY(SELECT j.organization_id FROM joint_meeting_members j"
    "       WHERE j.meeting_id = m.id AND j.left_on IS NULL ORDER BY 1) AS members"
    " FROM joint_meetings m WHERE m.area_path LIKE :prefix"
    " AND length(m.area_path) - length(replace(m.area_path, '/', '')) <= :max_slashes"
    " ORDER BY m.id LIMIT :cap"
)
# Agreements ACTIVE today: started, not past their end, not terminated.
_AGREEMENTS = text(
    "SELECT community_id, partner_id FROM agreements WHERE community_path LIKE :prefix"
    " AND starts_on <= :today AND ends_on >= :today"
    " AND terminated_on IS NULL ORDER BY id"
)


MAX_DEPTH = 32  # areas nest seven levels deep; anything larger means "all levels"


def check_depth(depth: int | None) -> int | None:
    """``depth`` levels below the area (None: all); shared by both read paths."""
    if depth is None:
        return None
    if depth < 0:
        raise ValidationFailed("'depth' cannot be negative.", field=["depth"])
    return min(depth, MAX_DEPTH)


async def area_network(
    session: AsyncSession,
    *,
    actor: Actor | None,
    area_id: int,
    depth: int | None,
    max_nodes: int,
) -> nx.MultiDiGraph:
    require_actor(actor)
    depth = check_depth(depth)
    root = await get_area(session, area_id, field=["areaId"])
    root_slashes = root.path.count("/")
    max_slashes = root_slashes + depth if depth is not None else 10_000
    # One row past the limit is enough to refuse: a city-sized subtree is never loaded whole.
    params = {"prefix": f"{root.path}%", "max_slashes": max_slashes, "cap": max_nodes + 1}
    areas = [AreaRow(*r) for r in (await session.execute(_AREAS, params)).all()]
    orgs = [
        OrgRow(r.id, r.name, r.kind, r.area_id, r.parent_id, tuple(r.served))
        for r in (await session.execute(_ORGS, params)).all()
    ]
    meetings = [
        MeetingRow(r.id, r.name, r.area_id, tuple(r.members))
        for r in (await session.execute(_MEETINGS, params)).all()
    ]
    size = len(areas) + len(orgs) + len(meetings)
    if size > max_nodes:
        raise ValidationFailed(
            f"This network has {size:,} nodes, more than the {max_nodes:,} a "
            "dashboard can draw: pick a smaller area or pass a depth.",
            field=["areaId"],
        )
    del params["cap"]
    links = [LinkRow(*r) for r in (await session.execute(_LINKS, params)).all()]
    agreements = [
        AgreementRow(*r)
        for r in (
            await session.execute(_AGREEMENTS, {"prefix": params["prefix"], "today": today()})
        ).all()
    ]
    return build_network(areas, orgs, links, meetings, agreements)
