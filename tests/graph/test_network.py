"""graph.network.build_network on plain rows: no database, no GraphQL."""

from __future__ import annotations

import networkx as nx

from gridweave.graph.network import AreaRow, LinkRow, OrgRow, area_key, build_network, org_key

# A street (1) with two communities (2, 3); community 2 has a grid (4).
AREAS = [
    AreaRow(1, "宝山街道", "STREET", None),
    AreaRow(2, "阳光社区", "COMMUNITY", 1),
    AreaRow(3, "和平社区", "COMMUNITY", 1),
    AreaRow(4, "一网格", "GRID", 2),
]
ORGS = [
    OrgRow(10, "街道党工委", "PARTY_ORGANIZATION", 1, None, ()),
    OrgRow(11, "阳光社区党委", "PARTY_ORGANIZATION", 2, 10, (2, 4)),
    OrgRow(12, "夕阳红志愿队", "VOLUNTEER_TEAM", 4, None, (4, 3)),
]
LINKS = [
    LinkRow("GUIDES", 11, 12),
    LinkRow("CONCURRENT_POST", 10, 11),
]


def edges(g: nx.MultiDiGraph) -> set[tuple[str, str, str]]:
    return {(s, t, d["kind"]) for s, t, d in g.edges(data=True)}


def test_nodes_carry_label_type_and_kind() -> None:
    g = build_network(AREAS, ORGS, LINKS)

    assert set(g.nodes) == {area_key(a.id) for a in AREAS} | {org_key(o.id) for o in ORGS}
    assert g.nodes["Area:2"] == {"label": "阳光社区", "type": "Area", "kind": "COMMUNITY"}
    assert g.nodes["Organization:12"] == {
        "label": "夕阳红志愿队",
        "type": "Organization",
        "kind": "VOLUNTEER_TEAM",
    }


def test_edges_point_from_part_to_whole_and_along_ties() -> None:
    g = build_network(AREAS, ORGS, LINKS)

    assert edges(g) == {
        # the area tree, child to parent
        ("Area:2", "Area:1", "PARENT"),
        ("Area:3", "Area:1", "PARENT"),
        ("Area:4", "Area:2", "PARENT"),
        # where each organization sits
        ("Organization:10", "Area:1", "LOCATED_IN"),
        ("Organization:11", "Area:2", "LOCATED_IN"),
        ("Organization:12", "Area:4", "LOCATED_IN"),
        # the organization hierarchy
        ("Organization:11", "Organization:10", "PARENT"),
        # what they serve
        ("Organization:11", "Area:2", "SERVES"),
        ("Organization:11", "Area:4", "SERVES"),
        ("Organization:12", "Area:4", "SERVES"),
        ("Organization:12", "Area:3", "SERVES"),
        # their ties
        ("Organization:11", "Organization:12", "GUIDES"),
        ("Organization:10", "Organization:11", "CONCURRENT_POST"),
    }


def test_an_organization_that_sits_in_and_serves_an_area_has_two_edges_there() -> None:
    g = build_network(AREAS, ORGS, LINKS)

    kinds = sorted(d["kind"] for d in g.get_edge_data("Organization:12", "Area:4").values())

    assert kinds == ["LOCATED_IN", "SERVES"]


def test_everything_outside_the_given_areas_is_left_out() -> None:
    # given only the community 2 subtree (as a network rooted there would load it)
    areas = [a for a in AREAS if a.id in (2, 4)]
    orgs = [*ORGS, OrgRow(13, "外区协会", "SOCIAL_ORGANIZATION", 99, 11, (2,))]
    links = [*LINKS, LinkRow("FUNDS", 13, 12)]

    g = build_network(areas, orgs, links)

    # then the root has no PARENT edge upwards, and outside orgs and their ties are gone
    assert set(g.nodes) == {"Area:2", "Area:4", "Organization:11", "Organization:12"}
    assert ("Area:2", "Area:1", "PARENT") not in edges(g)
    assert ("Organization:11", "Organization:10", "PARENT") not in edges(g)
    assert ("Organization:12", "Area:3", "SERVES") not in edges(g)
    assert {k for _, _, k in edges(g)} == {"PARENT", "LOCATED_IN", "SERVES", "GUIDES"}


def test_parallel_ties_of_different_kinds_are_kept() -> None:
    links = [LinkRow("GUIDES", 11, 12), LinkRow("SUPPORTS", 11, 12), LinkRow("FUNDS", 11, 12)]

    g = build_network(AREAS, ORGS, links)

    ties = {d["kind"] for d in g.get_edge_data("Organization:11", "Organization:12").values()}
    assert ties == {"GUIDES", "SUPPORTS", "FUNDS"}


def test_empty_input_gives_an_empty_graph() -> None:
    g = build_network([], [], [])

    assert (g.number_of_nodes(), g.number_of_edges()) == (0, 0)


def test_rows_may_be_single_use_iterators() -> None:
    g = build_network(iter(AREAS), iter(ORGS), iter(LINKS))

    assert g.number_of_nodes() == 7
    assert g.number_of_edges() == 13
