"""Organization services called directly: profiles, credit codes, hierarchy, service areas and
links, and who may change each. A refusal writes nothing: not a row, not an audit entry."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.db import Sessionmaker, unit_of_work
from gridweave.errors import DomainError, ErrorCode
from gridweave.models import (
    Area,
    AuditEntry,
    LinkKind,
    Organization,
    OrganizationKind,
    OrganizationLink,
    OrganizationServiceArea,
    Role,
    ServiceCategory,
)
from gridweave.services import organizations as svc
from gridweave.services.access import Actor, Grant
from gridweave.services.organizations import ServiceAreaSpec
from gridweave.services.validation import credit_code_check_char
from tests.factories import make_area, make_org, make_user

Call = Callable[[AsyncSession], Awaitable[Any]]


def credit_code(body17: str) -> str:
    return body17 + credit_code_check_char(body17)


def wrong_check_char(body17: str) -> str:
    right = credit_code_check_char(body17)
    return body17 + ("0" if right != "0" else "1")


async def coordinator_of(sm: Sessionmaker, area: Area) -> Actor:
    user = await make_user(sm, "COORDINATOR", area=area)
    return Actor(user.id, (Grant(Role.COORDINATOR, area.id, area.path),))


async def member_of(sm: Sessionmaker, org: Organization) -> Actor:
    user = await make_user(sm, "ORGANIZATION_MEMBER", organization=org)
    return Actor(user.id, (Grant(Role.ORGANIZATION_MEMBER, organization_id=org.id),))


async def row_counts(s: AsyncSession) -> dict[str, int]:
    models = (Area, Organization, OrganizationServiceArea, OrganizationLink, AuditEntry)
    return {
        m.__tablename__: int(await s.scalar(select(func.count()).select_from(m)) or 0)
        for m in models
    }


async def run(sm: Sessionmaker, call: Call) -> Any:
    async with unit_of_work(sm) as s:
        return await call(s)


async def refused(sm: Sessionmaker, call: Call) -> DomainError:
    """Expect a DomainError, and no write by the refused call (checked inside its transaction)."""
    async with sm() as s, s.begin():
        before = await row_counts(s)
        with pytest.raises(DomainError) as caught:
            await call(s)
        assert await row_counts(s) == before, "a refused call wrote something"
        await s.rollback()
    return caught.value


async def stored_org(sm: Sessionmaker, org_id: int) -> Organization:
    async with sm() as s:
        org = await s.get(Organization, org_id)
        assert org is not None
        return org


async def served(sm: Sessionmaker, org_id: int) -> set[tuple[int, str]]:
    async with sm() as s:
        rows = await s.execute(
            select(OrganizationServiceArea.area_id, ServiceCategory.code)
            .join(ServiceCategory, ServiceCategory.id == OrganizationServiceArea.category_id)
            .where(OrganizationServiceArea.organization_id == org_id)
        )
        return {(a, c) for a, c in rows.all()}


@pytest.fixture
async def world(sessionmaker: Sessionmaker) -> dict[str, Any]:
    """Communities A and B under one street, a grid in each, and A's coordinator."""
    street = await make_area(sessionmaker, level="STREET")
    a = await make_area(sessionmaker, level="COMMUNITY", parent=street, name="阳光社区")
    b = await make_area(sessionmaker, level="COMMUNITY", parent=street, name="和平社区")
    return {
        "a": a,
        "b": b,
        "grid_a": await make_area(sessionmaker, level="GRID", parent=a),
        "grid_b": await make_area(sessionmaker, level="GRID", parent=b),
        "coordinator": await coordinator_of(sessionmaker, a),
    }


# ---------------------------------------------------------------- create_organization


async def test_create_organization_with_service_areas_and_credit_code(
    sessionmaker: Sessionmaker, world: dict[str, Any]
) -> None:
    # given a coordinator of community A and a valid credit code typed in lower case
    a, grid_a = world["a"], world["grid_a"]
    code = credit_code("91310113MA1GL2QX2")

    # when they register a social organization serving A's grid and A itself
    org = await run(
        sessionmaker,
        lambda s: svc.create_organization(
            s,
            actor=world["coordinator"],
            name=" 阳光 志愿者协会 ",
            kind=OrganizationKind.SOCIAL_ORGANIZATION,
            area_id=a.id,
            credit_code=code.lower(),
            service_areas=[
                ServiceAreaSpec(grid_a.id, ["elderly_care", "health", "elderly_care"]),
                ServiceAreaSpec(a.id, ["volunteering"]),
            ],
        ),
    )

    # then the profile, normalised code, area path and service areas are stored, and audited
    stored = await stored_org(sessionmaker, org.id)
    assert (stored.name, stored.kind, stored.credit_code) == (
        "阳光 志愿者协会",
        "SOCIAL_ORGANIZATION",
        code,
    )
    assert (stored.area_id, stored.area_path) == (a.id, a.path)
    assert await served(sessionmaker, org.id) == {
        (grid_a.id, "elderly_care"),
        (grid_a.id, "health"),
        (a.id, "volunteering"),
    }
    async with sessionmaker() as s:
        entry = await s.scalar(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1))
    assert entry is not None
    assert (entry.action, entry.entity_id) == ("createOrganization", f"Organization:{org.id}")


async def test_credit_code_with_a_wrong_check_character_is_refused(
    sessionmaker: Sessionmaker, world: dict[str, Any]
) -> None:
    error = await refused(
        sessionmaker,
        lambda s: svc.create_organization(
            s,
            actor=world["coordinator"],
            name="某协会",
            kind=OrganizationKind.SOCIAL_ORGANIZATION,
            area_id=world["a"].id,
            credit_code=wrong_check_char("91310113MA1GL2QX2"),
        ),
    )

    assert error.code is ErrorCode.VALIDATION
    assert error.field == ["input", "creditCode"]


@pytest.mark.parametrize("bad", ["12345", "91310113MA1GL2QXIO", "9131A113MA1GL2QX2X"])
async def test_malformed_credit_code_is_refused(
    sessionmaker: Sessionmaker, world: dict[str, Any], bad: str
) -> None:
    error = await refused(
        sessionmaker,
        lambda s: svc.create_organization(
            s,
            actor=world["coordinator"],
            name="某协会",
            kind=OrganizationKind.SOCIAL_ORGANIZATION,
            area_id=world["a"].id,
            credit_code=bad,
        ),
    )

    assert error.code is ErrorCode.VALIDATION
    assert error.field == ["input", "creditCode"]


async def test_duplicate_credit_code_is_a_conflict(
    sessionmaker: Sessionmaker, world: dict[str, Any]
) -> None:
    code = credit_code("52310000MJ0000001")
    actor = world["coordinator"]
    await run(
        sessionmaker,
        lambda s: svc.create_organization(
            s,
            actor=actor,
            name="第一家",
            kind=OrganizationKind.SOCIAL_ORGANIZATION,
            area_id=world["a"].id,
            credit_code=code,
        ),
    )

    error = await refused(
        sessionmaker,
        lambda s: svc.create_organization(
            s,
            actor=actor,
            name="第二家",
            kind=OrganizationKind.SOCIAL_ORGANIZATION,
            area_id=world["grid_a"].id,
            credit_code=code,
        ),
    )

    assert error.code is ErrorCode.CONFLICT
    assert error.field == ["input", "creditCode"]


async def test_unknown_category_code_names_its_position(
    sessionmaker: Sessionmaker, world: dict[str, Any]
) -> None:
    error = await refused(
        sessionmaker,
        lambda s: svc.create_organization(
            s,
            actor=world["coordinator"],
            name="某协会",
            kind=OrganizationKind.VOLUNTEER_TEAM,
            area_id=world["a"].id,
            service_areas=[ServiceAreaSpec(world["grid_a"].id, ["elderly_care", "space_travel"])],
        ),
    )

    assert error.code is ErrorCode.VALIDATION
    assert error.field == ["input", "serviceAreas", "0", "categoryCodes", "1"]


async def test_service_area_needs_a_known_area_and_a_category(
    sessionmaker: Sessionmaker, world: dict[str, Any]
) -> None:
    actor, a = world["coordinator"], world["a"]

    unknown = await refused(
        sessionmaker,
        lambda s: svc.create_organization(
            s,
            actor=actor,
            name="某协会",
            kind=OrganizationKind.VOLUNTEER_TEAM,
            area_id=a.id,
            service_areas=[ServiceAreaSpec(a.id, ["health"]), ServiceAreaSpec(777_777, ["health"])],
        ),
    )
    empty = await refused(
        sessionmaker,
        lambda s: svc.create_organization(
            s,
            actor=actor,
            name="某协会",
            kind=OrganizationKind.VOLUNTEER_TEAM,
            area_id=a.id,
            service_areas=[ServiceAreaSpec(a.id, [])],
        ),
    )

    assert (unknown.code, unknown.field) == (
        ErrorCode.NOT_FOUND,
        ["input", "serviceAreas", "1", "areaId"],
    )
    assert (empty.code, empty.field) == (
        ErrorCode.VALIDATION,
        ["input", "serviceAreas", "0", "categoryCodes"],
    )


async def test_create_organization_checks_name_area_and_parent(
    sessionmaker: Sessionmaker, world: dict[str, Any]
) -> None:
    actor, a = world["coordinator"], world["a"]

    no_name = await refused(
        sessionmaker,
        lambda s: svc.create_organization(
            s, actor=actor, name="   ", kind=OrganizationKind.VOLUNTEER_TEAM, area_id=a.id
        ),
    )
    no_area = await refused(
        sessionmaker,
        lambda s: svc.create_organization(
            s, actor=actor, name="队", kind=OrganizationKind.VOLUNTEER_TEAM, area_id=555_555
        ),
    )
    no_parent = await refused(
        sessionmaker,
        lambda s: svc.create_organization(
            s,
            actor=actor,
            name="队",
            kind=OrganizationKind.VOLUNTEER_TEAM,
            area_id=a.id,
            parent_id=555_555,
        ),
    )

    assert (no_name.code, no_name.field) == (ErrorCode.VALIDATION, ["input", "name"])
    assert (no_area.code, no_area.field) == (ErrorCode.NOT_FOUND, ["input", "areaId"])
    assert (no_parent.code, no_parent.field) == (ErrorCode.NOT_FOUND, ["input", "parentId"])


# ---------------------------------------------------------------- update_organization


async def test_update_replaces_service_areas_and_clears_credit_code(
    sessionmaker: Sessionmaker, world: dict[str, Any]
) -> None:
    a, grid_a = world["a"], world["grid_a"]
    org = await make_org(sessionmaker, area=a, serves={grid_a.id: ["health"]})

    await run(
        sessionmaker,
        lambda s: svc.update_organization(
            s,
            actor=world["coordinator"],
            organization_id=org.id,
            name="新名字",
            credit_code=credit_code("91310113MA1GL2QX2"),
            service_areas=[ServiceAreaSpec(a.id, ["legal_aid"])],
        ),
    )
    assert await served(sessionmaker, org.id) == {(a.id, "legal_aid")}
    assert (await stored_org(sessionmaker, org.id)).name == "新名字"

    await run(
        sessionmaker,
        lambda s: svc.update_organization(
            s, actor=world["coordinator"], organization_id=org.id, credit_code="", service_areas=[]
        ),
    )
    stored = await stored_org(sessionmaker, org.id)
    assert stored.credit_code is None
    assert stored.name == "新名字"
    assert await served(sessionmaker, org.id) == set()


async def test_parent_cycles_are_refused(sessionmaker: Sessionmaker, world: dict[str, Any]) -> None:
    # given A is the parent of B, and B the parent of C
    a_org = await make_org(sessionmaker, area=world["a"], kind="PARTY_ORGANIZATION")
    b_org = await make_org(sessionmaker, area=world["a"], kind="PARTY_ORGANIZATION", parent=a_org)
    c_org = await make_org(sessionmaker, area=world["a"], kind="PARTY_ORGANIZATION", parent=b_org)
    actor = world["coordinator"]

    # when B, C or A itself would become A's parent, then it is refused
    for new_parent in (b_org, c_org, a_org):
        error = await refused(
            sessionmaker,
            lambda s, p=new_parent: svc.update_organization(
                s, actor=actor, organization_id=a_org.id, parent_id=p.id
            ),
        )
        assert error.code is ErrorCode.VALIDATION
        assert error.field == ["input", "parentId"]

    # while moving C directly under A is fine
    await run(
        sessionmaker,
        lambda s: svc.update_organization(
            s, actor=actor, organization_id=c_org.id, parent_id=a_org.id
        ),
    )
    assert (await stored_org(sessionmaker, c_org.id)).parent_id == a_org.id


async def test_member_updates_own_organization_only(
    sessionmaker: Sessionmaker, world: dict[str, Any]
) -> None:
    own = await make_org(sessionmaker, area=world["a"], name="自己的")
    other = await make_org(sessionmaker, area=world["a"], name="别人的")
    committee = await make_org(sessionmaker, area=world["a"], kind="PARTY_ORGANIZATION")
    member = await member_of(sessionmaker, own)

    # a member may rename their own organization
    await run(
        sessionmaker,
        lambda s: svc.update_organization(
            s,
            actor=member,
            organization_id=own.id,
            name="改过的",
            service_areas=[ServiceAreaSpec(world["grid_a"].id, ["culture_sports"])],
        ),
    )
    assert (await stored_org(sessionmaker, own.id)).name == "改过的"

    # but not another organization
    error = await refused(
        sessionmaker,
        lambda s: svc.update_organization(s, actor=member, organization_id=other.id, name="抢过来"),
    )
    assert error.code is ErrorCode.FORBIDDEN

    # nor move their own organization under a parent
    error = await refused(
        sessionmaker,
        lambda s: svc.update_organization(
            s, actor=member, organization_id=own.id, parent_id=committee.id
        ),
    )
    assert (error.code, error.field) == (ErrorCode.FORBIDDEN, ["input", "parentId"])
    assert (await stored_org(sessionmaker, own.id)).parent_id is None


# ---------------------------------------------------------------- link_organizations


async def test_link_organizations_records_the_tie_once(
    sessionmaker: Sessionmaker, world: dict[str, Any]
) -> None:
    party = await make_org(sessionmaker, area=world["a"], kind="PARTY_ORGANIZATION")
    ngo = await make_org(sessionmaker, area=world["b"])
    actor = world["coordinator"]

    link = await run(
        sessionmaker,
        lambda s: svc.link_organizations(
            s,
            actor=actor,
            kind=LinkKind.GUIDES,
            source_id=party.id,
            target_id=ngo.id,
            since=date(2024, 3, 1),
        ),
    )
    assert (link.kind, link.source_id, link.target_id, link.since) == (
        "GUIDES",
        party.id,
        ngo.id,
        date(2024, 3, 1),
    )

    duplicate = await refused(
        sessionmaker,
        lambda s: svc.link_organizations(
            s, actor=actor, kind=LinkKind.GUIDES, source_id=party.id, target_id=ngo.id
        ),
    )
    assert duplicate.code is ErrorCode.CONFLICT

    # another kind of tie between the same two is a different link
    await run(
        sessionmaker,
        lambda s: svc.link_organizations(
            s, actor=actor, kind=LinkKind.SUPPORTS, source_id=party.id, target_id=ngo.id
        ),
    )
    async with sessionmaker() as s:
        kinds = (await s.scalars(select(OrganizationLink.kind).order_by(OrganizationLink.id))).all()
    assert kinds == ["GUIDES", "SUPPORTS"]


async def test_self_link_is_refused(sessionmaker: Sessionmaker, world: dict[str, Any]) -> None:
    org = await make_org(sessionmaker, area=world["a"])

    error = await refused(
        sessionmaker,
        lambda s: svc.link_organizations(
            s,
            actor=world["coordinator"],
            kind=LinkKind.PARTNERS,
            source_id=org.id,
            target_id=org.id,
        ),
    )

    assert (error.code, error.field) == (ErrorCode.VALIDATION, ["input", "targetId"])


async def test_link_to_a_missing_organization_is_not_found(
    sessionmaker: Sessionmaker, world: dict[str, Any]
) -> None:
    org = await make_org(sessionmaker, area=world["a"])

    error = await refused(
        sessionmaker,
        lambda s: svc.link_organizations(
            s,
            actor=world["coordinator"],
            kind=LinkKind.PARTNERS,
            source_id=org.id,
            target_id=31_337,
        ),
    )

    assert (error.code, error.field) == (ErrorCode.NOT_FOUND, ["input", "targetId"])


async def test_member_links_from_own_organization_only(
    sessionmaker: Sessionmaker, world: dict[str, Any]
) -> None:
    own = await make_org(sessionmaker, area=world["a"])
    other = await make_org(sessionmaker, area=world["a"])
    member = await member_of(sessionmaker, own)

    await run(
        sessionmaker,
        lambda s: svc.link_organizations(
            s, actor=member, kind=LinkKind.PARTNERS, source_id=own.id, target_id=other.id
        ),
    )
    error = await refused(
        sessionmaker,
        lambda s: svc.link_organizations(
            s, actor=member, kind=LinkKind.PARTNERS, source_id=other.id, target_id=own.id
        ),
    )

    assert error.code is ErrorCode.FORBIDDEN


# ---------------------------------------------------------------- authorization across areas


@pytest.mark.parametrize("attempt", ["create", "update", "move", "link"])
async def test_coordinator_of_a_is_forbidden_in_b(
    sessionmaker: Sessionmaker, world: dict[str, Any], attempt: str
) -> None:
    # given organizations based in community B
    in_b = await make_org(sessionmaker, area=world["grid_b"], name="和平志愿队")
    other_b = await make_org(sessionmaker, area=world["b"])
    in_a = await make_org(sessionmaker, area=world["a"])
    actor: Actor = world["coordinator"]
    calls: dict[str, Call] = {
        "create": lambda s: svc.create_organization(
            s,
            actor=actor,
            name="越界",
            kind=OrganizationKind.VOLUNTEER_TEAM,
            area_id=world["grid_b"].id,
        ),
        "update": lambda s: svc.update_organization(
            s, actor=actor, organization_id=in_b.id, name="越界"
        ),
        "move": lambda s: svc.update_organization(
            s, actor=actor, organization_id=in_b.id, parent_id=in_a.id
        ),
        "link": lambda s: svc.link_organizations(
            s, actor=actor, kind=LinkKind.SUPPORTS, source_id=in_b.id, target_id=other_b.id
        ),
    }

    # when A's coordinator acts on B, then it is forbidden and nothing changed
    error = await refused(sessionmaker, calls[attempt])

    assert error.code is ErrorCode.FORBIDDEN
    stored = await stored_org(sessionmaker, in_b.id)
    assert (stored.name, stored.parent_id) == ("和平志愿队", None)


@pytest.mark.parametrize("attempt", ["create", "update", "link"])
async def test_anonymous_caller_must_sign_in(
    sessionmaker: Sessionmaker, world: dict[str, Any], attempt: str
) -> None:
    org = await make_org(sessionmaker, area=world["a"])
    other = await make_org(sessionmaker, area=world["a"])
    calls: dict[str, Call] = {
        "create": lambda s: svc.create_organization(
            s, actor=None, name="匿名", kind=OrganizationKind.VOLUNTEER_TEAM, area_id=world["a"].id
        ),
        "update": lambda s: svc.update_organization(
            s, actor=None, organization_id=org.id, name="匿名"
        ),
        "link": lambda s: svc.link_organizations(
            s, actor=None, kind=LinkKind.PARTNERS, source_id=org.id, target_id=other.id
        ),
    }

    error = await refused(sessionmaker, calls[attempt])

    assert error.code is ErrorCode.UNAUTHENTICATED
