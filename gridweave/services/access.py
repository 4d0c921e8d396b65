"""Who may do what, where. Every service calls these before it writes; scope is an area subtree
(by materialised path) or one organization."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from gridweave.errors import Forbidden, Unauthenticated
from gridweave.models import Area, Organization, Role, RoleGrant, User


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


#: Built once: every request reads its actor.
_ACTOR = (
    select(RoleGrant.role, RoleGrant.area_id, Area.path, RoleGrant.organization_id)
    .select_from(User)
    .outerjoin(RoleGrant, RoleGrant.user_id == User.id)
    .outerjoin(Area, Area.id == RoleGrant.area_id)
    .where(User.id == bindparam("user_id"))
    .order_by(RoleGrant.id)
)


async def load_actor(session: AsyncSession | AsyncConnection, user_id: int) -> Actor | None:
    """The actor behind a token's user id (one query); None when that user no longer exists."""
    rows = (await session.execute(_ACTOR, {"user_id": user_id})).all()
    if not rows:
        return None
    grants = tuple(Grant(Role(r), a, p, o) for r, a, p, o in rows if r is not None)
    return Actor(user_id=user_id, grants=grants)


# ---- who reads what: area-bound rows (service projects and their claims) ----------------------

_AREA_READERS = (Role.COORDINATOR, Role.EVALUATOR, Role.AUDITOR)


@dataclass(frozen=True, slots=True)
class AreaScope:
    """Where an actor reads area-bound rows: whole subtrees by path prefix (``prefixes`` None
    means everywhere) and single areas by exact path.

    The one policy for service projects and claims (lists, ``node()``, subscriptions): an ADMIN
    reads everything; a COORDINATOR, EVALUATOR or AUDITOR the subtree of each grant's area (all
    of it for an unlimited grant); an ORGANIZATION_MEMBER the subtree of their organization's
    home area and the areas above it (a street's project is posted for its communities)."""

    prefixes: tuple[str, ...] | None
    exact: frozenset[str] = frozenset()

    @property
    def everywhere(self) -> bool:
        return self.prefixes is None

    def covers(self, path: str) -> bool:
        if self.prefixes is None or path in self.exact:
            return True
        return any(path.startswith(p) for p in self.prefixes)

    def reaches_into(self, path: str) -> bool:
        """True when some area at or below ``path`` is readable."""
        if self.prefixes is None:
            return True
        return any(p.startswith(path) or path.startswith(p) for p in self.prefixes) or any(
            e.startswith(path) for e in self.exact
        )


def _ancestors(path: str) -> list[str]:
    """'/1/5/23/' -> ['/1/', '/1/5/'] (the areas above, by path)."""
    parts = [p for p in path.split("/") if p]
    return ["/" + "/".join(parts[:i]) + "/" for i in range(1, len(parts))]


async def area_scope(session: AsyncSession, actor: Actor | None) -> AreaScope:
    """The actor's :class:`AreaScope` (one query when they hold organization grants)."""
    actor = require_actor(actor)
    if actor.is_admin:
        return AreaScope(None)
    prefixes: list[str] = []
    for g in actor.grants:
        if g.role in _AREA_READERS:
            if g.area_path is None:
                return AreaScope(None)
            prefixes.append(g.area_path)
    org_ids = [
        g.organization_id
        for g in actor.grants
        if g.role is Role.ORGANIZATION_MEMBER and g.organization_id is not None
    ]
    exact: set[str] = set()
    if org_ids:
        paths = await session.scalars(
            select(Organization.area_path).where(Organization.id.in_(org_ids))
        )
        for path in paths:
            prefixes.append(path)
            exact.update(_ancestors(path))
    return AreaScope(tuple(dict.fromkeys(prefixes)), frozenset(exact))


def area_scope_sql(viewer: str, path: str) -> str:
    """:func:`area_scope` as SQL: the area path ``path`` (an SQL expression) lies where the
    viewer (``viewer``, the SQL of a user id) reads area-bound rows. Both arrays depend on the
    viewer alone, so PostgreSQL computes them once per statement (InitPlans), not once per row;
    an ADMIN or an unlimited grant reads below '/', which every path starts with."""
    readers = ", ".join(f"'{r.value}'" for r in (Role.ADMIN, *_AREA_READERS))
    orgs = "FROM role_grants g JOIN organizations o ON o.id = g.organization_id"
    member = f"g.user_id = {viewer} AND g.role = '{Role.ORGANIZATION_MEMBER.value}'"
    prefixes = (
        f"ARRAY(SELECT CASE WHEN g.role = 'ADMIN' OR g.area_id IS NULL THEN '/' ELSE ga.path END"
        f" FROM role_grants g LEFT JOIN areas ga ON ga.id = g.area_id"
        f" WHERE g.user_id = {viewer} AND g.role IN ({readers})"
        f" UNION ALL SELECT o.area_path {orgs} WHERE {member})"
    )
    # _ancestors(): each prefix of the organization's path that ends in '/', but the whole path
    ancestors = (
        f"ARRAY(SELECT left(o.area_path, n) {orgs}, generate_series(2, length(o.area_path) - 1) n"
        f" WHERE {member} AND substr(o.area_path, n, 1) = '/')"
    )
    return f"({path} ^@ ANY ({prefixes}) OR {path} = ANY ({ancestors}))"


@dataclass(frozen=True, slots=True)
class AreaFacts:
    """What decides who reads an area-bound row: the viewer's scope (:func:`area_scope`, which
    needs their organizations' areas: one query) and the row's area path."""

    scope: AreaScope
    area_path: str


@dataclass(frozen=True, slots=True)
class AreaRule:
    """Rows read by :class:`AreaScope`. ``path``: the SQL of the row's area path, ``{row}``
    standing for the row's alias."""

    path: str

    def may_read(self, actor: Actor, row: AreaFacts) -> bool:
        return row.scope.covers(row.area_path)

    def sql(self, viewer: str, row: str) -> str:
        return area_scope_sql(viewer, self.path.format(row=row))


# ---------------------------------------------------------------- read visibility


class RowRule(Protocol):
    """Which rows of a type a viewer reads, when that depends on the row: the same rule in Python
    (``may_read``, for one row already loaded) and in SQL (``sql``, for lists and pages)."""

    def may_read(self, actor: Actor, row: Any) -> bool: ...

    def sql(self, viewer: str, row: str) -> str: ...


@dataclass(frozen=True, slots=True)
class ReadPolicy:
    """Which viewers read a type's rows: the one declaration that the resolvers, ``node()`` and
    the compiled read path all ask.

    ``roles`` None: every signed-in user (public commitments, the region's map). Otherwise only
    viewers holding one of ``roles`` (ADMIN always does). ``rows``, when set, narrows that down
    row by row (a bid, a review: see ProcurementRules below); ``may_read`` then needs the row's
    facts and ``sql`` the row's alias. A type whose rule cannot be written in SQL, or that the
    compiled path does not declare, sets ``compiled=False``, and the compiled path refuses to
    compile it."""

    roles: frozenset[Role] | None = None
    compiled: bool = True
    rows: RowRule | None = None

    @property
    def per_viewer(self) -> bool:
        """Whether two signed-in viewers may get different answers."""
        return self.roles is not None or not self.compiled or self.rows is not None

    def may_read(self, actor: Actor | None, row: Any = None) -> bool:
        if actor is None:
            return False
        if not (self.roles is None or actor.has_role(*self.roles)):
            return False
        if self.rows is None:
            return True
        if row is None:
            raise TypeError("this policy decides row by row: pass the row's facts")
        return self.rows.may_read(actor, row)

    def sql(self, viewer: str, row: str | None = None) -> str:
        """The same rule as a SQL condition on the viewer's user id (the SQL expression
        ``viewer``) and, for a row rule, the row at alias ``row``."""
        conditions = []
        if self.roles is not None:
            names = ",".join(sorted({Role.ADMIN.value, *(r.value for r in self.roles)}))
            conditions.append(
                f"EXISTS (SELECT 1 FROM role_grants WHERE user_id = {viewer}"
                f" AND role = ANY('{{{names}}}'::text[]))"
            )
        if self.rows is not None:
            if row is None:
                raise TypeError("this policy decides row by row: pass the row's alias")
            conditions.append(f"({self.rows.sql(viewer, row)})")
        return " AND ".join(conditions) or "TRUE"


# ---------------------------------------------------------------- purchased services
#
# Who reads what of a call for bids (issue 11). The call itself is public (三个公开: published
# before). A bid, its reviews and its scores are read by:
# * the issuer's coordinators (and admins): everything, always;
# * the bidder's members: their own bids; reviews and scores only once results are public;
# * an evaluator: the bids assigned to them; their own reviews; everyone's reviews and the
#   scores of those bids once that stage's reviews are all in (proposal reviews: of the whole
#   call; performance reviews: of the bid);
# * every signed-in user, once the call is awarded: the decided bids (awarded, not awarded,
#   completed) with their proposal reviews and scores, and a bid's performance reviews and
#   score once it is completed (the public ledger of money).
# A withdrawn bid stays with its bidder and the issuer.

PUBLIC_BID_STATUSES = ("AWARDED", "NOT_AWARDED", "COMPLETED")


@dataclass(frozen=True, slots=True)
class BidFacts:
    """What decides who reads a bid (loaded with it: see services.procurement.BID_FACTS_SQL)."""

    bidder_id: int
    status: str
    issuer_area_path: str
    call_awarded: bool
    evaluator_ids: frozenset[int]


@dataclass(frozen=True, slots=True)
class ReviewFacts:
    """What decides who reads a review of a bid at a stage (``evaluator_id``), or the bid's
    aggregate score at that stage (``evaluator_id`` None). ``stage_complete``: every assigned
    evaluator has submitted that stage's review (of the call, for proposals)."""

    bid: BidFacts
    stage: str
    stage_complete: bool
    evaluator_id: int | None = None


def _issuer_side(actor: Actor, bid: BidFacts) -> bool:
    return actor.coordinates(bid.issuer_area_path)


def _assigned(actor: Actor, bid: BidFacts) -> bool:
    return actor.has_role(Role.EVALUATOR) and actor.user_id in bid.evaluator_ids


def _results_public(bid: BidFacts, stage: str, stage_complete: bool) -> bool:
    if not (bid.call_awarded and bid.status in PUBLIC_BID_STATUSES):
        return False
    return stage == "PROPOSAL" or (stage_complete and bid.status == "COMPLETED")


def _grant_sql(viewer: str, condition: str) -> str:
    """A grant of the viewer's (alias g, its area alias ga) meets ``condition``."""
    return (
        f"EXISTS (SELECT 1 FROM role_grants g LEFT JOIN areas ga ON ga.id = g.area_id"
        f" WHERE g.user_id = {viewer} AND ({condition}))"
    )


def _issuer_sql(call: str) -> str:
    return (
        f"g.role = 'ADMIN' OR (g.role = 'COORDINATOR'"
        f" AND (g.area_id IS NULL OR starts_with({call}.issuer_area_path, ga.path)))"
    )


def _assigned_sql(viewer: str, bid: str) -> str:
    return (
        f"g.role IN ('ADMIN', 'EVALUATOR') AND EXISTS (SELECT 1 FROM bid_assignments ba"
        f" WHERE ba.bid_id = {bid}.id AND ba.evaluator_id = {viewer})"
    )


_PUBLIC_SQL = ",".join(f"'{s}'" for s in PUBLIC_BID_STATUSES)


def _stage_complete_sql(stage: str, call: str, bid: str) -> str:
    if stage == "PROPOSAL":
        return f"({call}.panel_assigned_at IS NOT NULL AND {call}.reviews_pending = 0)"
    return f"({bid}.reviews_due > 0 AND {bid}.performance_reviews = {bid}.reviews_due)"


class BidRule:
    def may_read(self, actor: Actor, row: BidFacts) -> bool:
        if row.call_awarded and row.status in PUBLIC_BID_STATUSES:
            return True
        return _issuer_side(actor, row) or actor.member_of(row.bidder_id) or _assigned(actor, row)

    def sql(self, viewer: str, row: str) -> str:
        return (
            f"EXISTS (SELECT 1 FROM procurement_calls pc WHERE pc.id = {row}.call_id AND ("
            f"(pc.awarded_at IS NOT NULL AND {row}.status IN ({_PUBLIC_SQL}))"
            " OR "
            + _grant_sql(
                viewer,
                f"{_issuer_sql('pc')}"
                f" OR (g.role = 'ORGANIZATION_MEMBER' AND g.organization_id = {row}.bidder_id)"
                f" OR ({_assigned_sql(viewer, row)})",
            )
            + "))"
        )


@dataclass(frozen=True, slots=True)
class ReviewRule:
    """A review (``own``: its evaluator reads it too) or a bid's aggregate score at a stage. The
    SQL form reads a row at alias ``row`` with ``bid_id``, ``stage`` and, for a review,
    ``evaluator_id`` (a reviews row)."""

    own: bool = True

    def may_read(self, actor: Actor, row: ReviewFacts) -> bool:
        if _issuer_side(actor, row.bid):
            return True
        if _results_public(row.bid, row.stage, row.stage_complete):
            return True
        if self.own and row.evaluator_id == actor.user_id and actor.has_role(Role.EVALUATOR):
            return True
        return row.stage_complete and _assigned(actor, row.bid)

    def sql(self, viewer: str, row: str) -> str:
        complete = (
            f"(CASE WHEN {row}.stage = 'PROPOSAL'"
            f" THEN {_stage_complete_sql('PROPOSAL', 'pc', 'pb')}"
            f" ELSE {_stage_complete_sql('PERFORMANCE', 'pc', 'pb')} END)"
        )
        public = (
            f"(pc.awarded_at IS NOT NULL AND pb.status IN ({_PUBLIC_SQL})"
            f" AND ({row}.stage = 'PROPOSAL' OR ({complete} AND pb.status = 'COMPLETED')))"
        )
        return (
            "EXISTS (SELECT 1 FROM bids pb JOIN procurement_calls pc ON pc.id = pb.call_id"
            f" WHERE pb.id = {row}.bid_id AND ({public} OR "
            + _grant_sql(
                viewer,
                f"{_issuer_sql('pc')}"
                + (
                    f" OR (g.role IN ('ADMIN', 'EVALUATOR') AND {row}.evaluator_id = {viewer})"
                    if self.own
                    else ""
                )
                + f" OR ({complete} AND {_assigned_sql(viewer, 'pb')})",
            )
            + "))"
        )


def may_identify_bidder(actor: Actor, *, blind_review: bool, bid: BidFacts) -> bool:
    """In a blind review, until the award, evaluators see a stand-in for the bidder; the issuer's
    coordinators and the bidder's own members always see who it is."""
    if not blind_review or bid.call_awarded:
        return True
    return _issuer_side(actor, bid) or actor.member_of(bid.bidder_id)


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
    # Per viewer by area: area_scope() is the rule (subtrees of the viewer's grants, a member's
    # organization's area and the areas above it), area_scope_sql() the same rule in SQL.
    "ServiceProject": ReadPolicy(rows=AreaRule("{row}.area_path")),
    "Claim": ReadPolicy(
        rows=AreaRule("(SELECT p.area_path FROM service_projects p WHERE p.id = {row}.project_id)")
    ),
    # Purchased services (issue 11): calls are public; bids, reviews and scores per viewer and
    # row (the rules above). Answered by the resolvers until the compiled path declares them.
    "ProcurementCall": ReadPolicy(compiled=False),
    "Bid": ReadPolicy(compiled=False, rows=BidRule()),
    "Review": ReadPolicy(compiled=False, rows=ReviewRule()),
    "AggregateScore": ReadPolicy(compiled=False, rows=ReviewRule(own=False)),
    "PerformanceResult": ReadPolicy(compiled=False, rows=ReviewRule(own=False)),
}


def read_policy(type_name: str) -> ReadPolicy:
    return READ_POLICIES[type_name]
