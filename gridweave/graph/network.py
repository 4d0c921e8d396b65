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


@dataclass(frozen=True, slots=True)
class MeetingRow:
    id: int
    name: str
    area_id: int
    member_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class AgreementRow:
    community_id: int
    partner_id: int


def area_key(pk: int) -> str:
    return f"Area:{pk}"


def org_key(pk: int) -> str:
    return f"Organization:{pk}"


def meeting_key(pk: int) -> str:
    return f"JointMeeting:{pk}"


def build_network(
    areas: Iterable[AreaRow],
    orgs: Iterable[OrgRow],
    links: Iterable[LinkRow],
    meetings: Iterable[MeetingRow] = (),
    agreements: Iterable[AgreementRow] = (),
) -> nx.MultiDiGraph:
    """Nodes are areas, organizations and joint meetings; edges point from the part to the whole
    (PARENT), from an organization or a meeting to where it sits (LOCATED_IN), from an
    organization to what it serves (SERVES), along its ties, from a member to its meeting
    (MEMBER_OF), and from a community to the partner of each agreement in force (AGREEMENT: the
    agreement is the community's, signed by its coordinators, so the community area is the
    source). Edges to nodes outside the subtree are left out."""
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
    meeting_list = [m for m in meetings if g.has_node(area_key(m.area_id))]
    for m in meeting_list:
        g.add_node(meeting_key(m.id), label=m.name, type="JointMeeting", kind=None)
    for m in meeting_list:
        g.add_edge(meeting_key(m.id), area_key(m.area_id), kind="LOCATED_IN")
        for member in m.member_ids:
            if g.has_node(org_key(member)):
                g.add_edge(org_key(member), meeting_key(m.id), kind="MEMBER_OF")
    for ag in agreements:
        s, t = area_key(ag.community_id), org_key(ag.partner_id)
        if g.has_node(s) and g.has_node(t):
            g.add_edge(s, t, kind="AGREEMENT")
    return g


_TYPE_ORDER = {"Area": 0, "Organization": 1, "JointMeeting": 2}


def _position(key: str) -> tuple[int, int]:
    type_name, _, pk = key.partition(":")
    return (_TYPE_ORDER[type_name], int(pk))


def ordered_edges(g: nx.MultiDiGraph) -> list[tuple[str, str, str]]:
    """(source, target, kind) in a stable order: areas, organizations, then meetings, each by
    id, then kind. Both read paths answer in this order, so their answers compare equal."""
    edges = [(s, t, str(d["kind"])) for s, t, d in g.edges(data=True)]
    return sorted(edges, key=lambda e: (_position(e[0]), _position(e[1]), e[2]))
