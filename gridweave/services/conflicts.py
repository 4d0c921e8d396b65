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

from gridweave.graph.conflicts import PARENT, Conflict, Node, Tie, build_graph, find_conflicts


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
    """Joint meetings and co-building communities around ``ids``, with all their members."""
    return []


async def _labels(session: AsyncSession, nodes: Iterable[Node]) -> dict[Node, str]:
    orgs = sorted({n[1] for n in nodes if n[0] == "org"})
    rows = await session.execute(
        text("SELECT id, name FROM organizations WHERE id = ANY(:ids)"), {"ids": orgs}
    )
    labels: dict[Node, str] = {("org", i): f"«{name}»" for i, name in rows}
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
