"""The coverage service on real PostgreSQL: the facts loaded in a few queries give the gaps a
coordinator would list by hand; scope and every argument are checked."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import text

from gridweave.db import Sessionmaker, unit_of_work
from gridweave.errors import DomainError, ErrorCode
from gridweave.graph.coverage import GapKind, Rules
from gridweave.models import Area, Role
from gridweave.services import coverage as svc
from gridweave.services.access import Actor, Grant
from gridweave.services.calendar import today
from gridweave.settings import Settings
from tests.coverage_town import make_town
from tests.factories import admin_actor, coordinator_of, make_area, make_org, make_user, member_of

K = GapKind


async def report(
    sm: Sessionmaker, settings: Settings, actor: Actor | None, area: Area, **kw: object
) -> svc.CoverageReport:
    async with sm() as s:
        return await svc.coverage_report(s, actor=actor, settings=settings, area_id=area.id, **kw)  # type: ignore[arg-type]


async def test_a_town_shows_every_gap_a_coordinator_would_list(
    sessionmaker: Sessionmaker, settings: Settings
) -> None:
    town = await make_town(sessionmaker)
    actor = await coordinator_of(sessionmaker, town.community)
    got = await report(
        sessionmaker, settings, actor, town.community, category_codes=["elderly_care"], max_hops=1
    )
    g1, g2, g3 = (g.id for g in town.grids)
    found = sorted(
        (g.kind.value, g.area_id, g.organization_id, g.severity) for g in got.result.gaps
    )
    assert found == sorted(
        [
            ("NO_PROVIDER", g3, None, 100.0),  # two hops from P
            ("SINGLE_PROVIDER", g1, town.provider.id, 100.0),
            ("SINGLE_PROVIDER", g2, town.provider.id, 100.0),
            # nothing recorded all year: the yearly visit rule fails in every grid
            ("INSUFFICIENT_ACTIVITY", g1, None, 100.0),
            ("INSUFFICIENT_ACTIVITY", g2, None, 100.0),
            ("INSUFFICIENT_ACTIVITY", g3, None, 100.0),
            ("NO_AGREEMENT", town.community.id, None, 300.0),
            ("UNENGAGED_UNIT", town.community.id, town.unit.id, 300.0),
            ("NO_PARTY_GROUP", town.building.id, None, 40.0),
            # 300 households need 90 m²; 60 recorded
            ("OFFICE_SPACE_SHORT", town.community.id, None, 300.0),
        ]
    )
    (cat,) = got.result.by_category
    assert (cat.areas_total, cat.areas_covered, cat.households_uncovered) == (3, 2, 100)
    no_agreement = next(g for g in got.result.gaps if g.kind is K.NO_AGREEMENT)
    assert no_agreement.suggestions == (town.unit.id,)


async def test_activities_meetings_and_agreements_close_or_open_gaps(
    sessionmaker: Sessionmaker, settings: Settings
) -> None:
    town = await make_town(sessionmaker)
    actor = await admin_actor(sessionmaker)
    day = today()
    async with unit_of_work(sessionmaker) as s:
        # a visit last week in G1 (the yearly rule is met there) and one in building B (G3)
        for area in (town.grids[0], town.building):
            await s.execute(
                text(
                    "INSERT INTO service_activities (organization_id, area_id, area_path,"
                    " category_id, occurred_on, hours, beneficiaries, source)"
                    " VALUES (:o, :a, :p, 1, :d, 2, 3, 'RECORDED')"
                ),
                {"o": town.provider.id, "a": area.id, "p": area.path, "d": day - timedelta(days=7)},
            )
        # the unit signs an agreement asking 5 activities a quarter (it has done none), and a
        # joint meeting of U that has never sat
        await s.execute(
            text(
                "INSERT INTO agreements (title, community_id, community_path, partner_id,"
                " starts_on, ends_on, min_activities_per_quarter) VALUES ('共建', :c, :p, :u, :s,"
                " :e, 5)"
            ),
            {
                "c": town.community.id,
                "p": town.community.path,
                "u": town.unit.id,
                "s": day - timedelta(days=400),
                "e": day + timedelta(days=400),
            },
        )
        meeting = await s.scalar(
            text(
                "INSERT INTO joint_meetings (name, area_id, area_path, rotation_period, starts_on)"
                " VALUES ('联席会议', :a, :p, 'QUARTER', :s) RETURNING id"
            ),
            {"a": town.community.id, "p": town.community.path, "s": day - timedelta(days=400)},
        )
        await s.execute(
            text(
                "INSERT INTO joint_meeting_members (meeting_id, organization_id, joined_on)"
                " VALUES (:m, :u, :s)"
            ),
            {"m": meeting, "u": town.unit.id, "s": day - timedelta(days=400)},
        )
        await s.execute(
            text(
                "INSERT INTO convener_rotations (meeting_id, effective_from, member_ids, anchor)"
                " VALUES (:m, :s, ARRAY[CAST(:u AS bigint)], 0)"
            ),
            {"m": meeting, "u": town.unit.id, "s": day - timedelta(days=400)},
        )
    got = await report(sessionmaker, settings, actor, town.community, category_codes=[])
    kinds = {(g.kind, g.area_id, g.organization_id) for g in got.result.gaps}
    assert (K.INSUFFICIENT_ACTIVITY, town.grids[1].id, None) in kinds
    assert (K.INSUFFICIENT_ACTIVITY, town.grids[0].id, None) not in kinds
    assert (K.INSUFFICIENT_ACTIVITY, town.grids[2].id, None) not in kinds  # via building B
    assert not any(k is K.NO_AGREEMENT or k is K.UNENGAGED_UNIT for k, _, _ in kinds)
    assert (K.AGREEMENT_UNDERPERFORMING, town.community.id, town.unit.id) in kinds
    assert (K.MEETING_OVERDUE, town.community.id, town.unit.id) in kinds  # U convenes
    overdue = next(g for g in got.result.gaps if g.kind is K.MEETING_OVERDUE)
    assert "never sat" in overdue.message


async def test_a_provider_of_an_ancestor_serves_the_whole_subtree(
    sessionmaker: Sessionmaker, settings: Settings
) -> None:
    town = await make_town(sessionmaker)
    await make_org(sessionmaker, area=town.city, serves={town.city.id: ["child_care"]})
    actor = await admin_actor(sessionmaker)
    got = await report(
        sessionmaker, settings, actor, town.community, category_codes=["child_care"], max_hops=0
    )
    assert not [g for g in got.result.gaps if g.kind is K.NO_PROVIDER]
    assert len([g for g in got.result.gaps if g.kind is K.SINGLE_PROVIDER]) == 3


async def test_coverage_is_read_only_within_the_viewers_scope(
    sessionmaker: Sessionmaker, settings: Settings
) -> None:
    town = await make_town(sessionmaker)
    elsewhere = await make_area(sessionmaker, level="COMMUNITY", parent=town.city)
    outsider = await coordinator_of(sessionmaker, elsewhere)
    member = await member_of(sessionmaker, town.provider)
    auditor_user = await make_user(sessionmaker, "AUDITOR", area=town.city)
    auditor = Actor(auditor_user.id, (Grant(Role.AUDITOR, town.city.id, town.city.path),))
    for who, code in (
        (None, ErrorCode.UNAUTHENTICATED),
        (outsider, ErrorCode.FORBIDDEN),
        (member, ErrorCode.FORBIDDEN),
    ):
        with pytest.raises(DomainError) as e:
            await report(sessionmaker, settings, who, town.community)
        assert e.value.code is code
    # a coordinator of the street sees the community; an auditor of the city too
    street_path = town.community.path.rsplit("/", 2)[0] + "/"
    boss = Actor(1, (Grant(Role.COORDINATOR, town.community.parent_id, street_path),))
    assert (await report(sessionmaker, settings, boss, town.community)).area.id == town.community.id
    assert (
        await report(sessionmaker, settings, auditor, town.community)
    ).area.id == town.community.id


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"max_hops": -1}, "maxHops"),
        ({"max_hops": 6}, "maxHops"),
        ({"category_codes": ["no_such_category"]}, "categoryCodes"),
        ({"category_codes": ["elderly_care"] * 51}, "categoryCodes"),
        ({"as_of": date(1900, 1, 1)}, "asOf"),
        ({"as_of": today() + timedelta(days=1)}, "asOf"),
    ],
)
async def test_every_argument_is_bounded(
    sessionmaker: Sessionmaker, settings: Settings, kw: dict[str, object], field: str
) -> None:
    town = await make_town(sessionmaker)
    actor = await admin_actor(sessionmaker)
    with pytest.raises(DomainError) as e:
        await report(sessionmaker, settings, actor, town.community, **kw)
    assert e.value.code is ErrorCode.VALIDATION
    assert e.value.field[0] == field


async def test_the_cache_is_dropped_by_a_change_in_its_subtree(
    sessionmaker: Sessionmaker, settings: Settings
) -> None:
    town = await make_town(sessionmaker)
    actor = await admin_actor(sessionmaker)
    cache = svc.CoverageCache(4)
    kw = {"category_codes": ["elderly_care"], "max_hops": 0, "cache": cache}
    first = await report(sessionmaker, settings, actor, town.community, **kw)
    assert len([g for g in first.result.gaps if g.kind is K.NO_PROVIDER]) == 2
    # a second provider starts serving G2 and G3
    await make_org(
        sessionmaker,
        area=town.community,
        serves={town.grids[1].id: ["elderly_care"], town.grids[2].id: ["elderly_care"]},
    )
    cached = await report(sessionmaker, settings, actor, town.community, **kw)
    assert cache.hits == 1
    assert cached.data is first.data
    cache.on_change({"action": "x", "area": "/999999/"})  # elsewhere: kept
    assert (await report(sessionmaker, settings, actor, town.community, **kw)).data is first.data
    cache.on_change({"action": "updateOrganization", "area": town.grids[1].path})
    fresh = await report(sessionmaker, settings, actor, town.community, **kw)
    assert [g for g in fresh.result.gaps if g.kind is K.NO_PROVIDER] == []


def test_the_settings_defaults_are_the_rules_defaults(settings: Settings) -> None:
    got = svc.rules_from_settings(Settings(), max_hops=1)
    want = Rules(max_hops=1)
    assert (got.visit_rules, dict(got.weights), got.office_m2_per_100_households) == (
        want.visit_rules,
        dict(want.weights),
        want.office_m2_per_100_households,
    )
