"""Conflicts of interest on the organization graph (pure: no database, no GraphQL).

Nodes are organizations (``("org", id)``) and the hubs that tie several of them at once: a joint
meeting (``("meeting", id)``) and a community with co-building agreements (``("community",
id)``). A tie between two organizations is one *step*: parent or child, a link of any kind (either
direction), co-building with the same community, sitting in the same joint meeting. Hub edges
weigh half a step each, so two members of one meeting are one step apart, like a parent and its
child. A community's own bodies (its party committee, its residents' committee) stand on its
side of the agreements it signs, so they are co-building partners' neighbours too. An evaluator
conflicts with a bidder when an organization they belong to is the bidder or
lies within ``max_steps`` steps of it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import networkx as nx

Node = tuple[str, int]

#: Kinds of ties, as edge attributes: how a path reads.
PARENT = "PARENT"
AGREEMENT = "AGREEMENT"
BODY = "BODY"  # a community's own body (its party committee, residents' committee)
MEETING = "MEETING"
HUBS = (AGREEMENT, BODY, MEETING)


@dataclass(frozen=True, slots=True)
class Tie:
    """An edge: ``a`` to ``b`` of ``kind`` (PARENT: ``a`` is the child of ``b``; a LinkKind:
    ``a`` is the link's source; AGREEMENT/MEETING: ``a`` is the organization, ``b`` the hub)."""

    a: Node
    b: Node
    kind: str


@dataclass(frozen=True, slots=True)
class Conflict:
    evaluator_id: int
    bidder_id: int
    steps: float
    path: tuple[Node, ...]

    def describe(self, labels: Mapping[Node, str], graph: nx.Graph) -> str:
        """The path in words: "A (the evaluator's organization) is the parent of B; B GUIDES C"."""
        parts = [f"the evaluator belongs to {labels.get(self.path[0], _plain(self.path[0]))}"]
        if len(self.path) == 1:
            parts[0] += ", the bidder itself"
        for x, y in zip(self.path, self.path[1:], strict=False):
            parts.append(_step(x, y, graph.edges[x, y]["tie"], labels))
        return "; ".join(parts)


def _plain(node: Node) -> str:
    return f"{node[0]} {node[1]}"


def _step(x: Node, y: Node, tie: Tie, labels: Mapping[Node, str]) -> str:
    lx, ly = labels.get(x, _plain(x)), labels.get(y, _plain(y))
    if tie.kind == PARENT:
        return f"{lx} is part of {ly}" if tie.a == x else f"{lx} is the parent of {ly}"
    if tie.kind == AGREEMENT:
        return (
            f"{lx} has a co-building agreement with {ly}"
            if x[0] == "org"
            else f"{ly} has a co-building agreement with {lx}"
        )
    if tie.kind == BODY:
        return (
            f"{lx} is a body of {ly}, which signs its co-building agreements"
            if x[0] == "org"
            else f"{ly} is a body of {lx}, which signs its co-building agreements"
        )
    if tie.kind == MEETING:
        return f"{lx} sits in {ly}" if x[0] == "org" else f"{ly} sits in {lx}"
    if tie.a == x:
        return f"{lx} {tie.kind} {ly}"
    return f"{ly} {tie.kind} {lx}"


def build_graph(ties: Iterable[Tie]) -> nx.Graph:
    g = nx.Graph()
    for t in ties:
        hub = t.kind in HUBS
        g.add_edge(t.a, t.b, weight=0.5 if hub else 1.0, tie=t)
    return g


def find_conflicts(
    g: nx.Graph,
    *,
    evaluator_orgs: Mapping[int, Iterable[int]],
    bidders: Iterable[int],
    max_steps: float = 2.0,
) -> list[Conflict]:
    """Every (evaluator, bidder) pair within ``max_steps``, with a shortest path. One bounded
    Dijkstra per evaluator (from all of their organizations at once), never one per pair."""
    wanted = set(bidders)
    found: list[Conflict] = []
    for evaluator_id, orgs in sorted(evaluator_orgs.items()):
        sources = {("org", o) for o in orgs}
        direct = sorted(o for o in orgs if o in wanted)
        found.extend(Conflict(evaluator_id, o, 0.0, (("org", o),)) for o in direct)
        present = [s for s in sources if s in g]
        if not present:
            continue
        dist, paths = nx.multi_source_dijkstra(g, present, cutoff=max_steps + 1e-9)
        for node, d in dist.items():
            if node[0] == "org" and node[1] in wanted and node not in sources:
                found.append(Conflict(evaluator_id, node[1], float(d), tuple(paths[node])))
    found.sort(key=lambda c: (c.evaluator_id, c.bidder_id))
    return found
