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
from dataclasses import dataclass, replace

import networkx as nx
import numpy as np

from gridweave.graph.coverage import I64, CoverageData, Gap, GapKind, Prepared, Rules

HOP_COST = 100  # one hop further away
LOAD_COST = 5  # per area the organization already serves (capped at LOAD_CAP)
LOAD_CAP = 40
IDLE_COST = 150  # no activity in the last 90 days
CANDIDATES_PER_GAP = 8  # the cheapest few per gap enter the flow
SEVERITY_BONUS = 10_000


@dataclass(frozen=True, slots=True)
class Candidate:
    org: int  # organization index
    hops: int
    cost: int


def suggestion_cost(hops: int, load: int, recent: int) -> int:
    return HOP_COST * hops + LOAD_COST * min(load, LOAD_CAP) + (IDLE_COST if recent == 0 else 0)


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


def candidates(
    data: CoverageData, rules: Rules, prep: Prepared, gaps: Sequence[Gap]
) -> dict[int, list[Candidate]]:
    """For each gap (by position in ``gaps``), its cheapest candidates."""
    by_target_cat: dict[tuple[int, int], set[int]] = {}
    cats = data.service_category[prep.service_rows]
    orgs = data.service_org[prep.service_rows]
    wanted = {g.category_id for g in gaps}
    for t, c, o in zip(prep.service_targets.tolist(), cats.tolist(), orgs.tolist(), strict=True):
        if c in wanted:
            by_target_cat.setdefault((t, c), set()).add(o)
    indptr = prep.adjacency.indptr.astype(np.int64)
    indices = prep.adjacency.indices.astype(np.int64)
    radius = rules.max_hops + rules.suggestion_radius
    out: dict[int, list[Candidate]] = {}
    for i, g in enumerate(gaps):
        assert g.category_id is not None
        best: dict[int, int] = {}
        for t, h in _within(indptr, indices, g.target, radius):
            for o in by_target_cat.get((t, g.category_id), ()):
                if o != g.provider and (o not in best or h < best[o]):
                    best[o] = h
        found = [
            Candidate(o, h, suggestion_cost(h, int(data.org_load[o]), int(data.org_recent[o])))
            for o, h in best.items()
        ]
        found.sort(key=lambda c: (c.cost, int(data.org_ids[c.org])))
        out[i] = found[:CANDIDATES_PER_GAP]
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
    than any difference between candidates' costs."""
    g = nx.DiGraph()
    g.add_node("s")
    g.add_node("t")
    top = max((severity or {}).values(), default=0.0) or 1.0
    for i, cands in options.items():
        if not cands:
            continue
        bonus = int(SEVERITY_BONUS * (severity or {}).get(i, 0.0) / top)
        g.add_edge("s", ("gap", i), capacity=per_gap, weight=-bonus)
        for c in cands:
            g.add_edge(("gap", i), ("org", c.org), capacity=1, weight=c.cost)
            g.add_edge(("org", c.org), "t", capacity=capacity, weight=0)
    if g.number_of_edges() == 0:
        return {}
    flow = nx.max_flow_min_cost(g, "s", "t")
    result: dict[int, list[int]] = {}
    for i, cands in options.items():
        node = ("gap", i)
        if node not in flow:
            continue
        chosen = [c for c in cands if flow[node].get(("org", c.org), 0) > 0]
        chosen.sort(key=lambda c: c.cost)
        result[i] = [c.org for c in chosen]
    return result


def suggest(data: CoverageData, rules: Rules, prep: Prepared, gaps: list[Gap]) -> list[Gap]:
    """The gaps with their suggestions (the ``suggested_gaps`` most severe provider gaps)."""
    kinds = (GapKind.NO_PROVIDER, GapKind.SINGLE_PROVIDER)
    eligible = [i for i, g in enumerate(gaps) if g.kind in kinds]
    eligible.sort(key=lambda i: (-gaps[i].severity, gaps[i].area_id, gaps[i].category_id or 0))
    chosen = eligible[: rules.suggested_gaps]
    if not chosen or rules.suggestions_per_gap <= 0 or rules.suggestion_capacity <= 0:
        return gaps
    subset = [gaps[i] for i in chosen]
    options = candidates(data, rules, prep, subset)
    picks = assign(
        options,
        per_gap=rules.suggestions_per_gap,
        capacity=rules.suggestion_capacity,
        severity={j: g.severity for j, g in enumerate(subset)},
    )
    out = list(gaps)
    for j, i in enumerate(chosen):
        orgs = picks.get(j, [])
        out[i] = replace(gaps[i], suggestions=tuple(int(data.org_ids[o]) for o in orgs))
    return out
