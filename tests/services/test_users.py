"""User services called directly: creating users and granting roles (nobody grants a role wider
than their own), who may see whom, and sign-in with its lockout. A refused call writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from gridweave.db import Sessionmaker, unit_of_work
from gridweave.errors import DomainError, ErrorCode
from gridweave.models import Area, AuditEntry, Role, RoleGrant, SignInThrottle, User
from gridweave.security import user_id_from_token, verify_password
from gridweave.services import users as svc
from gridweave.services.access import Actor, load_actor
from gridweave.settings import Settings
from tests.factories import PASSWORD, make_chain, make_org, make_user
from tests.services.helpers import Call, expect_refusal, run

NEW_PASSWORD = "a long enough password"
refused = expect_refusal


async def load_any(sm: Sessionmaker, user_id: int) -> Actor:
    """User ``user_id`` as the services see them, with their grants loaded from the database."""
    async with sm() as s:
        return await load_actor(s, user_id)


async def actor_for(sm: Sessionmaker, role: str = "ADMIN", **kw: Any) -> Actor:
    """A new user with ``role``, as the services see them (grants loaded from the database)."""
    user = await make_user(sm, role, **kw)
    return await load_any(sm, user.id)


def new_user(actor: Actor | None, *grants: svc.GrantSpec, email: str = "new@example.org") -> Call:
    return lambda s: svc.create_user(
        s, actor=actor, email=email, display_name="新用户", password=NEW_PASSWORD, grants=grants
    )


def spec(role: Role, area: Area | None = None, org_id: int | None = None) -> svc.GrantSpec:
    return svc.GrantSpec(role, area.id if area else None, org_id)


async def grants_of(sm: Sessionmaker, user_id: int) -> list[tuple[str, int | None, int | None]]:
    async with sm() as s:
        rows = await s.scalars(select(RoleGrant).where(RoleGrant.user_id == user_id))
        return sorted((g.role, g.area_id, g.organization_id) for g in rows)


# ---------------------------------------------------------------- create_user


async def test_admin_creates_a_user_with_a_hashed_password(sessionmaker: Sessionmaker) -> None:
    admin = await actor_for(sessionmaker)

    user = await run(sessionmaker, new_user(admin, spec(Role.AUDITOR), email=" Ann@Example.org "))

    async with sessionmaker() as s:
        stored = await s.get(User, user.id)
        assert stored is not None
        assert stored.email == "Ann@Example.org"
        assert stored.password_hash != NEW_PASSWORD
        assert verify_password(stored.password_hash, NEW_PASSWORD)
        entry = await s.scalar(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1))
    assert await grants_of(sessionmaker, user.id) == [("AUDITOR", None, None)]
    assert entry is not None
    assert (entry.action, entry.entity_id, entry.actor_id) == (
        "createUser",
        f"User:{user.id}",
        admin.user_id,
    )
    assert NEW_PASSWORD not in str(entry.summary)
    assert stored.password_hash not in str(entry.summary)


async def test_coordinator_creates_users_inside_their_subtree(sessionmaker: Sessionmaker) -> None:
    _, district, street = await make_chain(sessionmaker, "CITY", "DISTRICT", "STREET")
    org = await make_org(sessionmaker, area=street)
    coordinator = await actor_for(sessionmaker, "COORDINATOR", area=district)

    user = await run(
        sessionmaker,
        new_user(
            coordinator,
            spec(Role.COORDINATOR, street),
            spec(Role.EVALUATOR, district),
            spec(Role.ORGANIZATION_MEMBER, org_id=org.id),
        ),
    )

    assert await grants_of(sessionmaker, user.id) == sorted(
        [
            ("COORDINATOR", street.id, None),
            ("EVALUATOR", district.id, None),
            ("ORGANIZATION_MEMBER", None, org.id),
        ]
    )


@pytest.mark.parametrize(
    ("role", "where", "field"),
    [
        (Role.ADMIN, None, ["input", "roles", "0", "role"]),
        (Role.COORDINATOR, None, ["input", "roles", "0", "areaId"]),
        (Role.AUDITOR, None, ["input", "roles", "0", "role"]),
        (Role.COORDINATOR, "city", ["input", "roles", "0", "areaId"]),
        (Role.EVALUATOR, "sibling", ["input", "roles", "0", "areaId"]),
        (Role.ORGANIZATION_MEMBER, "sibling", ["input", "roles", "0", "organizationId"]),
    ],
)
async def test_coordinator_never_grants_wider_than_their_own(
    sessionmaker: Sessionmaker, role: Role, where: str | None, field: list[str]
) -> None:
    # given a coordinator of one district, its city above and a sibling district beside it
    city, district = await make_chain(sessionmaker, "CITY", "DISTRICT")
    _, sibling = await make_chain(sessionmaker, "CITY", "DISTRICT")
    coordinator = await actor_for(sessionmaker, "COORDINATOR", area=district)
    area = {"city": city, "sibling": sibling}.get(where or "")
    grant = spec(role, area)
    if role is Role.ORGANIZATION_MEMBER:
        grant = spec(role, org_id=(await make_org(sessionmaker, area=sibling)).id)

    # when they try to grant ADMIN, an area-less role, or a role outside their subtree
    error = await refused(sessionmaker, new_user(coordinator, grant))

    # then it is refused, pointing at the offending part of the grant
    assert error.code is ErrorCode.FORBIDDEN
    assert error.field == field


@pytest.mark.parametrize("role", ["EVALUATOR", "AUDITOR", "ORGANIZATION_MEMBER"])
async def test_other_roles_may_not_create_users(sessionmaker: Sessionmaker, role: str) -> None:
    (city,) = await make_chain(sessionmaker, "CITY")
    org = await make_org(sessionmaker, area=city)
    actor = await actor_for(sessionmaker, role, area=city, organization=org)

    error = await refused(sessionmaker, new_user(actor, spec(Role.EVALUATOR, city)))

    assert error.code is ErrorCode.FORBIDDEN


async def test_anonymous_may_not_create_users(sessionmaker: Sessionmaker) -> None:
    error = await refused(sessionmaker, new_user(None, spec(Role.AUDITOR)))
    assert error.code is ErrorCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    ("email", "name", "password", "code", "field"),
    [
        ("not-an-email", "名", NEW_PASSWORD, ErrorCode.VALIDATION, "email"),
        ("a@b", "名", NEW_PASSWORD, ErrorCode.VALIDATION, "email"),
        ("x@example.org", "   ", NEW_PASSWORD, ErrorCode.VALIDATION, "displayName"),
        ("x@example.org", "名", "short pw", ErrorCode.VALIDATION, "password"),
        ("TAKEN@example.ORG", "名", NEW_PASSWORD, ErrorCode.CONFLICT, "email"),
    ],
)
async def test_create_user_checks_its_input(
    sessionmaker: Sessionmaker,
    email: str,
    name: str,
    password: str,
    code: ErrorCode,
    field: str,
) -> None:
    admin = await actor_for(sessionmaker)
    await make_user(sessionmaker, "AUDITOR", email="taken@example.org")

    error = await refused(
        sessionmaker,
        lambda s: svc.create_user(
            s,
            actor=admin,
            email=email,
            display_name=name,
            password=password,
            grants=[spec(Role.AUDITOR)],
        ),
    )

    assert (error.code, error.field) == (code, ["input", field])


async def test_create_user_refuses_malformed_grants(sessionmaker: Sessionmaker) -> None:
    (city,) = await make_chain(sessionmaker, "CITY")
    org = await make_org(sessionmaker, area=city)
    admin = await actor_for(sessionmaker)

    no_org = await refused(sessionmaker, new_user(admin, spec(Role.ORGANIZATION_MEMBER, city)))
    area_admin = await refused(sessionmaker, new_user(admin, spec(Role.ADMIN, city)))
    org_on_evaluator = await refused(
        sessionmaker, new_user(admin, spec(Role.EVALUATOR, None, org.id))
    )
    twice = await refused(sessionmaker, new_user(admin, spec(Role.AUDITOR), spec(Role.AUDITOR)))
    nothing = await refused(sessionmaker, new_user(admin))

    assert no_org.field == ["input", "roles", "0", "organizationId"]
    assert area_admin.field == ["input", "roles", "0", "areaId"]
    assert org_on_evaluator.field == ["input", "roles", "0", "organizationId"]
    assert (twice.code, twice.field) == (ErrorCode.CONFLICT, ["input", "roles", "1"])
    assert (nothing.code, nothing.field) == (ErrorCode.VALIDATION, ["input", "roles"])


# ---------------------------------------------------------------- grant_role


async def test_coordinator_grants_a_role_in_their_subtree(sessionmaker: Sessionmaker) -> None:
    _, district, street = await make_chain(sessionmaker, "CITY", "DISTRICT", "STREET")
    coordinator = await actor_for(sessionmaker, "COORDINATOR", area=district)
    target = await make_user(sessionmaker, "EVALUATOR", area=street)

    await run(
        sessionmaker,
        lambda s: svc.grant_role(
            s, actor=coordinator, user_id=target.id, grant=spec(Role.COORDINATOR, street)
        ),
    )

    assert await grants_of(sessionmaker, target.id) == [
        ("COORDINATOR", street.id, None),
        ("EVALUATOR", street.id, None),
    ]
    async with sessionmaker() as s:
        entry = await s.scalar(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1))
    assert entry is not None
    assert (entry.action, entry.entity_id) == ("grantRole", f"User:{target.id}")
    assert entry.summary == {"role": "COORDINATOR", "area_id": street.id, "organization_id": None}


async def test_grant_role_refusals(sessionmaker: Sessionmaker) -> None:
    city, district = await make_chain(sessionmaker, "CITY", "DISTRICT")
    coordinator = await actor_for(sessionmaker, "COORDINATOR", area=district)
    admin = await actor_for(sessionmaker)
    inside = await make_user(sessionmaker, "EVALUATOR", area=district)
    elsewhere = await make_user(sessionmaker, "EVALUATOR", area=city)

    def grant(actor: Actor | None, user_id: int, g: svc.GrantSpec) -> Call:
        return lambda s: svc.grant_role(s, actor=actor, user_id=user_id, grant=g)

    duplicate = await refused(sessionmaker, grant(admin, inside.id, spec(Role.EVALUATOR, district)))
    unseen = await refused(
        sessionmaker, grant(coordinator, elsewhere.id, spec(Role.EVALUATOR, district))
    )
    missing = await refused(sessionmaker, grant(admin, 999_999, spec(Role.AUDITOR)))
    to_self = await refused(
        sessionmaker, grant(coordinator, coordinator.user_id, spec(Role.AUDITOR, district))
    )
    admin_role = await refused(sessionmaker, grant(coordinator, inside.id, spec(Role.ADMIN)))
    by_evaluator = await refused(
        sessionmaker,
        grant(await load_any(sessionmaker, inside.id), inside.id, spec(Role.AUDITOR, district)),
    )
    anonymous = await refused(sessionmaker, grant(None, inside.id, spec(Role.AUDITOR, district)))

    assert duplicate.code is ErrorCode.CONFLICT
    # a user the coordinator cannot see looks exactly like one that does not exist
    assert (unseen.code, unseen.message) == (missing.code, missing.message)
    assert unseen.code is ErrorCode.NOT_FOUND
    assert to_self.code is ErrorCode.FORBIDDEN
    assert admin_role.code is ErrorCode.FORBIDDEN
    assert by_evaluator.code is ErrorCode.FORBIDDEN
    assert anonymous.code is ErrorCode.UNAUTHENTICATED


# ---------------------------------------------------------------- bootstrap_user


def bootstrap(name: str, role: str, area_code: str | None = None) -> Call:
    """bootstrap_user, as ``gridweave create-user`` calls it, for name@example.org."""
    return lambda s: svc.bootstrap_user(
        s,
        email=f"{name}@example.org",
        password=NEW_PASSWORD,
        role=role,
        display_name=name,
        area_code=area_code,
    )


async def test_bootstrap_user_creates_the_first_admin(sessionmaker: Sessionmaker) -> None:
    user_id = await run(sessionmaker, bootstrap("root", "admin"))

    assert await grants_of(sessionmaker, user_id) == [("ADMIN", None, None)]
    async with sessionmaker() as s:
        entry = await s.scalar(select(AuditEntry))
    assert entry is not None
    assert (entry.action, entry.actor_id, entry.summary["via"]) == ("createUser", None, "cli")


async def test_bootstrap_user_limits_a_coordinator_by_area_code(
    sessionmaker: Sessionmaker,
) -> None:
    (city,) = await make_chain(sessionmaker, "CITY")
    async with unit_of_work(sessionmaker) as s:
        (await s.get_one(Area, city.id)).code = "510100"

    user_id = await run(sessionmaker, bootstrap("c", "COORDINATOR", area_code="510100"))
    unknown = await refused(sessionmaker, bootstrap("d", "COORDINATOR", area_code="nope"))
    bad_role = await refused(sessionmaker, bootstrap("e", "KING"))

    assert await grants_of(sessionmaker, user_id) == [("COORDINATOR", city.id, None)]
    assert unknown.code is ErrorCode.NOT_FOUND
    assert bad_role.code is ErrorCode.VALIDATION


# ---------------------------------------------------------------- visibility


async def test_who_may_see_whom(sessionmaker: Sessionmaker) -> None:
    _, district, street = await make_chain(sessionmaker, "CITY", "DISTRICT", "STREET")
    _, other_district = await make_chain(sessionmaker, "CITY", "DISTRICT")
    org = await make_org(sessionmaker, area=street)
    member = await make_user(sessionmaker, "ORGANIZATION_MEMBER", organization=org)
    evaluator = await make_user(sessionmaker, "EVALUATOR", area=street)
    unlimited = await make_user(sessionmaker, "AUDITOR")
    coordinator = await actor_for(sessionmaker, "COORDINATOR", area=district)
    stranger = await actor_for(sessionmaker, "COORDINATOR", area=other_district)
    admin = await actor_for(sessionmaker)
    ids = [member.id, evaluator.id, unlimited.id, coordinator.user_id]

    async def seen_by(actor: Actor | None) -> set[int]:
        async with sessionmaker() as s:
            return set(await svc.visible_users(s, actor=actor, user_ids=ids))

    assert await seen_by(coordinator) == {member.id, evaluator.id, coordinator.user_id}
    assert await seen_by(stranger) == set()
    assert await seen_by(admin) == set(ids)
    assert await seen_by(None) == set()


# ---------------------------------------------------------------- authenticate


def strict(settings: Settings) -> Settings:
    return settings.model_copy(update={"login_max_failures": 3, "login_lockout_seconds": 60})


async def sign_in(
    sm: Sessionmaker,
    settings: Settings,
    email: str,
    password: str,
    now: datetime | None = None,
    *,
    address: str = "192.0.2.1",
) -> tuple[str, User] | DomainError:
    """One attempt from ``address`` in its own committed unit of work, as the login resolver
    runs it."""
    async with unit_of_work(sm) as s:
        try:
            return await svc.authenticate(
                s, settings=settings, email=email, password=password, address=address, now=now
            )
        except DomainError as e:
            return e


async def test_right_password_gives_a_token_for_the_user(
    sessionmaker: Sessionmaker, settings: Settings
) -> None:
    user = await make_user(sessionmaker, "AUDITOR", email="Ann@example.org")

    result = await sign_in(sessionmaker, settings, " ann@EXAMPLE.org", PASSWORD)

    assert not isinstance(result, DomainError)
    token, signed_in = result
    assert signed_in.id == user.id
    assert user_id_from_token(settings, token) == user.id


async def test_lockout_after_repeated_failures_and_its_expiry(
    sessionmaker: Sessionmaker, settings: Settings
) -> None:
    settings = strict(settings)
    user = await make_user(sessionmaker, "AUDITOR", email="ann@example.org")
    now = datetime.now(UTC)

    failures = [
        await sign_in(sessionmaker, settings, "ann@example.org", "wrong", now) for _ in range(3)
    ]
    while_locked = await sign_in(sessionmaker, settings, "ann@example.org", PASSWORD, now)
    after_expiry = await sign_in(
        sessionmaker, settings, "ann@example.org", PASSWORD, now + timedelta(seconds=61)
    )

    assert all(isinstance(f, DomainError) for f in failures)
    assert isinstance(while_locked, DomainError)
    assert (while_locked.code, while_locked.message) == (
        ErrorCode.TRY_AGAIN,
        "Too many failed sign-ins: try again in 1 minute.",
    )
    assert not isinstance(after_expiry, DomainError)
    assert after_expiry[1].id == user.id
    async with sessionmaker() as s:
        keys = (await s.scalars(select(SignInThrottle.key))).all()
    assert [k for k in keys if not k.startswith("address:")] == [], "success clears the account"


async def test_success_resets_the_failure_counter(
    sessionmaker: Sessionmaker, settings: Settings
) -> None:
    settings = strict(settings)
    await make_user(sessionmaker, "AUDITOR", email="ann@example.org")

    for _ in range(2):
        await sign_in(sessionmaker, settings, "ann@example.org", "wrong")
    await sign_in(sessionmaker, settings, "ann@example.org", PASSWORD)
    for _ in range(2):
        await sign_in(sessionmaker, settings, "ann@example.org", "wrong")
    result = await sign_in(sessionmaker, settings, "ann@example.org", PASSWORD)

    assert not isinstance(result, DomainError), "four failures in all, never three in a row"


async def test_unknown_email_is_answered_like_a_wrong_password(
    sessionmaker: Sessionmaker, settings: Settings
) -> None:
    await make_user(sessionmaker, "AUDITOR", email="ann@example.org")

    wrong = await sign_in(sessionmaker, settings, "ann@example.org", "wrong")
    unknown = await sign_in(sessionmaker, settings, "nobody@example.org", "wrong")

    assert isinstance(wrong, DomainError)
    assert isinstance(unknown, DomainError)
    assert (wrong.code, wrong.message, wrong.field) == (
        unknown.code,
        unknown.message,
        unknown.field,
    )
