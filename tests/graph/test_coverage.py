"""Each gap kind on a hand-made region, with the exact gaps and severities expected."""

from __future__ import annotations

import random
from decimal import Decimal

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from gridweave.graph.coverage import (
    NONE,
    CoverageResult,
    GapKind,
    Rules,
    VisitPeriod,
    VisitRule,
    coverage_gaps,
    provider_reach,
)
from tests.graph.coverage_regions import A, L, Org, Region, line, line_of_grids

K = GapKind


def gaps(result: CoverageResult, kind: GapKind) -> list[tuple[int, float, int | None]]:
    """(area id, severity, organization id) of one kind, sorted by area id."""
    return sorted((g.area_id, g.severity, g.organization_id) for g in result.gaps if g.kind is kind)


def test_no_provider_counts_providers_up_to_max_hops_away() -> None:
    # given grids G1-G2-G3-G4 in a line, and one organization serving G1
    r = Region(line_of_grids(4), [Org("P", "G1")], line(4), [("P", "G1", 1)])
    g = r.area_id
    # when nothing may be borrowed from neighbours, three grids have no provider
    strict = coverage_gaps(r.data(), Rules(max_hops=0))
    assert gaps(strict, K.NO_PROVIDER) == [
        (g("G2"), 100.0, None),
        (g("G3"), 100.0, None),
        (g("G4"), 100.0, None),
    ]
    # and within one hop G2 is served too
    near = coverage_gaps(r.data(), Rules(max_hops=1))
    assert gaps(near, K.NO_PROVIDER) == [(g("G3"), 100.0, None), (g("G4"), 100.0, None)]
    (cat,) = near.by_category
    assert (cat.areas_total, cat.areas_covered, cat.households_uncovered) == (4, 2, 200)


def test_single_provider_names_the_one_organization() -> None:
    # given P serving G1 and Q serving G2 in a line of four grids
    r = Region(
        line_of_grids(4),
        [Org("P", "G1"), Org("Q", "G2")],
        line(4),
        [("P", "G1", 1), ("Q", "G2", 1), ("P", "G1", 2)],
        categories={1: "ELDERLY_CARE", 2: "CHILD_CARE"},
    )
    g, o = r.area_id, r.org_id
    result = coverage_gaps(r.data(), Rules(max_hops=1))
    single = sorted(
        (x.area_id, x.category_id, x.organization_id)
        for x in result.gaps
        if x.kind is K.SINGLE_PROVIDER
    )
    # then in category 1 G3 reaches only Q (G1 and G2 reach both); in category 2 G1, G2 reach only P
    assert single == [(g("G1"), 2, o("P")), (g("G2"), 2, o("P")), (g("G3"), 1, o("Q"))]
    none = sorted((x.area_id, x.category_id) for x in result.gaps if x.kind is K.NO_PROVIDER)
    assert none == [(g("G3"), 2), (g("G4"), 1), (g("G4"), 2)]


def test_a_provider_of_a_community_serves_its_grids_and_of_a_building_its_grid() -> None:
    areas = [*line_of_grids(3), A("B", L.BUILDING, "G3")]
    r = Region(
        areas, [Org("P", "C"), Org("Q", "B")], [], [("P", "C", 1), ("Q", "B", 2)], {1: "X", 2: "Y"}
    )
    result = coverage_gaps(r.data(), Rules(max_hops=0))
    none = sorted((x.area_id, x.category_id) for x in result.gaps if x.kind is K.NO_PROVIDER)
    assert none == [(r.area_id("G1"), 2), (r.area_id("G2"), 2)]


def test_severity_weights_vulnerable_groups_and_orders_gaps() -> None:
    areas = [
        *line_of_grids(2, households=50),
    ]
    areas[2].vulnerable = {"ELDERLY_LIVING_ALONE": 4, "MOBILE_POPULATION": 10}
    r = Region(areas, [], [], [])
    weights = {"ELDERLY_LIVING_ALONE": 3.0, "MOBILE_POPULATION": 0.5}
    result = coverage_gaps(r.data(), Rules(max_hops=0, weights=weights))
    # G1: 50 + 3*4 + 0.5*10 = 67; G2: 50
    assert gaps(result, K.NO_PROVIDER) == [
        (r.area_id("G1"), 67.0, None),
        (r.area_id("G2"), 50.0, None),
    ]
    provider = [x for x in result.gaps if x.kind is K.NO_PROVIDER]
    assert [x.area_id for x in provider] == [r.area_id("G1"), r.area_id("G2")]
    assert all(a.severity >= b.severity for a, b in zip(result.gaps, result.gaps[1:], strict=False))


def test_insufficient_activity_follows_the_visit_rules() -> None:
    areas = line_of_grids(4)
    # G1: elderly living alone, visited this quarter but not this month -> monthly rule fails
    areas[2].vulnerable, areas[2].visits = {"ELDERLY_LIVING_ALONE": 2}, (0, 3, 9)
    # G2: mobile population, nothing this quarter -> quarterly rule fails
    areas[3].vulnerable, areas[3].visits = {"MOBILE_POPULATION": 6}, (0, 0, 5)
    # G3: nobody vulnerable, one visit this year -> yearly rule met
    areas[4].visits = (0, 0, 1)
    # G4: nobody vulnerable, nothing all year; but a building below it was visited
    areas[5].visits = (0, 0, 0)
    areas.append(A("B4", L.BUILDING, "G4", visits=(0, 0, 1)))
    r = Region(areas)
    result = coverage_gaps(r.data(), Rules())
    got = sorted(
        (x.area_id, x.severity, x.message) for x in result.gaps if x.kind is K.INSUFFICIENT_ACTIVITY
    )
    assert got == [
        (
            r.area_id("G1"),
            106.0,
            "G1: 0 service activities in the last month, the visit rule asks 1 (elderly living alone, left behind children).",
        ),
        (
            r.area_id("G2"),
            103.0,
            "G2: 0 service activities in the last quarter, the visit rule asks 1 (hardship households, disabled households, mobile population).",
        ),
    ]
    # the rules are data: asking two visits a year everywhere flags G3 and G4 as well
    yearly = Rules(visit_rules=(VisitRule(VisitPeriod.YEAR, (), 2),))
    flagged = {
        x.area_id for x in coverage_gaps(r.data(), yearly).gaps if x.kind is K.INSUFFICIENT_ACTIVITY
    }
    assert flagged == {r.area_id("G3"), r.area_id("G4")}


def test_the_333_rule() -> None:
    areas = [
        A("City", L.CITY, None, households=0),
        A("C", L.COMMUNITY, "City", households=900, office=Decimal(300)),
        A("G", L.GRID, "C", households=300),
        A("Y1", L.COURTYARD, "G", households=150),
        A("B1", L.BUILDING, "Y1", households=50, party_members=3),  # 3 members, no group
        A("B2", L.BUILDING, "Y1", households=50, party_members=5),
        A("B3", L.BUILDING, "Y1", households=50, party_members=2),  # under 3: no group needed
        A("B4", L.BUILDING, "Y1", households=50, party_members=4),
        A("Y2", L.COURTYARD, "G", households=150),
        A("Y3", L.COURTYARD, "G", households=150),
        A("Y4", L.COURTYARD, "G", households=150),
    ]
    p = "PARTY_ORGANIZATION"
    orgs = [
        Org("g2", "B2", p, "GROUP"),
        Org("g3", "B3", p, "GROUP"),
        Org("g4", "B4", p, "GROUP"),  # Y1 holds 3 groups and no branch
        Org("b2", "Y2", p, "BRANCH"),
        Org("b3", "Y3", p, "BRANCH"),
        Org("b4", "Y4", p, "BRANCH"),  # C holds 3 branches and no committee
    ]
    r = Region(areas, orgs)
    result = coverage_gaps(r.data(), Rules())
    assert gaps(result, K.NO_PARTY_GROUP) == [(r.area_id("B1"), 50.0, None)]
    assert gaps(result, K.NO_PARTY_BRANCH) == [(r.area_id("Y1"), 150.0, None)]
    assert gaps(result, K.NO_PARTY_COMMITTEE) == [(r.area_id("C"), 900.0, None)]
    # a general branch at the community satisfies the rule
    r.orgs.append(Org("gb", "C", p, "GENERAL_BRANCH"))
    assert gaps(coverage_gaps(r.data(), Rules()), K.NO_PARTY_COMMITTEE) == []


def test_office_space_is_30_square_metres_per_100_households() -> None:
    areas = [
        A("City", L.CITY, None, households=0),
        A("C1", L.COMMUNITY, "City", households=1000, office=Decimal("299.99")),
        A("C2", L.COMMUNITY, "City", households=1000, office=Decimal("300.00")),
        A("C3", L.COMMUNITY, "City", households=250, office=None),
    ]
    result = coverage_gaps(Region(areas).data(), Rules())
    got = [(g.area_id, g.message) for g in result.gaps if g.kind is K.OFFICE_SPACE_SHORT]
    assert sorted(got) == [
        (1001, "C1: 299.99 m² of office space; 1000 households need 300.00 m²."),
        (1003, "C3: no office space recorded; 250 households need 75.00 m²."),
    ]


def test_agreements_meetings_and_unengaged_units() -> None:
    areas = [
        A("City", L.CITY, None, households=0),
        A("C1", L.COMMUNITY, "City", households=400, office=Decimal(500)),
        A("C2", L.COMMUNITY, "City", households=200, office=Decimal(500)),
    ]
    u = "CO_RESIDENT_UNIT"
    orgs = [Org("U1", "C1", u), Org("U2", "C2", u, recent=5), Org("U3", "C2", u, recent=0)]
    r = Region(
        areas,
        orgs,
        agreements=[
            ("C1", "U1", True, 2, 1, True),  # in force, 1 of 2 this quarter
            ("C2", "U2", False, 1, 0, False),  # lapsed: C2 has none in force
        ],
        meetings=[("C1 joint meeting", "C1", False, "U1"), ("C2 joint meeting", "C2", True, "U2")],
        unengaged=["U3"],
    )
    a, o = r.area_id, r.org_id
    result = coverage_gaps(r.data(), Rules())
    assert gaps(result, K.NO_AGREEMENT) == [(a("C2"), 200.0, None)]
    (no_agreement,) = [g for g in result.gaps if g.kind is K.NO_AGREEMENT]
    assert no_agreement.suggestions == (
        o("U2"),
        o("U3"),
    )  # the community's units, most active first
    # severities: the agreement's shortfall (1 of 2 missing: half of C1), the unit's share of
    # its community's units (one of two in C2)
    assert gaps(result, K.AGREEMENT_UNDERPERFORMING) == [(a("C1"), 200.0, o("U1"))]
    assert gaps(result, K.MEETING_OVERDUE) == [(a("C1"), 400.0, o("U1"))]
    assert gaps(result, K.UNENGAGED_UNIT) == [(a("C2"), 100.0, o("U3"))]


def test_suggestions_respect_capacity_where_greedy_would_not() -> None:
    # given G1 (the most severe gap) one hop from A and from B (B serves many areas, so A is
    # cheaper), and G3 one hop from A only (B is three hops off)
    areas = [*line_of_grids(3), A("X", L.GRID, "C")]
    areas[2].households = 500
    orgs = [Org("A", "G2"), Org("B", "X", load=10)]
    neighbors = [("G1", "G2"), ("G2", "G3"), ("G1", "X")]
    services = [("A", "G2", 1), ("B", "X", 1)]
    r = Region(areas, orgs, neighbors, services)
    rules = Rules(max_hops=0, suggestion_capacity=1, suggestions_per_gap=1, suggestion_radius=1)
    result = coverage_gaps(r.data(), rules)
    picks = {g.area_id: g.suggestions for g in result.gaps if g.kind is K.NO_PROVIDER}
    # greedy by severity would give A (the cheapest) to G1 and leave G3 with nobody; the flow
    # gives B to G1 and A to G3: both gaps get someone, and A is suggested once
    assert picks[r.area_id("G1")] == (r.org_id("B"),)
    assert picks[r.area_id("G3")] == (r.org_id("A"),)


@pytest.mark.parametrize("seed", range(5))
def test_the_multi_source_search_agrees_with_scipy_and_networkx(seed: int) -> None:
    rng = random.Random(seed)
    n = 300
    g = nx.gnm_random_graph(n, 600, seed=seed)
    edges = np.array(list(g.edges()), dtype=np.int64).reshape(-1, 2)
    m = sp.csr_matrix(
        (
            np.ones(2 * len(edges)),
            (np.r_[edges[:, 0], edges[:, 1]], np.r_[edges[:, 1], edges[:, 0]]),
        ),
        shape=(n, n),
    )
    src = np.array(rng.sample(range(n), 12), dtype=np.int64)
    org = np.array([rng.randrange(6) for _ in src], dtype=np.int64)
    for hops in (0, 1, 2, 3):
        lo, hi, dist = provider_reach(m, src, org, hops)
        d = dijkstra(m, indices=src, min_only=True, unweighted=True, limit=hops + 0.5)
        assert np.array_equal(lo != NONE, np.isfinite(d))
        assert np.array_equal(dist[dist >= 0], d[np.isfinite(d)].astype(np.int64))
        for v in range(0, n, 17):
            near = nx.single_source_shortest_path_length(g, v, cutoff=hops)
            reach = {int(o) for s, o in zip(src, org, strict=True) if int(s) in near}
            assert (lo[v] == NONE) == (not reach)
            if reach:
                assert (lo[v], hi[v]) == (min(reach), max(reach))


def test_where_capacity_runs_short_the_more_severe_gap_gets_the_suggestion() -> None:
    # G1 (severity 500) and G3 (100) both one hop from A only; A may be suggested once
    areas = line_of_grids(3)
    areas[2].households = 500
    r = Region(areas, [Org("A", "G2")], line(3), [("A", "G2", 1)])
    rules = Rules(max_hops=0, suggestion_capacity=1, suggestions_per_gap=1)
    picks = {
        g.area_id: g.suggestions
        for g in coverage_gaps(r.data(), rules).gaps
        if g.kind is K.NO_PROVIDER
    }
    assert picks == {r.area_id("G1"): (r.org_id("A"),), r.area_id("G3"): ()}
    # and the other way round when G3 is the more severe
    areas[2].households, areas[4].households = 100, 500
    picks = {
        g.area_id: g.suggestions
        for g in coverage_gaps(r.data(), rules).gaps
        if g.kind is K.NO_PROVIDER
    }
    assert picks == {r.area_id("G1"): (), r.area_id("G3"): (r.org_id("A"),)}


def test_a_page_of_gaps_of_some_kinds_is_the_head_of_the_whole_list() -> None:
    # given a region with gaps of several kinds (no provider, single provider, visits)
    areas = line_of_grids(6)
    for i, a in enumerate(areas[2:]):
        a.households, a.visits = 100 + 10 * i, (0, 0, i % 2)
    r = Region(areas, [Org("P", "G1")], line(6), [("P", "G1", 1), ("P", "G4", 1)])
    result = coverage_gaps(r.data(), Rules(max_hops=1))
    every = list(result.gaps)
    assert {g.kind for g in every} >= {K.NO_PROVIDER, K.SINGLE_PROVIDER, K.INSUFFICIENT_ACTIVITY}
    # then a page of some kinds, read without making the rest, is the head of the filtered list
    wanted = (K.NO_PROVIDER, K.INSUFFICIENT_ACTIVITY)
    page = list(result.gaps.of_kinds(wanted)[:3])
    assert page == [g for g in every if g.kind in wanted][:3]
    assert [result.gaps[i] for i in range(len(every))] == every
    assert result.gaps[-1] == every[-1]
