"""Demo service projects: a few hundred across the featured street's communities, in every
status, with claims, completion reports (and their service activities) and ratings.

Written with plain SQL inside the caller's transaction, like the rest of the demo seed (the
ledger is not touched). Claims are inserted ACTIVE and then moved along the allowed transitions,
so the counting trigger keeps every project's counters exactly as the services would."""

from __future__ import annotations

import random
from datetime import date, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.demo.generator import DemoSummary
from gridweave.models.projects import ServiceProjectStatus

WISHES = [
    ("SMALL_WISH", "elderly_care", "为独居老人送一台收音机", "王奶奶想听川剧，需要一台收音机。"),
    ("SMALL_WISH", "child_care", "给留守儿童买一套课外书", "四年级学生，想要科普读物。"),
    ("PROBLEM", "sanitation", "院落垃圾分类点无人值守", "早晚高峰需要志愿者引导分类投放。"),
    ("PROBLEM", "safety_mediation", "楼栋噪音纠纷调解", "三楼与四楼住户多次投诉，需要调解。"),
    ("SERVICE_POST", "volunteering", "社区服务岗：周末值守", "每周六上午在党群服务中心值守。"),
    ("SERVICE_POST", "health", "义诊服务岗", "每月第一个周日，为居民测血压、血糖。"),
    ("CO_BUILDING_PROJECT", "culture_sports", "共建项目：社区文化活动室", "驻区单位共建活动室。"),
    ("CO_BUILDING_PROJECT", "employment", "共建项目：就业技能培训", "为失业居民开设技能培训。"),
]
#: How many projects of each status the street gets.
PLAN = {
    ServiceProjectStatus.OPEN: 60,
    ServiceProjectStatus.PARTIALLY_CLAIMED: 50,
    ServiceProjectStatus.CLAIMED: 45,
    ServiceProjectStatus.COMPLETED: 40,
    ServiceProjectStatus.VERIFIED: 45,
    ServiceProjectStatus.EXPIRED: 30,
    ServiceProjectStatus.CANCELLED: 30,
}


async def load_demo_projects(session: AsyncSession, demo: DemoSummary, *, seed: int = 10) -> int:
    """Create the demo projects unless the street has some already; how many were created."""
    street = await session.scalar(
        text("SELECT path FROM areas WHERE id = :id"), {"id": demo.street_id}
    )
    present = await session.scalar(
        text("SELECT count(*) FROM service_projects WHERE area_path LIKE :p"), {"p": f"{street}%"}
    )
    if present:
        return 0
    rng = random.Random(seed)
    communities = (
        await session.execute(
            text("SELECT id, path FROM areas WHERE parent_id = :s ORDER BY id"),
            {"s": demo.street_id},
        )
    ).all()
    orgs: dict[int, list[int]] = {}
    for community_id, path in communities:
        orgs[community_id] = list(
            await session.scalars(
                text("SELECT id FROM organizations WHERE area_path LIKE :p ORDER BY id"),
                {"p": f"{path}%"},
            )
        )
    rows = await session.execute(text("SELECT code, id FROM service_categories"))
    categories: dict[str, int] = {str(r[0]): int(r[1]) for r in rows}
    today = await session.scalar(text("SELECT (now() AT TIME ZONE 'Asia/Shanghai')::date"))
    assert isinstance(today, date)
    made = 0
    for status, count in PLAN.items():
        for _ in range(count):
            community_id, path = rng.choice(communities)
            pool = orgs[community_id]
            if len(pool) < 8:
                continue
            kind, category, title, description = rng.choice(WISHES)
            slots = 1 if kind == "SMALL_WISH" else rng.randint(2, 12)
            past = status is ServiceProjectStatus.EXPIRED
            deadline = (
                today - timedelta(days=rng.randint(1, 60))
                if past
                else (today + timedelta(days=rng.randint(7, 120)) if rng.random() < 0.7 else None)
            )
            project_id = await session.scalar(
                text(
                    "INSERT INTO service_projects (title, description, kind, category_id, area_id,"
                    " area_path, posted_by_id, slots, deadline, created_at) VALUES (:t, :d, :k,"
                    " :c, :a, :p, :by, :n, NULL, now() - make_interval(days => :age))"
                    " RETURNING id"
                ),
                {
                    "t": title,
                    "d": description,
                    "k": kind,
                    "c": categories[category],
                    "a": community_id,
                    "p": path,
                    "by": pool[0],
                    "n": slots,
                    "age": rng.randint(1, 90),
                },
            )
            taken = {
                ServiceProjectStatus.OPEN: 0,
                ServiceProjectStatus.PARTIALLY_CLAIMED: rng.randint(1, slots - 1)
                if slots > 1
                else 0,
                ServiceProjectStatus.EXPIRED: rng.randint(0, slots - 1),
                ServiceProjectStatus.CANCELLED: rng.randint(0, slots),
            }.get(status, slots)
            if status is ServiceProjectStatus.PARTIALLY_CLAIMED and taken == 0:
                slots_fix = 3
                await session.execute(
                    text("UPDATE service_projects SET slots = :n WHERE id = :id"),
                    {"n": slots_fix, "id": project_id},
                )
                taken = 1
            claimants = rng.sample(pool[1:], k=min(taken + 1, len(pool) - 1))
            for i, org in enumerate(claimants):
                claim_id = await session.scalar(
                    text(
                        "INSERT INTO claims (project_id, claimant_id, slots) VALUES (:p, :o, 1)"
                        " RETURNING id"
                    ),
                    {"p": project_id, "o": org},
                )
                if i == 0:  # first one that withdrew, to show a freed place
                    await session.execute(
                        text(
                            "UPDATE claims SET status = 'WITHDRAWN', withdrawn_at = now()"
                            " WHERE id = :id"
                        ),
                        {"id": claim_id},
                    )
                    continue
                if status in (ServiceProjectStatus.COMPLETED, ServiceProjectStatus.VERIFIED):
                    await _report(
                        session, rng, claim_id, org, community_id, path, categories[category], today
                    )
                if status is ServiceProjectStatus.VERIFIED or (
                    status is ServiceProjectStatus.COMPLETED and i > 1
                ):
                    await session.execute(
                        text(
                            "UPDATE claims SET status = 'VERIFIED', rating = :r,"
                            " verified_at = now() WHERE id = :id"
                        ),
                        {"r": rng.choice([3, 4, 4, 5, 5, 5]), "id": claim_id},
                    )
            if deadline is not None:
                await session.execute(
                    text("UPDATE service_projects SET deadline = :d WHERE id = :id"),
                    {"d": deadline, "id": project_id},
                )
            if status is ServiceProjectStatus.CANCELLED:
                await session.execute(
                    text(
                        "UPDATE service_projects SET cancelled_at = now(),"
                        " cancel_reason = '天气原因，活动取消' WHERE id = :id"
                    ),
                    {"id": project_id},
                )
            made += 1
    return made


async def _report(
    session: AsyncSession,
    rng: random.Random,
    claim_id: int,
    org: int,
    area_id: int,
    path: str,
    category_id: int,
    today: date,
) -> None:
    hours = rng.choice(["1.5", "2", "3", "4.5", "6", "8"])
    beneficiaries = rng.randint(1, 40)
    await session.execute(
        text(
            "UPDATE claims SET status = 'COMPLETED', report_summary = '已完成，居民满意',"
            " report_hours = CAST(:h AS numeric), report_beneficiaries = :b,"
            " completed_on = :on, reported_at = now() WHERE id = :id"
        ),
        {"h": hours, "b": beneficiaries, "on": today, "id": claim_id},
    )
    await session.execute(
        text(
            "INSERT INTO service_activities (organization_id, area_id, area_path, category_id,"
            " occurred_on, hours, beneficiaries, source, source_id) VALUES (:o, :a, :p, :c, :on,"
            " CAST(:h AS numeric), :b, 'CLAIM', :id)"
        ),
        {
            "o": org,
            "a": area_id,
            "p": path,
            "c": category_id,
            "on": today,
            "h": hours,
            "b": beneficiaries,
            "id": claim_id,
        },
    )
