"""The organization graph of an area subtree, for a dashboard to draw. Pure: plain rows in,
a networkx MultiDiGraph out; no database, no GraphQL."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import networkx as nx


@dataclass(frozen=True, slots=True)
class AreaRow:
    id: int
    name: str
    level: str
    parent_id: int | None


@dataclass(frozen=True, slots=True)
class OrgRow:
    id: int
    name: str
    kind: str
    area_id: int
    parent_id: int | None
    served_area_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class LinkRow:
    kind: str
    source_id: int
    target_id: int


def area_key(pk: int) -> str:
    return f"Area:{pk}"


def org_key(pk: int) -> str:
    return f"Organization:{pk}"


def build_network(
    areas: Iterable[AreaRow], orgs: Iterable[OrgRow], links: Iterable[LinkRow]
) -> nx.MultiDiGraph:
    """Nodes are areas and organizations; edges point from the part to the whole (PARENT), from an
    organization to where it sits (LOCATED_IN) and what it serves (SERVES), and along its ties.
    Edges to nodes outside the subtree are left out."""
    g = nx.MultiDiGraph()
    area_list = list(areas)
    for a in area_list:
        g.add_node(area_key(a.id), label=a.name, type="Area", kind=a.level)
    for a in area_list:
        if a.parent_id is not None and g.has_node(area_key(a.parent_id)):
            g.add_edge(area_key(a.id), area_key(a.parent_id), kind="PARENT")
    org_list = [o for o in orgs if g.has_node(area_key(o.area_id))]
    for o in org_list:
        g.add_node(org_key(o.id), label=o.name, type="Organization", kind=o.kind)
    for o in org_list:
        g.add_edge(org_key(o.id), area_key(o.area_id), kind="LOCATED_IN")
        if o.parent_id is not None and g.has_node(org_key(o.parent_id)):
            g.add_edge(org_key(o.id), org_key(o.parent_id), kind="PARENT")
        for served in o.served_area_ids:
            if g.has_node(area_key(served)):
                g.add_edge(org_key(o.id), area_key(served), kind="SERVES")
    for link in links:
        s, t = org_key(link.source_id), org_key(link.target_id)
        if g.has_node(s) and g.has_node(t):
            g.add_edge(s, t, kind=link.kind)
    return g


def _position(key: str) -> tuple[int, int]:
    type_name, _, pk = key.partition(":")
    return (0 if type_name == "Area" else 1, int(pk))


def ordered_edges(g: nx.MultiDiGraph) -> list[tuple[str, str, str]]:
    """(source, target, kind) in a stable order: areas before organizations, then by id, then
    kind. Both read paths answer in this order, so their answers compare equal."""
    edges = [(s, t, str(d["kind"])) for s, t, d in g.edges(data=True)]
    return sorted(edges, key=lambda e: (_position(e[0]), _position(e[1]), e[2]))
