"""Who may do what, where. Every service calls these before it writes; scope is an area subtree
(by materialised path) or one organization."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.errors import Forbidden, Unauthenticated
from gridweave.models import Area, Role, RoleGrant, User


@dataclass(frozen=True, slots=True)
class Grant:
    role: Role
    area_id: int | None = None
    area_path: str | None = None
    organization_id: int | None = None

    def covers_path(self, path: str) -> bool:
        """True when this grant's area is ``path`` or one of its ancestors (or is unlimited)."""
        return self.area_path is None or path.startswith(self.area_path)


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: int
    grants: tuple[Grant, ...] = field(default_factory=tuple)

    @property
    def is_admin(self) -> bool:
        return any(g.role is Role.ADMIN for g in self.grants)

    def has_role(self, *roles: Role) -> bool:
        return self.is_admin or any(g.role in roles for g in self.grants)

    def coordinates(self, area_path: str) -> bool:
        """May coordinate the area at ``area_path`` (an ADMIN, or a COORDINATOR above it)."""
        return self.is_admin or any(
            g.role is Role.COORDINATOR and g.covers_path(area_path) for g in self.grants
        )

    def member_of(self, organization_id: int) -> bool:
        return any(
            g.role is Role.ORGANIZATION_MEMBER and g.organization_id == organization_id
            for g in self.grants
        )

    def coordinator_paths(self) -> list[str] | None:
        """Area paths this actor coordinates; None means everywhere."""
        if self.is_admin:
            return None
        paths = [g.area_path for g in self.grants if g.role is Role.COORDINATOR]
        if any(p is None for p in paths):
            return None
        return [p for p in paths if p is not None]


def require_actor(actor: Actor | None) -> Actor:
    if actor is None:
        raise Unauthenticated("Sign in first: this needs a user.")
    return actor


def require_coordinator(actor: Actor | None, area_path: str, *, what: str) -> Actor:
    """Refuse unless the actor coordinates the area at ``area_path``."""
    actor = require_actor(actor)
    if not actor.coordinates(area_path):
        raise Forbidden(f"You do not coordinate the area where {what}.")
    return actor


def require_role(actor: Actor | None, *roles: Role) -> Actor:
    actor = require_actor(actor)
    if not actor.has_role(*roles):
        names = ", ".join(r.value for r in roles)
        raise Forbidden(f"This needs one of these roles: {names}.")
    return actor


def require_coverage_reader(actor: Actor | None, area_path: str) -> Actor:
    """Coverage reports (gaps, loads, who is idle) are for those who act on them or watch:
    an ADMIN anywhere, a COORDINATOR in their subtree, an AUDITOR in the subtree of their grant
    (the supervising party of 阳光台账). Organization members and evaluators are refused: a
    report names other organizations' loads and idleness."""
    actor = require_actor(actor)
    if actor.coordinates(area_path):
        return actor
    if any(g.role is Role.AUDITOR and g.covers_path(area_path) for g in actor.grants):
        return actor
    raise Forbidden("Coverage is read by the coordinators (or auditors) of the area.")


async def load_grants(
    session: AsyncSession, user_ids: Iterable[int]
) -> dict[int, tuple[Grant, ...]]:
    rows = await session.execute(
        select(
            RoleGrant.user_id,
            RoleGrant.role,
            RoleGrant.area_id,
            Area.path,
            RoleGrant.organization_id,
        )
        .outerjoin(Area, Area.id == RoleGrant.area_id)
        .where(RoleGrant.user_id.in_(list(user_ids)))
        .order_by(RoleGrant.id)
    )
    result: dict[int, list[Grant]] = {}
    for user_id, role, area_id, path, org_id in rows:
        result.setdefault(user_id, []).append(Grant(Role(role), area_id, path, org_id))
    return {k: tuple(v) for k, v in result.items()}


async def load_actor(session: AsyncSession, user_id: int) -> Actor | None:
    """The actor behind a token's user id (one query); None when that user no longer exists."""
    rows = (
        await session.execute(
            select(RoleGrant.role, RoleGrant.area_id, Area.path, RoleGrant.organization_id)
            .select_from(User)
            .outerjoin(RoleGrant, RoleGrant.user_id == User.id)
            .outerjoin(Area, Area.id == RoleGrant.area_id)
            .where(User.id == user_id)
            .order_by(RoleGrant.id)
        )
    ).all()
    if not rows:
        return None
    grants = tuple(Grant(Role(r), a, p, o) for r, a, p, o in rows if r is not None)
    return Actor(user_id=user_id, grants=grants)


# ---------------------------------------------------------------- read visibility


@dataclass(frozen=True, slots=True)
class ReadPolicy:
    """Which viewers read a type's rows: the one declaration that the resolvers, ``node()`` and
    the compiled read path all ask.

    ``roles`` None: every signed-in user (public commitments, the region's map). Otherwise only
    viewers holding one of ``roles`` (ADMIN always does). A type whose rule cannot be written in
    SQL sets ``compiled=False``, and the compiled path refuses to compile it."""

    roles: frozenset[Role] | None = None
    compiled: bool = True

    @property
    def per_viewer(self) -> bool:
        """Whether two signed-in viewers may get different answers."""
        return self.roles is not None or not self.compiled

    def may_read(self, actor: Actor | None) -> bool:
        if actor is None:
            return False
        return self.roles is None or actor.has_role(*self.roles)

    def sql(self, viewer: str) -> str:
        """The same rule as a SQL condition on the viewer's user id (the SQL expression
        ``viewer``)."""
        if self.roles is None:
            return "TRUE"
        names = ",".join(sorted({Role.ADMIN.value, *(r.value for r in self.roles)}))
        return (
            f"EXISTS (SELECT 1 FROM role_grants WHERE user_id = {viewer}"
            f" AND role = ANY('{{{names}}}'::text[]))"
        )


SIGNED_IN = ReadPolicy()
READ_POLICIES: dict[str, ReadPolicy] = {
    "Area": SIGNED_IN,
    "Organization": SIGNED_IN,
    "ServiceCategory": SIGNED_IN,
    # Parts of an organization's public profile.
    "ServiceArea": SIGNED_IN,
    "OrganizationLink": SIGNED_IN,
    # Joint meetings and co-building agreements are public commitments (三个公开): every
    # signed-in user reads them, with their sessions, terms and commitments.
    "JointMeeting": SIGNED_IN,
    "JointMeetingMember": SIGNED_IN,
    "ConvenerTerm": SIGNED_IN,
    "MeetingSession": SIGNED_IN,
    "Agreement": SIGNED_IN,
    "Commitment": SIGNED_IN,
    # The ledger names who changed what: auditors (and admins) read it.
    "AuditEntry": ReadPolicy(roles=frozenset({Role.AUDITOR})),
    # Users see themselves; auditors everyone; coordinators the users of their areas
    # (services.users.may_see needs both users' grants: answered by the resolvers only).
    "User": ReadPolicy(compiled=False),
}


def read_policy(type_name: str) -> ReadPolicy:
    return READ_POLICIES[type_name]
