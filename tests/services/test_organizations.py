"""Organization services called directly: profiles, credit codes, hierarchy, service areas and
links, and who may change each. A refusal writes nothing: not a row, not an audit entry."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from gridweave.db import Sessionmaker
from gridweave.errors import ErrorCode
from gridweave.models import (
    AuditEntry,
    LinkKind,
    Organization,
    OrganizationKind,
    OrganizationLink,
    OrganizationServiceArea,
    ServiceCategory,
)
from gridweave.services import organizations as svc
from gridweave.services.access import Actor
from gridweave.services.organizations import ServiceAreaSpec
from gridweave.services.validation import credit_code_check_char
from tests.factories import coordinator_of, make_area, make_org, member_of
from tests.services.helpers import Call, expect_refusal, run


def credit_code(body17: str) -> str:
    return body17 + credit_code_check_char(body17)


def wrong_check_char(body17: str) -> str:
    right = credit_code_check_char(body17)
    return body17 + ("0" if right != "0" else "1")


refused = expect_refusal


def new_org(
    actor: Actor | None,
    area_id: int,
    *,
    name: str = "某协会",
    kind: OrganizationKind = OrganizationKind.VOLUNTEER_TEAM,
    **more: Any,
) -> Call:
    """create_organization with these arguments, waiting for its session."""
    return lambda s: svc.create_organization(
        s, actor=actor, name=name, kind=kind, area_id=area_id, **more
    )


def new_link(
    actor: Actor | None, kind: LinkKind, source_id: int, target_id: int, **more: Any
) -> Call:
    """link_organizations with these arguments, waiting for its session."""
    return lambda s: svc.link_organizations(
        s, actor=actor, kind=kind, source_id=source_id, target_id=target_id, **more
    )


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
        "street": street,
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


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(wrong_check_char("91310113MA1GL2QX2"), id="wrong-check-character"),
        "12345",
        "91310113MA1GL2QXIO",
        "9131A113MA1GL2QX2X",
    ],
)
async def test_bad_credit_code_is_refused(
    sessionmaker: Sessionmaker, world: dict[str, Any], bad: str
) -> None:
    social = OrganizationKind.SOCIAL_ORGANIZATION

    error = await refused(
        sessionmaker, new_org(world["coordinator"], world["a"].id, kind=social, credit_code=bad)
    )

    assert error.code is ErrorCode.VALIDATION
    assert error.field == ["input", "creditCode"]


async def test_duplicate_credit_code_is_a_conflict(
    sessionmaker: Sessionmaker, world: dict[str, Any]
) -> None:
    # given an organization registered with a code
    code = credit_code("52310000MJ0000001")
    actor, social = world["coordinator"], OrganizationKind.SOCIAL_ORGANIZATION
    await run(
        sessionmaker, new_org(actor, world["a"].id, name="第一家", kind=social, credit_code=code)
    )

    # when a second one is registered with the same code
    error = await refused(
        sessionmaker,
        new_org(actor, world["grid_a"].id, name="第二家", kind=social, credit_code=code),
    )

    # then it is refused
    assert error.code is ErrorCode.CONFLICT
    assert error.field == ["input", "creditCode"]


async def test_unknown_category_code_names_its_position(
    sessionmaker: Sessionmaker, world: dict[str, Any]
) -> None:
    serves = [ServiceAreaSpec(world["grid_a"].id, ["elderly_care", "space_travel"])]

    error = await refused(
        sessionmaker, new_org(world["coordinator"], world["a"].id, service_areas=serves)
    )

    assert error.code is ErrorCode.VALIDATION
    assert error.field == ["input", "serviceAreas", "0", "categoryCodes", "1"]


async def test_service_area_needs_a_known_area_and_a_category(
    sessionmaker: Sessionmaker, world: dict[str, Any]
) -> None:
    actor, a = world["coordinator"], world["a"]
    unknown_area = [ServiceAreaSpec(a.id, ["health"]), ServiceAreaSpec(777_777, ["health"])]
    no_category = [ServiceAreaSpec(a.id, [])]

    unknown = await refused(sessionmaker, new_org(actor, a.id, service_areas=unknown_area))
    empty = await refused(sessionmaker, new_org(actor, a.id, service_areas=no_category))

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

    no_name = await refused(sessionmaker, new_org(actor, a.id, name="   "))
    no_area = await refused(sessionmaker, new_org(actor, 555_555, name="队"))
    no_parent = await refused(sessionmaker, new_org(actor, a.id, name="队", parent_id=555_555))

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
    # a coordinator over both ends records a link at once (one end only: see the proposals below)
    party = await make_org(sessionmaker, area=world["a"], kind="PARTY_ORGANIZATION")
    ngo = await make_org(sessionmaker, area=world["b"])
    actor = await coordinator_of(sessionmaker, world["street"])

    link = await run(
        sessionmaker,
        new_link(actor, LinkKind.GUIDES, party.id, ngo.id, since=date(2024, 3, 1)),
    )
    assert (link.kind, link.source_id, link.target_id, link.since) == (
        "GUIDES",
        party.id,
        ngo.id,
        date(2024, 3, 1),
    )

    duplicate = await refused(sessionmaker, new_link(actor, LinkKind.GUIDES, party.id, ngo.id))
    assert duplicate.code is ErrorCode.CONFLICT

    # another kind of tie between the same two is a different link
    await run(sessionmaker, new_link(actor, LinkKind.SUPPORTS, party.id, ngo.id))
    async with sessionmaker() as s:
        kinds = (await s.scalars(select(OrganizationLink.kind).order_by(OrganizationLink.id))).all()
    assert kinds == ["GUIDES", "SUPPORTS"]


@pytest.mark.parametrize(
    ("target", "code"),
    [("itself", ErrorCode.VALIDATION), ("a missing organization", ErrorCode.NOT_FOUND)],
    ids=["itself", "a-missing-organization"],
)
async def test_link_needs_another_existing_organization(
    sessionmaker: Sessionmaker, world: dict[str, Any], target: str, code: ErrorCode
) -> None:
    org = await make_org(sessionmaker, area=world["a"])
    target_id = {"itself": org.id, "a missing organization": 31_337}[target]

    error = await refused(
        sessionmaker, new_link(world["coordinator"], LinkKind.PARTNERS, org.id, target_id)
    )

    assert (error.code, error.field) == (code, ["input", "targetId"])


async def test_member_links_from_own_organization_only(
    sessionmaker: Sessionmaker, world: dict[str, Any]
) -> None:
    own = await make_org(sessionmaker, area=world["a"])
    other = await make_org(sessionmaker, area=world["a"])
    member = await member_of(sessionmaker, own)

    await run(sessionmaker, new_link(member, LinkKind.PARTNERS, own.id, other.id))
    error = await refused(sessionmaker, new_link(member, LinkKind.PARTNERS, other.id, own.id))

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
        "create": new_org(actor, world["grid_b"].id, name="越界"),
        "update": lambda s: svc.update_organization(
            s, actor=actor, organization_id=in_b.id, name="越界"
        ),
        "move": lambda s: svc.update_organization(
            s, actor=actor, organization_id=in_b.id, parent_id=in_a.id
        ),
        "link": new_link(actor, LinkKind.SUPPORTS, in_b.id, other_b.id),
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
        "create": new_org(None, world["a"].id, name="匿名"),
        "update": lambda s: svc.update_organization(
            s, actor=None, organization_id=org.id, name="匿名"
        ),
        "link": new_link(None, LinkKind.PARTNERS, org.id, other.id),
    }

    error = await refused(sessionmaker, calls[attempt])

    assert error.code is ErrorCode.UNAUTHENTICATED
