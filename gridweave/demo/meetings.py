"""The demo street's joint meetings, agreements, sessions and service activities (seeds 003, 004).

Every community of the featured street gets the "1+4Z+3N" structure (its party organization as
the core; the four special committees 平安建设/文明城市建设/公共服务/协商共治 under it; a residents'
group per grid and a self-governance group per courtyard), a joint meeting of most of its
co-resident units with co-building agreements, sessions over the last four quarters and service
activities. The street gets a regional joint meeting of unit secretaries with concurrent posts in
its party committee. Dates follow today, and some meetings and agreements lapse on purpose so
that every compliance field has something to show:

* the second community's meeting has not sat this quarter, and the third's sat last two quarters
  ago; a few units in every community are in no meeting (``unengagedUnits``);
* in the fourth community every agreement has expired; a few agreements elsewhere were
  terminated, a few start next quarter (DRAFT); some partners fall short of their minimum.

Rows are written directly, like the rest of the demo (the load's one ledger entry lists their
ids, see generator.py); convener terms come from the same pure rotation functions the services
use.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.models import (
    Agreement,
    Area,
    AreaLevel,
    Commitment,
    CommitmentUnit,
    ConvenerRotation,
    JointMeeting,
    JointMeetingMember,
    LinkKind,
    MeetingSession,
    MeetingSessionAttendee,
    Organization,
    OrganizationKind,
    OrganizationLink,
    RotationPeriod,
    ServiceActivity,
    ServiceCategory,
)
from gridweave.models.activities import ActivitySource
from gridweave.services import rotation

K = OrganizationKind
SPECIAL_COMMITTEES = ("平安建设专委会", "文明城市建设专委会", "公共服务专委会", "协商共治专委会")
RESOLUTIONS = (
    "通过本季度共驻共建项目清单",
    "确定辖区困难群众走访慰问安排",
    "议定老旧院落环境整治分工",
    "通过志愿服务积分兑换办法",
    "明确下季度召集单位及议题",
    "通报共建协议履约情况",
    "部署防汛和安全隐患排查",
    "研究“四点半课堂”场地与师资",
)
PERIODS = (
    RotationPeriod.QUARTER,
    RotationPeriod.QUARTER,
    RotationPeriod.HALF_YEAR,
    RotationPeriod.QUARTER,
    RotationPeriod.MONTH,
    RotationPeriod.YEAR,
)
LEFT_OUT_SHARE = 0.2  # co-resident units in no meeting
DEMO_CATEGORIES = ("volunteering", "elderly_care", "child_care", "health", "sanitation")


@dataclass(frozen=True, slots=True)
class Quarters:
    """The current quarter's first day and those of the four before it (oldest first)."""

    current: date
    past: tuple[date, ...]

    @classmethod
    def around(cls, today: date) -> Quarters:
        k = rotation.period_index(RotationPeriod.QUARTER, today)
        past = tuple(rotation.period_start(RotationPeriod.QUARTER, k - n) for n in (4, 3, 2, 1))
        return cls(rotation.period_start(RotationPeriod.QUARTER, k), past)


class Seeder:
    def __init__(self, session: AsyncSession, rng: random.Random, today: date) -> None:
        self.s = session
        self.rng = rng
        self.today = today
        self.q = Quarters.around(today)
        self.categories: dict[str, int] = {}
        self.ids: dict[str, list[int]] = {"organizations": [], "organization_links": []}

    async def run(self, street: Area) -> None:
        rows = await self.s.execute(select(ServiceCategory.code, ServiceCategory.id))
        self.categories = {str(r.code): int(r.id) for r in rows}
        communities = (
            await self.s.scalars(select(Area).where(Area.parent_id == street.id).order_by(Area.id))
        ).all()
        for i, community in enumerate(communities):
            await self.structure(community)
            await self.community_meeting(i, community)
        await self.regional_meeting(street)

    # ---- 1+4Z+3N --------------------------------------------------------------------------

    async def structure(self, community: Area) -> None:
        core = await self.s.scalar(
            select(Organization)
            .where(
                Organization.area_id == community.id,
                Organization.kind == K.PARTY_ORGANIZATION.value,
            )
            .order_by(Organization.id)
            .limit(1)
        )
        parent = core.id if core else None
        for suffix in SPECIAL_COMMITTEES:
            await self.org(community, community.name + suffix, parent)
        below = (
            await self.s.scalars(
                select(Area)
                .where(
                    Area.path.startswith(community.path),
                    Area.level.in_([AreaLevel.GRID.value, AreaLevel.COURTYARD.value]),
                )
                .order_by(Area.id)
            )
        ).all()
        for area in below:
            suffix = "居民小组" if area.level == AreaLevel.GRID.value else "院落自治组"
            await self.org(area, area.name + suffix, parent)

    async def org(self, area: Area, name: str, parent: int | None) -> Organization:
        org = Organization(
            name=name,
            kind=K.SELF_GOVERNANCE_ORGANIZATION.value,
            area_id=area.id,
            area_path=area.path,
            parent_id=parent,
        )
        self.s.add(org)
        await self.s.flush()
        self.ids["organizations"].append(org.id)
        await self.s.execute(
            text("INSERT INTO organization_service_areas VALUES (:o, :a, :c)"),
            {"o": org.id, "a": area.id, "c": self.categories["community_governance"]},
        )
        return org

    # ---- a community's meeting ---------------------------------------------------------------

    async def units_in(self, area: Area) -> list[Organization]:
        return list(
            (
                await self.s.scalars(
                    select(Organization)
                    .where(
                        Organization.area_path.startswith(area.path),
                        Organization.kind == K.CO_RESIDENT_UNIT.value,
                    )
                    .order_by(Organization.id)
                )
            ).all()
        )

    async def community_meeting(self, i: int, community: Area) -> None:
        rng = self.rng
        units = await self.units_in(community)
        members = [u for u in units if rng.random() >= LEFT_OUT_SHARE]
        if len(members) < 2:
            members = units[:2]
        if not members:
            return
        late = members.pop() if len(members) > 2 else None  # joins two quarters ago
        period = PERIODS[i % len(PERIODS)]
        starts_on = self.q.past[0] + timedelta(days=rng.randint(0, 20))
        meeting = await self.meeting(
            f"{community.name}党建联席会议", community, period, starts_on, members
        )
        if late is not None:
            await self.join(meeting, late, self.q.past[2] + timedelta(days=rng.randint(5, 40)))
            members.append(late)
        if len(members) > 3:  # one unit leaves last quarter (ranks close)
            leaver = members[1]
            await self.leave(meeting, leaver, self.q.past[3] + timedelta(days=rng.randint(5, 60)))
        skip = {1: {4}, 2: {3, 4}}.get(i, set())  # quarters (0-4, 4 = current) without a sitting
        for n, quarter in enumerate((*self.q.past, self.q.current)):
            if n in skip:
                continue
            held = quarter + timedelta(days=rng.randint(10, 60))
            if held > self.today:
                held = self.today
            if held >= starts_on:
                await self.sitting(meeting, held)
        for unit in members:
            await self.agreement(i, community, unit, meeting)

    async def meeting(
        self,
        name: str,
        area: Area,
        period: RotationPeriod,
        starts_on: date,
        members: list[Organization],
    ) -> JointMeeting:
        meeting = JointMeeting(
            name=name,
            area_id=area.id,
            area_path=area.path,
            rotation_period=period.value,
            starts_on=starts_on,
        )
        self.s.add(meeting)
        await self.s.flush()
        self.s.add_all(
            JointMeetingMember(meeting_id=meeting.id, organization_id=m.id, joined_on=starts_on)
            for m in members
        )
        self.rotate(meeting, rotation.first_rotation(starts_on, [m.id for m in members]))
        await self.s.flush()
        return meeting

    def rotate(self, meeting: JointMeeting, r: rotation.Rotation) -> None:
        self.s.add(
            ConvenerRotation(
                meeting_id=meeting.id,
                effective_from=r.effective_from,
                member_ids=list(r.member_ids),
                anchor=r.anchor,
            )
        )

    async def rotations(self, meeting: JointMeeting) -> list[rotation.Rotation]:
        rows = await self.s.scalars(
            select(ConvenerRotation)
            .where(ConvenerRotation.meeting_id == meeting.id)
            .order_by(ConvenerRotation.id)
        )
        return [rotation.Rotation(r.effective_from, tuple(r.member_ids), r.anchor) for r in rows]

    async def join(self, meeting: JointMeeting, org: Organization, on: date) -> None:
        period = RotationPeriod(meeting.rotation_period)
        change = rotation.after_join(
            period, await self.rotations(meeting), on=on, organization_id=org.id
        )
        self.s.add(JointMeetingMember(meeting_id=meeting.id, organization_id=org.id, joined_on=on))
        self.rotate(meeting, change)
        await self.s.flush()

    async def leave(self, meeting: JointMeeting, org: Organization, on: date) -> None:
        period = RotationPeriod(meeting.rotation_period)
        change = rotation.after_leave(
            period, await self.rotations(meeting), on=on, organization_id=org.id
        )
        await self.s.execute(
            text(
                "UPDATE joint_meeting_members SET left_on = :on"
                " WHERE meeting_id = :m AND organization_id = :o AND left_on IS NULL"
            ),
            {"on": on, "m": meeting.id, "o": org.id},
        )
        self.rotate(meeting, change)
        await self.s.flush()

    async def sitting(self, meeting: JointMeeting, held_on: date) -> None:
        period = RotationPeriod(meeting.rotation_period)
        convener = rotation.convener_on(period, await self.rotations(meeting), held_on)
        if convener is None:
            return
        members = (
            await self.s.scalars(
                select(JointMeetingMember.organization_id)
                .where(
                    JointMeetingMember.meeting_id == meeting.id,
                    JointMeetingMember.joined_on <= held_on,
                    JointMeetingMember.left_on.is_(None) | (JointMeetingMember.left_on > held_on),
                )
                .order_by(JointMeetingMember.organization_id)
            )
        ).all()
        attendees = sorted(
            {convener, *self.rng.sample(list(members), max(1, len(members) * 3 // 4))}
        )
        sitting = MeetingSession(
            meeting_id=meeting.id,
            held_on=held_on,
            convener_id=convener,
            resolutions=self.rng.sample(RESOLUTIONS, self.rng.randint(1, 3)),
        )
        self.s.add(sitting)
        await self.s.flush()
        self.s.add_all(
            MeetingSessionAttendee(session_id=sitting.id, organization_id=o) for o in attendees
        )

    # ---- agreements and activities ------------------------------------------------------------

    async def agreement(
        self, i: int, community: Area, unit: Organization, meeting: JointMeeting
    ) -> None:
        rng = self.rng
        starts_on = max(meeting.starts_on, self.q.past[0])
        ends_on = starts_on + timedelta(days=730)
        terminated_on: date | None = None
        reason: str | None = None
        roll = rng.random()
        if i == 3 or roll < 0.1:  # lapsed: ended last quarter
            ends_on = self.q.current - timedelta(days=rng.randint(1, 60))
        elif roll < 0.17:
            terminated_on = self.q.past[3] + timedelta(days=rng.randint(1, 60))
            reason = "单位搬离社区，协议终止"
        elif roll < 0.22:  # signed for next year's programme, not started
            starts_on = self.q.current + timedelta(days=100)
            ends_on = starts_on + timedelta(days=364)
        agreement = Agreement(
            title=f"{community.name}与{unit.name}共驻共建协议",
            community_id=community.id,
            community_path=community.path,
            partner_id=unit.id,
            joint_meeting_id=meeting.id,
            starts_on=starts_on,
            ends_on=ends_on,
            min_activities_per_quarter=rng.choice((1, 1, 1, 2)),
            terminated_on=terminated_on,
            termination_reason=reason,
        )
        self.s.add(agreement)
        await self.s.flush()
        commitments: list[tuple[str, Decimal, CommitmentUnit, str | None]] = [
            (
                "开放活动场地",
                Decimal(rng.choice((30, 45, 60, 120))),
                CommitmentUnit.SQUARE_METERS,
                None,
            ),
            ("志愿服务时长", Decimal(rng.randint(40, 400)), CommitmentUnit.HOURS, "volunteering"),
            (
                "共建资金",
                Decimal(rng.choice(("5000.00", "12000.00", "20000.50"))),
                CommitmentUnit.YUAN,
                None,
            ),
            (
                "结对帮扶困难家庭",
                Decimal(rng.randint(2, 10)),
                CommitmentUnit.PEOPLE,
                "hardship_relief",
            ),
            (
                "每季度共建活动",
                Decimal(agreement.min_activities_per_quarter),
                CommitmentUnit.ACTIVITIES,
                None,
            ),
        ]
        for n, (description, quantity, unit_, code) in enumerate(
            rng.sample(commitments, rng.randint(2, 4))
        ):
            self.s.add(
                Commitment(
                    agreement_id=agreement.id,
                    position=n,
                    category_id=self.categories.get(code) if code else None,
                    description=description,
                    quantity=quantity,
                    unit=unit_.value,
                )
            )
        await self.activities(community, unit, agreement)

    async def activities(self, community: Area, unit: Organization, agreement: Agreement) -> None:
        rng = self.rng
        grids = await self.s.execute(
            select(Area.id, Area.path).where(Area.parent_id == community.id).order_by(Area.id)
        )
        areas = [(community.id, community.path), *((r.id, r.path) for r in grids)]
        for quarter in (*self.q.past, self.q.current):
            for _ in range(rng.choice((0, 1, 1, 2, 2, 3))):
                on = quarter + timedelta(days=rng.randint(0, 89))
                if on > self.today or on < agreement.starts_on:
                    continue
                area_id, path = rng.choice(areas)
                self.s.add(
                    ServiceActivity(
                        organization_id=unit.id,
                        area_id=area_id,
                        area_path=path,
                        category_id=self.categories[rng.choice(DEMO_CATEGORIES)],
                        occurred_on=on,
                        hours=Decimal(rng.randint(2, 40)) / 2,
                        beneficiaries=rng.randint(5, 80),
                        source=ActivitySource.DEMO.value,
                    )
                )
        await self.s.flush()

    # ---- the street's regional meeting ----------------------------------------------------------

    async def regional_meeting(self, street: Area) -> None:
        committee = await self.s.scalar(
            select(Organization)
            .where(
                Organization.area_id == street.id,
                Organization.kind == K.PARTY_ORGANIZATION.value,
            )
            .order_by(Organization.id)
            .limit(1)
        )
        units = await self.units_in(street)
        # the biggest units: those with a party branch of their own
        branches = {
            o.name: o
            for o in (
                await self.s.scalars(
                    select(Organization).where(
                        Organization.area_path.startswith(street.path),
                        Organization.kind == K.PARTY_ORGANIZATION.value,
                        Organization.name.endswith("党支部"),
                    )
                )
            ).all()
        }
        members = [u for u in units if u.name + "党支部" in branches][:8] or units[:4]
        if not members:
            return
        period = RotationPeriod.HALF_YEAR
        meeting = await self.meeting(
            f"{street.name}区域化党建联席会议", street, period, self.q.past[0], members
        )
        for quarter in (*self.q.past[1::2], self.q.current):
            held = min(self.today, quarter + timedelta(days=20))
            await self.sitting(meeting, held)
        if committee is None:
            return
        for unit in members:
            secretary = branches.get(unit.name + "党支部", unit)
            exists = await self.s.scalar(
                select(OrganizationLink.id).where(
                    OrganizationLink.kind == LinkKind.CONCURRENT_POST.value,
                    OrganizationLink.source_id == secretary.id,
                    OrganizationLink.target_id == committee.id,
                )
            )
            if exists is None:
                link = OrganizationLink(
                    kind=LinkKind.CONCURRENT_POST.value,
                    source_id=secretary.id,
                    target_id=committee.id,
                    since=self.q.past[0],
                )
                self.s.add(link)
                await self.s.flush()
                self.ids["organization_links"].append(link.id)


# Rows of these tables belong to a meeting of the street (or an agreement of one of its areas).
_OWNED = {
    "joint_meetings": "SELECT id FROM joint_meetings WHERE area_path LIKE :p",
    "joint_meeting_members": "SELECT j.id FROM joint_meeting_members j"
    " JOIN joint_meetings m ON m.id = j.meeting_id WHERE m.area_path LIKE :p",
    "convener_rotations": "SELECT r.id FROM convener_rotations r"
    " JOIN joint_meetings m ON m.id = r.meeting_id WHERE m.area_path LIKE :p",
    "meeting_sessions": "SELECT s.id FROM meeting_sessions s"
    " JOIN joint_meetings m ON m.id = s.meeting_id WHERE m.area_path LIKE :p",
    "agreements": "SELECT id FROM agreements WHERE community_path LIKE :p",
    "agreement_commitments": "SELECT c.id FROM agreement_commitments c"
    " JOIN agreements a ON a.id = c.agreement_id WHERE a.community_path LIKE :p",
    "service_activities": "SELECT id FROM service_activities WHERE area_path LIKE :p",
}


async def load_demo_meetings(
    session: AsyncSession, *, street_id: int, today: date, seed: int
) -> dict[str, list[int]]:
    """Seed the street (a fresh demo region: nothing of these tables is there yet); the ids of
    the rows written, by table (session attendees are keyed by their session's id)."""
    street = await session.get(Area, street_id)
    if street is None:
        raise LookupError("the demo street is missing")
    seeder = Seeder(session, random.Random(seed), today)
    await seeder.run(street)
    ids = dict(seeder.ids)
    for table, sql in _OWNED.items():
        rows = await session.scalars(text(sql + " ORDER BY 1"), {"p": street.path + "%"})
        ids[table] = [int(pk) for pk in rows]
    return ids
