"""Who could close each NO_PROVIDER and SINGLE_PROVIDER gap: organizations serving the category
nearby (fewest hops), not overloaded (fewest areas served), active (recent activities).

Across one report no organization is suggested for more gaps than ``Rules.suggestion_capacity``.
Picking the best candidate gap by gap would hand a well-placed organization to the first gaps
and leave later ones with nobody; the assignment is a min-cost flow instead (networkx
``max_flow_min_cost``): as many (gap, organization) suggestions as capacities allow, at the
least total cost.

    source --(suggestions_per_gap)--> gap --(1, cost)--> organization --(capacity)--> sink
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np

from gridweave.graph.coverage_data import I64, CoverageData, Rules
from gridweave.graph.coverage_rules import Prepared
from gridweave.graph.gaps import CODE, GapKind, GapTable

HOP_COST = 100  # one hop further away
LOAD_COST = 5  # per area the organization already serves (capped at LOAD_CAP)
LOAD_CAP = 40
IDLE_COST = 150  # no activity in the last 90 days
CANDIDATES_PER_GAP = 8  # the cheapest few per gap enter the flow
SEVERITY_BONUS = 10_000
BYPASS_COST = 1_000_000  # more than any path through a gap


@dataclass(frozen=True, slots=True)
class Candidate:
    org: int  # organization index
    hops: int
    cost: int


def suggestion_cost(hops: I64, load: I64, recent: I64) -> I64:
    cost: I64 = (
        HOP_COST * hops
        + LOAD_COST * np.minimum(load, LOAD_CAP)
        + np.where(recent == 0, IDLE_COST, 0)
    )
    return cost


def _within(indptr: I64, indices: I64, start: int, radius: int) -> list[tuple[int, int]]:
    """(target, hops) for every target within ``radius`` hops of ``start`` (a small BFS)."""
    seen = {start: 0}
    frontier = [start]
    for h in range(1, radius + 1):
        nxt = []
        for u in frontier:
            for v in indices[indptr[u] : indptr[u + 1]].tolist():
                if v not in seen:
                    seen[v] = h
                    nxt.append(v)
        frontier = nxt
    return list(seen.items())


def _ranges(lo: I64, hi: I64) -> tuple[I64, I64]:
    """Every position in the ranges [lo[i], hi[i]), with the i it came from."""
    counts = hi - lo
    owner = np.repeat(np.arange(len(lo)), counts)
    first = np.cumsum(counts) - counts
    return owner, np.arange(int(counts.sum())) - first[owner] + lo[owner]


def candidates(
    data: CoverageData, rules: Rules, prep: Prepared, gaps: Sequence[tuple[int, int, int]]
) -> dict[int, list[Candidate]]:
    """For each gap (target, category id, its single provider or -1), by position in ``gaps``,
    its cheapest candidates: every organization serving the category within reach, at its
    fewest hops, by (cost, id). Only the service rows near some gap are sorted, by (target,
    category); the neighbourhoods are looked up by binary search, all at once."""
    indptr = prep.adjacency.indptr.astype(np.int64)
    indices = prep.adjacency.indices.astype(np.int64)
    radius = rules.max_hops + rules.suggestion_radius
    near = [_within(indptr, indices, t, radius) for t, _, _ in gaps]
    hood_gap = np.repeat(np.arange(len(gaps)), [len(h) for h in near])
    hood = np.array([th for h in near for th in h], dtype=np.int64).reshape(-1, 2)
    gap_category = np.array([c for _, c, _ in gaps], dtype=np.int64)
    gap_provider = np.array([p for _, _, p in gaps], dtype=np.int64)
    wanted_target = np.zeros(prep.adjacency.shape[0], dtype=bool)
    wanted_target[hood[:, 0]] = True
    rows = np.flatnonzero(wanted_target[prep.pair_target])
    cats = prep.pair_category[rows]
    width = 1 + max(int(cats.max()) if len(cats) else 0, int(gap_category.max(initial=0)))
    key = prep.pair_target[rows] * width + cats
    order = np.argsort(key)
    skey, sorg = key[order], prep.pair_org[rows][order]
    wanted = hood[:, 0] * width + gap_category[hood_gap]
    at, pos = _ranges(np.searchsorted(skey, wanted, "left"), np.searchsorted(skey, wanted, "right"))
    gap, org, hops = hood_gap[at], sorg[pos], hood[at, 1]
    keep = org != gap_provider[gap]
    gap, org, hops = gap[keep], org[keep], hops[keep]
    # each (gap, organization) once, at its fewest hops
    o = np.lexsort((hops, org, gap))
    gap, org, hops = gap[o], org[o], hops[o]
    first = np.ones(len(gap), dtype=bool)
    first[1:] = (gap[1:] != gap[:-1]) | (org[1:] != org[:-1])
    gap, org, hops = gap[first], org[first], hops[first]
    cost = suggestion_cost(hops, data.org_load[org], data.org_recent[org])
    o = np.lexsort((data.org_ids[org], cost, gap))
    gap, org, hops, cost = gap[o], org[o], hops[o], cost[o]
    rank = np.arange(len(gap)) - np.searchsorted(gap, gap, "left")
    best = rank < CANDIDATES_PER_GAP
    out: dict[int, list[Candidate]] = {i: [] for i in range(len(gaps))}
    for i, c in zip(
        gap[best].tolist(),
        map(Candidate, org[best].tolist(), hops[best].tolist(), cost[best].tolist()),
        strict=True,
    ):
        out[i].append(c)
    return out


def assign(
    options: dict[int, list[Candidate]],
    *,
    per_gap: int,
    capacity: int,
    severity: dict[int, float] | None = None,
) -> dict[int, list[int]]:
    """Organizations (indices) per gap, best first, no organization more than ``capacity``
    times: a max flow of least cost. Where capacity runs short, the more severe gaps win: each
    suggestion a gap receives earns up to SEVERITY_BONUS (in proportion to its severity), more
    than any difference between candidates' costs.

    Gaps and candidates far apart never compete, so each connected part of the candidate graph
    is solved on its own (network simplex grows faster than linearly with the graph)."""
    top = max((severity or {}).values(), default=0.0) or 1.0
    parent: dict[object, object] = {}

    def find(x: object) -> object:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, cands in options.items():
        for c in cands:
            parent[find(("gap", i))] = find(("org", c.org))
    parts: dict[object, list[int]] = {}
    for i, cands in options.items():
        if cands:
            parts.setdefault(find(("gap", i)), []).append(i)
    result: dict[int, list[int]] = {}
    for gaps in parts.values():
        result.update(_assign_part(options, gaps, per_gap, capacity, severity or {}, top))
    return result


def _assign_part(
    options: dict[int, list[Candidate]],
    gaps: list[int],
    per_gap: int,
    capacity: int,
    severity: dict[int, float],
    top: float,
) -> dict[int, list[int]]:
    """One network simplex: every unit leaves the source, through a gap and an organization to
    the sink, or over the bypass (costlier than any real path), so the least-cost flow is a
    maximum flow through the gaps.

    Where no organization is a candidate of more than ``capacity`` of the part's gaps, capacity
    never binds and each gap simply takes its cheapest ``per_gap`` candidates; when no two
    candidates tie at that cut, that is the one optimum, and the simplex is skipped (at city
    scale nearly every part is such)."""
    uses: dict[int, int] = {}
    for i in gaps:
        for c in options[i]:
            uses[c.org] = uses.get(c.org, 0) + 1
    if max(uses.values()) <= capacity and not any(_tie_at_cut(options[i], per_gap) for i in gaps):
        return {i: [c.org for c in options[i][:per_gap]] for i in gaps}
    g = nx.DiGraph()
    supply = per_gap * len(gaps)
    g.add_node("s", demand=-supply)
    g.add_node("t", demand=supply)
    g.add_edge("s", "t", capacity=supply, weight=BYPASS_COST)
    for i in gaps:
        bonus = int(SEVERITY_BONUS * severity.get(i, 0.0) / top)
        g.add_edge("s", ("gap", i), capacity=per_gap, weight=-bonus)
        for c in options[i]:
            g.add_edge(("gap", i), ("org", c.org), capacity=1, weight=c.cost)
            g.add_edge(("org", c.org), "t", capacity=capacity, weight=0)
    _, flow = nx.network_simplex(g)
    result = {}
    for i in gaps:
        out = flow[("gap", i)]
        chosen = sorted((c for c in options[i] if out.get(("org", c.org), 0) > 0), key=_cost)
        result[i] = [c.org for c in chosen]
    return result


def _tie_at_cut(cands: list[Candidate], per_gap: int) -> bool:
    return len(cands) > per_gap and cands[per_gap - 1].cost == cands[per_gap].cost


def _cost(c: Candidate) -> int:
    return c.cost


def suggest(data: CoverageData, rules: Rules, prep: Prepared, table: GapTable) -> None:
    """Suggestions for the ``suggested_gaps`` most severe provider gaps (ties by area id, then
    category id, then the order the rules produced them), into ``table.suggestions``."""
    kinds = np.array([CODE[GapKind.NO_PROVIDER], CODE[GapKind.SINGLE_PROVIDER]])
    eligible = np.flatnonzero(np.isin(table.kind, kinds))
    if not len(eligible) or rules.suggestions_per_gap <= 0 or rules.suggestion_capacity <= 0:
        return
    order = np.lexsort(
        (table.category[eligible], table.area_id(eligible), -table.severity[eligible])
    )
    chosen = eligible[order[: rules.suggested_gaps]]
    options = candidates(
        data,
        rules,
        prep,
        list(
            zip(
                table.target[chosen].tolist(),
                table.category[chosen].tolist(),
                table.organization[chosen].tolist(),
                strict=True,
            )
        ),
    )
    severity = table.severity[chosen].tolist()
    picks = assign(
        options,
        per_gap=rules.suggestions_per_gap,
        capacity=rules.suggestion_capacity,
        severity=dict(enumerate(severity)),
    )
    for j, row in enumerate(chosen.tolist()):
        table.suggestions[row] = tuple(int(data.org_ids[o]) for o in picks.get(j, []))
