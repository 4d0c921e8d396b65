"""Spreadsheet imports through the service: a clean import, one problem of each kind reported at
its cell, all or nothing, a second import changing nothing, scope, and GBK-encoded CSV."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import select, text

from gridweave.db import Sessionmaker
from gridweave.errors import Forbidden
from gridweave.models import Area, AuditEntry, Organization
from gridweave.services.access import Actor
from gridweave.services.validation import credit_code_check_char
from tests.factories import admin_actor, coordinator_of, make_area, make_org, member_of
from tests.snapshot import snapshot_of
from tests.spreadsheets import csv_bytes, import_file, problems, xlsx

TABLES = ("areas", "organizations", "organization_service_areas", "audit_log")


def credit(first17: str) -> str:
    return first17 + credit_code_check_char(first17)


CODE_A = credit("52510115MJ0000001")
CODE_B = credit("91510115MA6000002")


@dataclass
class World:
    city: Area
    street: Area
    other_street: Area
    coordinator: Actor
    admin: Actor


@pytest.fixture
async def world(sessionmaker: Sessionmaker) -> World:
    city = await make_area(sessionmaker, level="CITY", name="雅安市", code="C1")
    district = await make_area(sessionmaker, level="DISTRICT", parent=city, code="D1")
    street = await make_area(
        sessionmaker, level="STREET", parent=district, code="S1", name="华阳街道"
    )
    other = await make_area(sessionmaker, level="STREET", parent=district, code="S2")
    return World(
        city,
        street,
        other,
        await coordinator_of(sessionmaker, street),
        await admin_actor(sessionmaker),
    )


def good_book() -> bytes:
    return xlsx(
        areas=[
            ["S1-C01", "阳光社区", "社区", "S1", 1200, 3500, 35, 12, 8, 20, 300],
            ["S1-C01-G01", "阳光社区第一网格", "网格", "S1-C01", 300, 900],
            ["S1-C01-G02", "阳光社区第二网格", "GRID", "S1-C01", 280, None, 4],
        ],
        organizations=[
            ["阳光社区党委", "党组织", None, "S1-C01", None, None],
            ["第一网格党支部", "党组织", None, "S1-C01-G01", "阳光社区党委", "S1-C01"],
            ["阳光志愿服务队", "志愿服务队", CODE_A, "S1-C01", "阳光社区党委", None],
            ["华阳物业公司", "CO_RESIDENT_UNIT", CODE_B, "S1", None, None],
        ],
        service_areas=[
            ["阳光志愿服务队", "S1-C01", None, "S1-C01-G01", "养老服务"],
            [None, None, CODE_A, "S1-C01-G02", "养老服务、医疗健康"],
            ["第一网格党支部", "S1-C01-G01", None, "S1-C01-G01", "elderly_care"],
        ],
    )


async def test_a_clean_import_writes_everything_and_one_ledger_entry(
    sessionmaker: Sessionmaker, world: World
) -> None:
    result = await import_file(sessionmaker, world.coordinator, good_book())

    assert result.problems == []
    assert result.status == "applied"
    assert result.counts["areas"] == {"created": 3, "updated": 0, "unchanged": 0}
    assert result.counts["organizations"] == {"created": 4, "updated": 0, "unchanged": 0}
    assert result.counts["service_areas"]["added"] == 4
    async with sessionmaker() as s:
        areas = {a.code: a for a in (await s.scalars(select(Area))).all()}
        community, grid = areas["S1-C01"], areas["S1-C01-G01"]
        assert (community.level, community.parent_id) == ("COMMUNITY", world.street.id)
        assert community.path == f"{world.street.path}{community.id}/"
        assert grid.path == f"{community.path}{grid.id}/"
        assert (community.households, community.elderly_living_alone) == (1200, 35)
        assert areas["S1-C01-G02"].disabled_households == 0
        assert areas["S1-C01-G02"].elderly_living_alone == 4
        orgs = {o.name: o for o in (await s.scalars(select(Organization))).all()}
        committee = orgs["阳光社区党委"]
        assert orgs["第一网格党支部"].parent_id == committee.id
        assert orgs["第一网格党支部"].area_path == grid.path
        assert orgs["阳光志愿服务队"].parent_id == committee.id
        assert orgs["阳光志愿服务队"].credit_code == CODE_A
        assert orgs["华阳物业公司"].kind == "CO_RESIDENT_UNIT"
        served = (
            await s.execute(
                text(
                    "SELECT o.name, a.code, c.code FROM organization_service_areas s"
                    " JOIN organizations o ON o.id = s.organization_id"
                    " JOIN areas a ON a.id = s.area_id"
                    " JOIN service_categories c ON c.id = s.category_id ORDER BY 1, 2, 3"
                )
            )
        ).all()
        assert [tuple(r) for r in served] == [
            ("第一网格党支部", "S1-C01-G01", "elderly_care"),
            ("阳光志愿服务队", "S1-C01-G01", "elderly_care"),
            ("阳光志愿服务队", "S1-C01-G02", "elderly_care"),
            ("阳光志愿服务队", "S1-C01-G02", "health"),
        ]
        entries = (await s.scalars(select(AuditEntry))).all()
    assert [e.action for e in entries] == ["importSpreadsheet"]
    summary = entries[0].summary
    assert summary["areas"]["created"] == 3
    assert sorted(summary["areas"]["created_ids"]) == sorted(
        a.id for c, a in areas.items() if c.startswith("S1-")
    )
    assert sorted(summary["organizations"]["created_ids"]) == sorted(o.id for o in orgs.values())
    assert summary["service_areas"]["added"] == 4
    assert entries[0].actor_id == world.coordinator.user_id


async def test_a_dry_run_reports_each_problem_at_its_row_and_column_and_writes_nothing(
    sessionmaker: Sessionmaker, world: World
) -> None:
    await make_org(sessionmaker, area=world.street, name="已有组织")
    bad_code = CODE_A[:-1] + ("0" if CODE_A[-1] != "0" else "1")
    data = xlsx(
        areas=[
            ["S1-C01", "阳光社区", "社区", "S1"],
            ["S1-X", "孤儿社区", "社区", "NO-SUCH-CODE"],  # row 3: unknown parent code
            ["C1-G", "城里的网格", "网格", "C1"],  # row 4: a GRID under a CITY
            ["S1-C02", "负数社区", "社区", "S1", -5],  # row 5: a negative count
        ],
        organizations=[
            ["好组织", "社会组织", bad_code, "S1-C01"],  # row 2: bad check character
            ["同名组织", "社会组织", None, "S1-C01"],
            ["同名组织", "志愿服务队", None, "S1-C01"],  # row 4: duplicate name in one area
        ],
    )
    before = await snapshot_of(sessionmaker, TABLES)

    result = await import_file(sessionmaker, world.admin, data, dry_run=True)

    assert result.status == "refused"
    assert problems(result) == [
        ("区域", 3, "D 上级区域编码"),
        ("区域", 4, "C 层级"),
        ("区域", 5, "E 户数"),
        ("组织", 2, "C 统一社会信用代码"),
        ("组织", 4, "A 组织名称"),
    ]
    messages = [p.message for p in result.problems]
    assert "NO-SUCH-CODE" in messages[0]
    assert "GRID cannot sit under a CITY" in messages[1]
    assert "negative" in messages[2]
    assert "check character" in messages[3]
    assert "Two organizations named 同名组织" in messages[4]
    assert await snapshot_of(sessionmaker, TABLES) == before


async def test_one_problem_refuses_the_whole_file(sessionmaker: Sessionmaker, world: World) -> None:
    data = xlsx(
        areas=[["S1-C01", "阳光社区", "社区", "S1"], ["S1-C02", "和平社区", "社区", "S1"]],
        organizations=[
            ["阳光社区党委", "党组织", None, "S1-C01"],
            ["无名类型", "不知道", None, "S1-C02"],  # row 3: unknown kind
        ],
    )
    before = await snapshot_of(sessionmaker, TABLES)

    result = await import_file(sessionmaker, world.coordinator, data)

    assert result.status == "refused"
    assert problems(result) == [("组织", 3, "B 组织类型")]
    assert await snapshot_of(sessionmaker, TABLES) == before


async def test_importing_the_same_file_twice_changes_nothing_the_second_time(
    sessionmaker: Sessionmaker, world: World
) -> None:
    first = await import_file(sessionmaker, world.coordinator, good_book())
    assert first.status == "applied"
    after_first = await snapshot_of(sessionmaker, TABLES)

    second = await import_file(sessionmaker, world.coordinator, good_book())

    assert second.status == "applied"
    assert {o.outcome for o in second.outcomes} == {"unchanged"}
    assert second.counts["areas"] == {"created": 0, "updated": 0, "unchanged": 3}
    assert second.counts["organizations"] == {"created": 0, "updated": 0, "unchanged": 4}
    assert await snapshot_of(sessionmaker, TABLES) == after_first


async def test_changed_rows_are_matched_and_updated(
    sessionmaker: Sessionmaker, world: World
) -> None:
    await import_file(sessionmaker, world.coordinator, good_book())
    data = xlsx(
        areas=[["S1-C01", "阳光社区（新）", "社区", None, 1300]],
        organizations=[
            # matched by credit code: renamed
            ["阳光志愿者服务队", "志愿服务队", CODE_A, "S1-C01"],
            # matched by name within its home area: gains a credit code
            ["阳光社区党委", "党组织", credit("51510115MJ0000003"), "S1-C01"],
        ],
        service_areas=[[None, None, CODE_A, "S1-C01-G01", "养老服务"]],
    )

    result = await import_file(sessionmaker, world.coordinator, data)

    assert result.problems == []
    assert result.counts["areas"] == {"created": 0, "updated": 1, "unchanged": 0}
    assert result.counts["organizations"] == {"created": 0, "updated": 2, "unchanged": 0}
    assert result.counts["service_areas"] == {
        "organizations": 1,
        "changed": 1,
        "added": 0,
        "removed": 2,
    }
    async with sessionmaker() as s:
        community = await s.scalar(select(Area).where(Area.code == "S1-C01"))
        assert community is not None
        assert (community.name, community.households, community.population) == (
            "阳光社区（新）",
            1300,
            3500,
        )
        names = set((await s.scalars(select(Organization.name))).all())
        assert "阳光志愿者服务队" in names
        assert "阳光志愿服务队" not in names
        assert len(names) == 4


async def test_a_coordinator_imports_only_inside_its_subtree(
    sessionmaker: Sessionmaker, world: World
) -> None:
    data = xlsx(
        areas=[
            ["S1-C01", "阳光社区", "社区", "S1"],
            ["S2-C01", "别处社区", "社区", "S2"],  # row 3: under another street
            ["S1", "华阳街道（改名）", "街道", None],  # row 4: its own street: allowed
            ["D1", "改区名", "区县", None],  # row 5: the district above: outside
        ],
        organizations=[
            ["别处组织", "社会组织", None, "S2"],  # row 2: based outside
            ["阳光社区党委", "党组织", None, "S1-C01"],
        ],
        service_areas=[["阳光社区党委", "S1-C01", None, "S2", "养老服务"]],  # row 2: serves outside
    )
    before = await snapshot_of(sessionmaker, TABLES)

    result = await import_file(sessionmaker, world.coordinator, data)

    assert problems(result) == [
        ("区域", 3, "D 上级区域编码"),
        ("区域", 5, "A 区域编码"),
        ("组织", 2, "D 所在区域编码"),
        ("服务区域", 2, "D 服务区域编码"),
    ]
    assert all("coordinate" in p.message or "outside" in p.message for p in result.problems)
    assert await snapshot_of(sessionmaker, TABLES) == before


async def test_the_area_option_bounds_the_import_and_fills_blank_parents(
    sessionmaker: Sessionmaker, world: World
) -> None:
    data = xlsx(
        areas=[["S1-C01", "阳光社区", "社区", None]],
        organizations=[
            ["阳光社区党委", "党组织", None, None],
            ["街道组织", "社会组织", None, "S2"],
        ],
    )

    refused = await import_file(sessionmaker, world.admin, data, area_code="S1")
    fixed = xlsx(
        areas=[["S1-C01", "阳光社区", "社区", None]],
        organizations=[["阳光社区党委", "党组织", None, None]],
    )
    applied = await import_file(sessionmaker, world.admin, fixed, area_code="S1")

    assert problems(refused) == [("组织", 3, "D 所在区域编码")]
    assert "outside the import's area" in refused.problems[0].message
    assert applied.status == "applied"
    async with sessionmaker() as s:
        community = await s.scalar(select(Area).where(Area.code == "S1-C01"))
        org = await s.scalar(select(Organization).where(Organization.name == "阳光社区党委"))
    assert community is not None
    assert org is not None
    assert community.parent_id == world.street.id
    assert org.area_id == world.street.id


async def test_only_coordinators_import(sessionmaker: Sessionmaker, world: World) -> None:
    org = await make_org(sessionmaker, area=world.street)
    member = await member_of(sessionmaker, org)

    with pytest.raises(Forbidden):
        await import_file(sessionmaker, member, good_book(), dry_run=True)


async def test_a_gbk_encoded_csv_is_read(sessionmaker: Sessionmaker, world: World) -> None:
    rows = [
        ["阳光社区党委", "党组织", None, "S1"],
        ["华阳街道志愿服务队", "志愿服务队", None, "S1"],
    ]
    data = csv_bytes("organizations", rows, encoding="gbk")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")

    result = await import_file(sessionmaker, world.coordinator, data, name="组织.csv")

    assert result.problems == []
    async with sessionmaker() as s:
        names = set((await s.scalars(select(Organization.name))).all())
    assert names == {"阳光社区党委", "华阳街道志愿服务队"}


async def test_a_parent_loop_is_refused(sessionmaker: Sessionmaker, world: World) -> None:
    parent = await make_org(sessionmaker, area=world.street, name="上级")
    await make_org(sessionmaker, area=world.street, name="下级", parent=parent)
    data = xlsx(organizations=[["上级", "党组织", None, "S1", "下级", "S1"]])

    result = await import_file(sessionmaker, world.coordinator, data)

    assert problems(result) == [("组织", 2, "E 上级组织")]
    assert "loop" in result.problems[0].message
