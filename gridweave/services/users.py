"""People and access: accounts, role grants, sign-in with lockout, and who may see whom.

Granting follows one rule: nobody grants a role wider than their own. An ADMIN may grant anything;
a COORDINATOR may grant COORDINATOR, ORGANIZATION_MEMBER, EVALUATOR and AUDITOR only inside the
area subtrees they coordinate (never ADMIN, never an area-less grant, never to themselves); anyone
else is refused.

What the answers tell about who has an account: sign-in tells nobody (one answer for a wrong
password and an unknown email, the same throttling for both). createUser tells one thing, and
only to a caller who could create that very account: that the email is not free (unavoidable,
since the account cannot be made). Every other check comes first (signed in, may manage users,
every grant within their reach, a valid email, name and password), so nobody else learns
anything, and the answer is the same whoever holds the email: not whether that person is in the
caller's areas, nor who they are. grantRole answers NOT_FOUND for users the caller cannot see."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave import security
from gridweave.errors import (
    Conflict,
    Forbidden,
    NotFound,
    TryAgain,
    Unauthenticated,
    ValidationFailed,
)
from gridweave.models import Area, Organization, Role, RoleGrant, User
from gridweave.services import audit, throttle
from gridweave.services.access import Actor, require_actor
from gridweave.services.areas import get_area
from gridweave.services.organizations import get_organization
from gridweave.services.validation import clean_name
from gridweave.settings import Settings

log = logging.getLogger(__name__)

INPUT = "input"
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1_000
# One answer for every wrong sign-in (unknown email, wrong password), so that the answer never
# tells whether an email is registered.
LOGIN_REFUSED = "Wrong email or password."
# What createUser says about a taken email, whoever holds it: that this email cannot be used, and
# nothing about the account that has it (whether it is in the caller's areas, its roles).
EMAIL_UNAVAILABLE = (
    "This email cannot be used for a new account: if the person already has one, ask an "
    "administrator or a coordinator of their area to grant them the role."
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True, slots=True)
class GrantSpec:
    role: Role
    area_id: int | None = None
    organization_id: int | None = None


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A user with their grants and the area paths those grants reach (an area grant's own path,
    a member grant's organization's home area)."""

    user: User
    grants: tuple[RoleGrant, ...]
    scope_paths: tuple[str, ...]


# ---------------------------------------------------------------- visibility


def may_see(actor: Actor | None, record: UserRecord) -> bool:
    """Users are visible to themselves, to ADMINs and AUDITORs (who must see who changed what),
    and to coordinators of an area they reach."""
    if actor is None:
        return False
    if actor.has_role(Role.AUDITOR) or actor.user_id == record.user.id:
        return True
    return any(actor.coordinates(path) for path in record.scope_paths)


async def load_users(session: AsyncSession, user_ids: Iterable[int]) -> dict[int, UserRecord]:
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    users = (await session.scalars(select(User).where(User.id.in_(ids)))).all()
    rows = await session.execute(
        select(RoleGrant, func.coalesce(Area.path, Organization.area_path))
        .outerjoin(Area, Area.id == RoleGrant.area_id)
        .outerjoin(Organization, Organization.id == RoleGrant.organization_id)
        .where(RoleGrant.user_id.in_(ids))
        .order_by(RoleGrant.id)
    )
    grants: dict[int, list[RoleGrant]] = {}
    paths: dict[int, list[str]] = {}
    for grant, path in rows:
        grants.setdefault(grant.user_id, []).append(grant)
        if path is not None:
            paths.setdefault(grant.user_id, []).append(path)
    return {
        u.id: UserRecord(u, tuple(grants.get(u.id, ())), tuple(paths.get(u.id, ()))) for u in users
    }


async def visible_users(
    session: AsyncSession, *, actor: Actor | None, user_ids: Iterable[int]
) -> dict[int, UserRecord]:
    """The given users that ``actor`` may see; the others are simply absent."""
    if actor is None:
        return {}
    records = await load_users(session, user_ids)
    return {pk: r for pk, r in records.items() if may_see(actor, r)}


# ---------------------------------------------------------------- checks


def _require_user_manager(actor: Actor | None) -> Actor:
    actor = require_actor(actor)
    if not actor.has_role(Role.COORDINATOR):
        raise Forbidden("Only an administrator or a coordinator can manage users.")
    return actor


def _check_email(email: str, *, field: list[str]) -> str:
    value = email.strip()
    if len(value) > 254 or not _EMAIL.match(value):
        raise ValidationFailed("This is not a valid email address.", field=field)
    return value


def _check_password(password: str, *, field: list[str]) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            f"The password needs at least {MIN_PASSWORD_LENGTH} characters.", field=field
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationFailed(
            f"The password may have at most {MAX_PASSWORD_LENGTH} characters.", field=field
        )


async def _grant_scope(session: AsyncSession, spec: GrantSpec, *, field: list[str]) -> str | None:
    """Check a grant's shape; return the area path it reaches (None: everywhere)."""
    if spec.role is Role.ORGANIZATION_MEMBER:
        if spec.organization_id is None:
            raise ValidationFailed(
                "An ORGANIZATION_MEMBER grant needs an organization.",
                field=[*field, "organizationId"],
            )
        if spec.area_id is not None:
            raise ValidationFailed(
                "A member grant is limited by its organization: leave the area empty.",
                field=[*field, "areaId"],
            )
        org = await get_organization(
            session, spec.organization_id, field=[*field, "organizationId"]
        )
        return org.area_path
    if spec.organization_id is not None:
        raise ValidationFailed(
            "Only an ORGANIZATION_MEMBER grant names an organization.",
            field=[*field, "organizationId"],
        )
    if spec.area_id is None:
        return None
    if spec.role is Role.ADMIN:
        raise ValidationFailed(
            "ADMIN is not limited to an area: leave the area empty.", field=[*field, "areaId"]
        )
    return (await get_area(session, spec.area_id, field=[*field, "areaId"])).path


def _authorize_grant(actor: Actor, spec: GrantSpec, path: str | None, *, field: list[str]) -> None:
    """Nobody grants a role wider than their own."""
    if actor.is_admin:
        return
    if spec.role is Role.ADMIN:
        raise Forbidden("Only an administrator can grant ADMIN.", field=[*field, "role"])
    if spec.role is Role.AUDITOR:
        raise Forbidden(
            "Only an administrator can appoint an auditor: auditors read the whole ledger, "
            "coordinators' changes included.",
            field=[*field, "role"],
        )
    if path is None:
        raise Forbidden(
            "A coordinator's grants must be limited to an area they coordinate.",
            field=[*field, "areaId"],
        )
    if not actor.coordinates(path):
        where = "organizationId" if spec.role is Role.ORGANIZATION_MEMBER else "areaId"
        raise Forbidden("You do not coordinate this area.", field=[*field, where])


async def _check_grants(
    session: AsyncSession, actor: Actor, specs: Sequence[GrantSpec], *, field: list[str]
) -> None:
    seen: set[GrantSpec] = set()
    for i, spec in enumerate(specs):
        at = [*field, str(i)]
        _authorize_grant(actor, spec, await _grant_scope(session, spec, field=at), field=at)
        if spec in seen:
            raise Conflict("This role is listed twice.", field=at)
        seen.add(spec)


def _same_grant(row: RoleGrant, spec: GrantSpec) -> bool:
    return (row.role, row.area_id, row.organization_id) == (
        spec.role.value,
        spec.area_id,
        spec.organization_id,
    )


def _grant_summary(spec: GrantSpec) -> dict[str, Any]:
    return {
        "role": spec.role.value,
        "area_id": spec.area_id,
        "organization_id": spec.organization_id,
    }


# ---------------------------------------------------------------- writes


async def _new_user(
    session: AsyncSession,
    *,
    email: str,
    display_name: str,
    password: str,
    field: list[str],
    actor: Actor | None = None,
) -> User:
    """Validate and insert a user (no grants); the password is hashed in a worker thread.

    Whether the email is free is the last thing checked, after every other check of the call,
    and a taken one gets ``EMAIL_UNAVAILABLE`` whoever holds it (see the module docstring)."""
    email = _check_email(email, field=[*field, "email"])
    name = clean_name(display_name, field=[*field, "displayName"])
    _check_password(password, field=[*field, "password"])
    taken = await session.scalar(select(User.id).where(func.lower(User.email) == email.lower()))
    if taken is not None:
        # Logged (without the email) so that someone trying many emails leaves a trace.
        log.info("createUser refused a taken email (caller %s)", actor.user_id if actor else None)
        raise Conflict(EMAIL_UNAVAILABLE, field=[*field, "email"])
    password_hash = await anyio.to_thread.run_sync(security.hash_password, password)
    user = User(email=email, display_name=name, password_hash=password_hash)
    session.add(user)
    await session.flush()
    return user


def _add_grant(session: AsyncSession, user_id: int, spec: GrantSpec) -> None:
    session.add(
        RoleGrant(
            user_id=user_id,
            role=spec.role.value,
            area_id=spec.area_id,
            organization_id=spec.organization_id,
        )
    )


async def bootstrap_user(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    role: str,
    display_name: str,
    area_code: str | None = None,
) -> int:
    """Create a user from the shell (``gridweave create-user``): no actor, so no role check."""
    try:
        spec_role = Role(role.strip().upper())
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise ValidationFailed(
            f"Unknown role {role!r}: use one of {names}.", field=["role"]
        ) from None
    if spec_role is Role.ORGANIZATION_MEMBER:
        raise ValidationFailed(
            "An organization member needs an organization: create them with createUser.",
            field=["role"],
        )
    area_id = None
    if area_code:
        area_id = await session.scalar(select(Area.id).where(Area.code == area_code.strip()))
        if area_id is None:
            raise NotFound(f"No area has the code {area_code}.", field=["areaCode"])
    spec = GrantSpec(role=spec_role, area_id=area_id)
    await _grant_scope(session, spec, field=["grant"])
    user = await _new_user(
        session, email=email, display_name=display_name, password=password, field=[]
    )
    _add_grant(session, user.id, spec)
    summary = {
        "email": user.email,
        "display_name": user.display_name,
        "roles": [_grant_summary(spec)],
        "via": "cli",
    }
    await audit.record(session, None, "createUser", f"User:{user.id}", summary)
    return user.id


async def create_user(
    session: AsyncSession,
    *,
    actor: Actor | None,
    email: str,
    display_name: str,
    password: str,
    grants: Sequence[GrantSpec],
) -> User:
    actor = _require_user_manager(actor)
    if not grants:
        raise ValidationFailed("Give the new user at least one role.", field=[INPUT, "roles"])
    await _check_grants(session, actor, grants, field=[INPUT, "roles"])
    user = await _new_user(
        session,
        email=email,
        display_name=display_name,
        password=password,
        field=[INPUT],
        actor=actor,
    )
    for spec in grants:
        _add_grant(session, user.id, spec)
    summary = {
        "email": user.email,
        "display_name": user.display_name,
        "roles": [_grant_summary(g) for g in grants],
    }
    await audit.record(session, actor, "createUser", f"User:{user.id}", summary)
    return user


async def grant_role(
    session: AsyncSession, *, actor: Actor | None, user_id: int, grant: GrantSpec
) -> User:
    """Add one grant. A coordinator reaches only users they can already see: any other id is
    answered as if it did not exist, so a guessed id reveals nothing."""
    actor = _require_user_manager(actor)
    field = [INPUT, "grant"]
    record = (await load_users(session, [user_id])).get(user_id)
    if record is None or not may_see(actor, record):
        raise NotFound("No such user.", field=[INPUT, "userId"])
    if user_id == actor.user_id and not actor.is_admin:
        raise Forbidden("You cannot grant roles to yourself: ask an administrator.", field=field)
    _authorize_grant(actor, grant, await _grant_scope(session, grant, field=field), field=field)
    if any(_same_grant(g, grant) for g in record.grants):
        raise Conflict("The user already holds this role here.", field=field)
    _add_grant(session, user_id, grant)
    await audit.record(session, actor, "grantRole", f"User:{user_id}", _grant_summary(grant))
    return record.user


# ---------------------------------------------------------------- sign-in


async def _verify(password_hash: str, password: str) -> bool:
    return await anyio.to_thread.run_sync(security.verify_password, password_hash, password)


def _wait_message(until: datetime, now: datetime) -> str:
    minutes = max(1, -(-int((until - now).total_seconds()) // 60))
    unit = "minute" if minutes == 1 else "minutes"
    return f"Too many failed sign-ins: try again in {minutes} {unit}."


async def authenticate(
    session: AsyncSession,
    *,
    settings: Settings,
    email: str,
    password: str,
    address: str,
    now: datetime | None = None,
) -> tuple[str, User]:
    """A bearer token for the right email and password, tried from client ``address``.

    A wrong password and an unknown email get the same ``Unauthenticated(LOGIN_REFUSED)`` after
    one argon2 verification (against ``DUMMY_HASH`` for an unknown email), so neither the answer
    nor its timing tells whether an email is registered. Failures are counted by
    ``services.throttle`` (per address, per account from that address, per account), keyed by the
    email as typed, known or not; while a key is locked the attempt is refused with ``TryAgain``
    before any verification, alike for every email. Attempts on one account are serialized for
    the transaction, so concurrent wrong passwords all count. The counters are written before
    raising: the caller must commit them anyway (``resolvers.users.login`` does), or nothing
    would ever lock.
    """
    now = now or datetime.now(UTC)
    keys = throttle.rules(settings, email=email, address=address)
    await throttle.serialize_account(session, email)
    until = await throttle.locked_until(session, keys, now=now)
    if until is not None:
        raise TryAgain(_wait_message(until, now))
    user = await session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    correct = await _verify(user.password_hash if user else security.DUMMY_HASH, password)
    if user is None or not correct:
        await throttle.record_failure(session, settings, keys, now=now)
        await session.flush()
        raise Unauthenticated(LOGIN_REFUSED)
    await throttle.clear(session, keys)
    return security.issue_token(settings, user.id), user
