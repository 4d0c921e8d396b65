"""Loads the part of the organization graph that can hold a conflict of interest between some
evaluators and some bidders, in a fixed number of queries whatever the number of pairs, and asks
graph/conflicts.py for the paths.

A path of at most two steps between an evaluator's organization E and a bidder B uses only ties
that touch E or B, or that join a hub (a joint meeting, a co-building community) touching E or B
to its other members. So: the ties around E and B, then the members of the hubs found there."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import anyio
import networkx as nx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.graph.conflicts import (
    AGREEMENT,
    BODY,
    MEETING,
    PARENT,
    Conflict,
    Node,
    Tie,
    build_graph,
    find_conflicts,
)
from gridweave.services.calendar import today

COMMUNITY_BODIES = ("PARTY_ORGANIZATION", "SELF_GOVERNANCE_ORGANIZATION")
_LIVE = "a.terminated_on IS NULL AND a.ends_on >= :today"


@dataclass(frozen=True, slots=True)
class FoundConflict:
    evaluator_id: int
    bidder_id: int
    path: str


async def evaluator_organizations(
    session: AsyncSession, evaluator_ids: Iterable[int]
) -> dict[int, set[int]]:
    """The organizations each user belongs to (their ORGANIZATION_MEMBER grants)."""
    ids = sorted(set(evaluator_ids))
    out: dict[int, set[int]] = {i: set() for i in ids}
    rows = await session.execute(
        text(
            "SELECT user_id, organization_id FROM role_grants WHERE user_id = ANY(:ids)"
            " AND role = 'ORGANIZATION_MEMBER' AND organization_id IS NOT NULL"
        ),
        {"ids": ids},
    )
    for user_id, org_id in rows:
        out[user_id].add(org_id)
    return out


async def _direct_ties(session: AsyncSession, ids: list[int]) -> list[Tie]:
    rows = await session.execute(
        text(
            "SELECT id, parent_id FROM organizations WHERE parent_id IS NOT NULL"
            " AND (id = ANY(:ids) OR parent_id = ANY(:ids))"
        ),
        {"ids": ids},
    )
    ties = [Tie(("org", c), ("org", p), PARENT) for c, p in rows]
    rows = await session.execute(
        text(
            "SELECT source_id, target_id, kind FROM organization_links"
            " WHERE source_id = ANY(:ids) OR target_id = ANY(:ids)"
        ),
        {"ids": ids},
    )
    ties.extend(Tie(("org", s), ("org", t), k) for s, t, k in rows)
    return ties


async def _hub_ties(session: AsyncSession, ids: list[int]) -> list[Tie]:
    """Joint meetings and co-building communities around ``ids``, with all their members.

    Current ties only: open meeting memberships; agreements not terminated and not yet ended
    (in force, or signed to start later). A community's side of its agreements is its own
    bodies: party and self-governance organizations based in the community area itself."""
    params = {"ids": ids, "today": today(), "bodies": list(COMMUNITY_BODIES)}
    meetings = list(
        (
            await session.scalars(
                text(
                    "SELECT DISTINCT meeting_id FROM joint_meeting_members"
                    " WHERE organization_id = ANY(:ids) AND left_on IS NULL"
                ),
                params,
            )
        ).all()
    )
    communities = list(
        (
            await session.scalars(
                text(
                    f"SELECT community_id FROM agreements a WHERE partner_id = ANY(:ids)"
                    f" AND {_LIVE} UNION SELECT o.area_id FROM organizations o"
                    " WHERE o.id = ANY(:ids) AND o.kind = ANY(:bodies) AND EXISTS"
                    f" (SELECT 1 FROM agreements a WHERE a.community_id = o.area_id AND {_LIVE})"
                ),
                params,
            )
        ).all()
    )
    rows = await session.execute(
        text(
            "SELECT meeting_id, organization_id FROM joint_meeting_members"
            " WHERE meeting_id = ANY(:m) AND left_on IS NULL"
        ),
        {"m": meetings},
    )
    ties = [Tie(("org", o), ("meeting", m), MEETING) for m, o in rows]
    rows = await session.execute(
        text(
            f"SELECT community_id, partner_id, 'partner' FROM agreements a"
            f" WHERE community_id = ANY(:c) AND {_LIVE}"
            " UNION SELECT area_id, id, 'body' FROM organizations"
            " WHERE area_id = ANY(:c) AND kind = ANY(:bodies)"
        ),
        {**params, "c": communities},
    )
    ties.extend(
        Tie(("org", o), ("community", c), AGREEMENT if side == "partner" else BODY)
        for c, o, side in rows
    )
    return ties


async def _labels(session: AsyncSession, nodes: Iterable[Node]) -> dict[Node, str]:
    orgs = sorted({n[1] for n in nodes if n[0] == "org"})
    rows = await session.execute(
        text("SELECT id, name FROM organizations WHERE id = ANY(:ids)"), {"ids": orgs}
    )
    labels: dict[Node, str] = {("org", i): f"«{name}»" for i, name in rows}
    rows = await session.execute(
        text("SELECT id, name FROM joint_meetings WHERE id = ANY(:ids)"),
        {"ids": sorted({n[1] for n in nodes if n[0] == "meeting"})},
    )
    labels.update({("meeting", i): f"the joint meeting «{name}»" for i, name in rows})
    rows = await session.execute(
        text("SELECT id, name FROM areas WHERE id = ANY(:ids)"),
        {"ids": sorted({n[1] for n in nodes if n[0] == "community"})},
    )
    labels.update({("community", i): f"the community «{name}»" for i, name in rows})
    return labels


async def find(
    session: AsyncSession,
    *,
    evaluator_orgs: Mapping[int, set[int]],
    bidder_ids: Sequence[int],
    max_steps: int = 2,
) -> list[FoundConflict]:
    """Every (evaluator, bidder) pair in conflict, each with its path in words."""
    around = sorted({o for orgs in evaluator_orgs.values() for o in orgs} | set(bidder_ids))
    if not around or not any(evaluator_orgs.values()):
        return []
    ties = await _direct_ties(session, around)
    ties.extend(await _hub_ties(session, around))

    def run() -> tuple[nx.Graph, list[Conflict]]:
        g = build_graph(ties)
        return g, find_conflicts(
            g, evaluator_orgs=evaluator_orgs, bidders=bidder_ids, max_steps=float(max_steps)
        )

    g, conflicts = await anyio.to_thread.run_sync(run)
    labels = await _labels(session, {n for c in conflicts for n in c.path})
    return [FoundConflict(c.evaluator_id, c.bidder_id, c.describe(labels, g)) for c in conflicts]
