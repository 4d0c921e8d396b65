"""The demo region generator against a real PostgreSQL (``session``: tests/conftest.py)."""

from __future__ import annotations

import os
import random
import time
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.demo import DemoSummary, load_demo
from gridweave.demo.areas import SCALES, plan_areas
from gridweave.demo.orgs import plan_orgs
from gridweave.demo.users import load_demo_users
from gridweave.models import LinkKind, OrganizationKind
from gridweave.services.audit import verify_chain
from gridweave.services.validation import valid_credit_code

ESSENTIAL = frozenset(
    {
        "elderly_care",
        "child_care",
        "hardship_relief",
        "health",
        "safety_mediation",
        "disability_support",
    }
)


async def rows(session: AsyncSession, sql: str, **params: Any) -> list[Any]:
    return list((await session.execute(text(sql), params)).all())


async def scalar(session: AsyncSession, sql: str, **params: Any) -> Any:
    return await session.scalar(text(sql), params)


async def table_counts(session: AsyncSession) -> dict[str, int]:
    tables = (
        "areas",
        "area_neighbors",
        "organizations",
        "organization_service_areas",
        "organization_links",
        "audit_log",
    )
    return {t: int(await scalar(session, f"SELECT count(*) FROM {t}")) for t in tables}


@pytest.fixture
async def demo(session: AsyncSession) -> DemoSummary:
    return await load_demo(session)


async def test_region_has_the_seed_shape(session: AsyncSession, demo: DemoSummary) -> None:
    assert demo.created
    assert demo.areas_by_level["CITY"] == 1
    assert demo.areas_by_level["DISTRICT"] == 2
    communities = await rows(
        session,
        "SELECT c.id, (SELECT count(*) FROM areas g WHERE g.parent_id = c.id AND g.level = 'GRID')"
        " FROM areas c WHERE c.parent_id = :street ORDER BY c.id",
        street=demo.street_id,
    )
    assert len(communities) == 13
    assert sum(n for _, n in communities) == 192
    assert all(n > 0 for _, n in communities)
    assert communities[0][0] == demo.community_id
    assert demo.areas_by_level["GRID"] > 192  # the other streets have grids too
    assert 200 <= demo.areas_by_level["COURTYARD"] + demo.areas_by_level["BUILDING"] <= 900
    assert 1_200 <= demo.organizations <= 1_600  # with the "1+4Z+3N" groups of the street
    assert set(demo.organizations_by_kind) == {k.value for k in OrganizationKind}
    assert set(demo.links_by_kind) == {k.value for k in LinkKind}
    assert demo.service_areas > demo.organizations
    org = await rows(
        session,
        "SELECT kind, area_id, name, credit_code FROM organizations WHERE id = :id",
        id=demo.organization_id,
    )
    assert org[0][:2] == ("SOCIAL_ORGANIZATION", demo.community_id)
    assert org[0][2].endswith("社会工作服务中心")
    assert org[0][3] is not None
    assert (await table_counts(session))["audit_log"] == 1  # the load itself: see below


async def test_parents_carry_the_sum_of_their_children(
    session: AsyncSession, demo: DemoSummary
) -> None:
    columns = (
        "households",
        "population",
        "elderly_living_alone",
        "left_behind_children",
        "disabled_households",
        "hardship_households",
        "mobile_population",
    )
    sums = ", ".join(f"sum(c.{col}) AS {col}" for col in columns)
    differs = " OR ".join(f"p.{col} <> s.{col}" for col in columns)
    mismatched = await scalar(
        session,
        f"WITH s AS (SELECT c.parent_id, {sums} FROM areas c"
        " WHERE c.parent_id IS NOT NULL GROUP BY c.parent_id)"
        f" SELECT count(*) FROM areas p JOIN s ON s.parent_id = p.id WHERE {differs}",
    )
    assert mismatched == 0
    street = await rows(
        session, "SELECT population, households FROM areas WHERE id = :id", id=demo.street_id
    )
    assert 80_000 <= street[0][0] <= 130_000  # the seed's street: 100,071 residents
    assert await scalar(session, "SELECT min(households) FROM areas WHERE level = 'GRID'") > 0


async def test_paths_levels_and_codes(session: AsyncSession, demo: DemoSummary) -> None:
    root = await rows(session, "SELECT path, code, level FROM areas WHERE parent_id IS NULL")
    assert root == [(f"/{demo.city_id}/", "DEMO-CITY", "CITY")]
    bad_paths = await scalar(
        session,
        "SELECT count(*) FROM areas c JOIN areas p ON p.id = c.parent_id"
        " WHERE c.path <> p.path || c.id || '/'",
    )
    assert bad_paths == 0
    pairs = {
        (p, c)
        for p, c in await rows(
            session,
            "SELECT DISTINCT p.level, c.level FROM areas c JOIN areas p ON p.id = c.parent_id",
        )
    }
    assert pairs <= {
        ("CITY", "DISTRICT"),
        ("DISTRICT", "STREET"),
        ("STREET", "COMMUNITY"),
        ("COMMUNITY", "GRID"),
        ("GRID", "COURTYARD"),
        ("GRID", "BUILDING"),
        ("COURTYARD", "BUILDING"),
    }
    assert ("GRID", "BUILDING") in pairs
    assert ("COURTYARD", "BUILDING") in pairs
    assert await scalar(session, "SELECT count(*) FROM areas WHERE code IS NULL") == 0


async def test_organizations_copy_their_area_path(session: AsyncSession, demo: DemoSummary) -> None:
    wrong = await scalar(
        session,
        "SELECT count(*) FROM organizations o JOIN areas a ON a.id = o.area_id"
        " WHERE o.area_path <> a.path",
    )
    assert wrong == 0


async def test_neighbours_are_symmetric_grids(session: AsyncSession, demo: DemoSummary) -> None:
    assert demo.neighbor_rows > 0
    one_way = await scalar(
        session,
        "SELECT count(*) FROM area_neighbors n WHERE NOT EXISTS (SELECT 1 FROM area_neighbors r"
        " WHERE r.area_id = n.neighbor_id AND r.neighbor_id = n.area_id)",
    )
    assert one_way == 0
    levels = await rows(
        session,
        "SELECT DISTINCT a.level, b.level FROM area_neighbors n"
        " JOIN areas a ON a.id = n.area_id JOIN areas b ON b.id = n.neighbor_id",
    )
    assert levels == [("GRID", "GRID")]
    lonely = await scalar(
        session,
        "SELECT count(*) FROM areas g WHERE g.level = 'GRID' AND NOT EXISTS"
        " (SELECT 1 FROM area_neighbors n WHERE n.area_id = g.id)",
    )
    assert lonely == 0


async def test_credit_codes_are_valid_and_unique(session: AsyncSession, demo: DemoSummary) -> None:
    codes = [
        c
        for (c,) in await rows(
            session, "SELECT credit_code FROM organizations WHERE credit_code IS NOT NULL"
        )
    ]
    assert 100 <= len(codes) < demo.organizations
    assert len(set(codes)) == len(codes)
    for code in codes:
        assert valid_credit_code(code, field=["creditCode"]) == code


async def test_party_hierarchy(session: AsyncSession, demo: DemoSummary) -> None:
    parents = await rows(
        session,
        "SELECT c.kind, p.kind, c.area_path LIKE p.area_path || '%' FROM organizations c"
        " JOIN organizations p ON p.id = c.parent_id",
    )
    assert parents
    # party bodies under party bodies, and the street's "1+4Z+3N" groups under their community's
    assert {(c, p, inside) for c, p, inside in parents} == {
        ("PARTY_ORGANIZATION", "PARTY_ORGANIZATION", True),
        ("SELF_GOVERNANCE_ORGANIZATION", "PARTY_ORGANIZATION", True),
    }
    chain = await rows(
        session,
        "SELECT g.name, b.name, c.name FROM organizations g"
        " JOIN organizations b ON b.id = g.parent_id JOIN organizations c ON c.id = b.parent_id"
        " JOIN areas ga ON ga.id = g.area_id JOIN areas ba ON ba.id = b.area_id"
        " JOIN areas ca ON ca.id = c.area_id"
        " WHERE ga.level = 'BUILDING' AND ba.level = 'COURTYARD' AND ca.level = 'COMMUNITY'",
    )
    assert chain
    for group, branch, committee in chain:
        assert group.endswith("党小组")
        assert branch.endswith("党支部")
        # a few communities are led by a branch on purpose (demo/coverage.py: the 333 rule)
        assert committee.endswith(("党委", "党总支", "党支部"))


async def test_links_and_service_areas(session: AsyncSession, demo: DemoSummary) -> None:
    assert (
        await scalar(session, "SELECT count(*) FROM organization_links WHERE source_id = target_id")
        == 0
    )
    guides = await rows(
        session,
        "SELECT DISTINCT s.kind, t.kind FROM organization_links l"
        " JOIN organizations s ON s.id = l.source_id JOIN organizations t ON t.id = l.target_id"
        " WHERE l.kind = 'GUIDES'",
    )
    assert {s for s, _ in guides} == {"PARTY_ORGANIZATION"}
    assert {t for _, t in guides} <= {
        "SOCIAL_ORGANIZATION",
        "VOLUNTEER_TEAM",
        "SELF_GOVERNANCE_ORGANIZATION",
        "ECONOMIC_ORGANIZATION",
    }
    # every grid x essential category of the featured street: most covered, some gaps left
    coverage = await rows(
        session,
        "SELECT g.id, c.id, EXISTS (SELECT 1 FROM organization_service_areas s"
        " WHERE s.area_id = g.id AND s.category_id = c.id)"
        " FROM areas g CROSS JOIN service_categories c"
        " WHERE g.level = 'GRID' AND g.path LIKE :p AND c.essential",
        p=f"%/{demo.street_id}/%",
    )
    covered = sum(1 for *_, ok in coverage if ok)
    assert 0.5 * len(coverage) < covered < len(coverage)


async def test_second_call_adds_nothing(session: AsyncSession, demo: DemoSummary) -> None:
    before = await table_counts(session)
    again = await load_demo(session)
    assert not again.created
    assert await table_counts(session) == before
    assert again.city_id == demo.city_id
    assert again.organization_id == demo.organization_id
    assert again.areas_by_level == demo.areas_by_level
    assert again.organizations_by_kind == demo.organizations_by_kind
    assert again.service_areas == demo.service_areas
    assert again.links == demo.links


async def _snapshot(session: AsyncSession) -> tuple[list[Any], list[Any], list[Any]]:
    areas = await rows(session, "SELECT code, name, level, households FROM areas ORDER BY id")
    orgs = await rows(
        session,
        "SELECT o.name, o.kind, o.credit_code, a.code FROM organizations o"
        " JOIN areas a ON a.id = o.area_id ORDER BY o.id",
    )
    links = await rows(
        session,
        "SELECT l.kind, s.name, t.name, l.since FROM organization_links l"
        " JOIN organizations s ON s.id = l.source_id JOIN organizations t ON t.id = l.target_id"
        " ORDER BY l.id",
    )
    return areas, orgs, links


async def test_same_seed_same_data(session: AsyncSession) -> None:
    nested = await session.begin_nested()
    first = await load_demo(session, seed=7)
    first_data = await _snapshot(session)
    await nested.rollback()
    assert await scalar(session, "SELECT count(*) FROM areas") == 0
    second = await load_demo(session, seed=7)
    assert await _snapshot(session) == first_data  # ids differ (sequences moved on), data not
    assert second.areas_by_level == first.areas_by_level
    assert second.organizations_by_kind == first.organizations_by_kind
    assert second.links_by_kind == first.links_by_kind
    assert second.service_areas == first.service_areas


def test_plans_follow_the_seed() -> None:
    def names(seed: int) -> list[str]:
        rng = random.Random(seed)
        areas = plan_areas(rng, "region")
        orgs = plan_orgs(rng, areas, SCALES["region"], ESSENTIAL)
        return [a.name for a in areas.areas] + [o.name for o in orgs.orgs]

    assert names(1) == names(1)
    assert names(1) != names(2)


@pytest.mark.skipif(
    not os.environ.get("GRIDWEAVE_TEST_DEMO_CITY"), reason="set GRIDWEAVE_TEST_DEMO_CITY=1"
)
async def test_city_scale_loads_quickly(session: AsyncSession) -> None:
    started = time.perf_counter()
    summary = await load_demo(session, scale="city")
    assert time.perf_counter() - started < 60
    assert summary.areas_by_level["DISTRICT"] == 10
    assert 130 <= summary.areas_by_level["STREET"] <= 170
    assert 1_700 <= summary.areas_by_level["COMMUNITY"] <= 2_300
    assert 17_000 <= summary.areas_by_level["GRID"] <= 23_000
    assert 40_000 <= summary.organizations <= 60_000


def within(pk: int, runs: list[list[int]]) -> bool:
    return any(first <= pk <= last for first, last in runs)


async def test_the_load_records_itself_and_every_row_is_traceable(session: AsyncSession) -> None:
    # given the demo region and its accounts, loaded in one transaction as the CLI does
    demo = await load_demo(session)
    emails = await load_demo_users(session, demo)

    # then the ledger holds one entry for the load, with the counts of what is there
    entries = await rows(session, "SELECT action, entity_id, summary FROM audit_log ORDER BY id")
    loads = [e for e in entries if e.action == "loadDemo"]
    assert len(loads) == 1
    load = loads[0]
    assert load.entity_id == f"Area:{demo.city_id}"
    counts = await table_counts(session)
    for table in ("areas", "area_neighbors", "organizations", "organization_service_areas"):
        assert load.summary["counts"][table] == counts[table], table
    assert load.summary["counts"]["organization_links"] == counts["organization_links"]
    assert load.summary["counts"]["organizations_by_kind"] == dict(demo.organizations_by_kind)

    # and every row with an id lies in the entry's runs; rows keyed by others' ids point at them
    runs = load.summary["ids"]
    for table in (
        "areas",
        "organizations",
        "organization_links",
        "joint_meetings",
        "joint_meeting_members",
        "convener_rotations",
        "meeting_sessions",
        "agreements",
        "agreement_commitments",
        "service_activities",
    ):
        ids = [r[0] for r in await rows(session, f"SELECT id FROM {table}")]
        assert ids, table
        assert all(within(pk, runs[table]) for pk in ids), table
    for table in ("joint_meetings", "agreements", "service_activities"):
        assert load.summary["counts"][table] == await scalar(
            session, f"SELECT count(*) FROM {table}"
        )
    neighbours = await rows(session, "SELECT area_id, neighbor_id FROM area_neighbors")
    assert all(within(a, runs["areas"]) and within(b, runs["areas"]) for a, b in neighbours)
    served = await rows(session, "SELECT organization_id, area_id FROM organization_service_areas")
    assert all(within(o, runs["organizations"]) and within(a, runs["areas"]) for o, a in served)

    # and each demo account has its own createUser entry; the chain verifies
    users = await rows(session, "SELECT id FROM users")
    created = {e.entity_id for e in entries if e.action == "createUser"}
    assert created == {f"User:{u.id}" for u in users}
    assert len(created) == len(emails)
    assert (await verify_chain(session)).valid
