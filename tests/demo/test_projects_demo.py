"""The demo's service projects: every status on the featured street, counters that agree with
the claims, a report's activity for every reported claim, and no second batch on a reload."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.demo import load_demo
from gridweave.demo.projects import load_demo_projects
from gridweave.models import ServiceProjectStatus
from gridweave.services import projects as svc
from gridweave.services.access import AreaScope


async def test_the_demo_street_has_projects_in_every_status(session: AsyncSession) -> None:
    summary = await load_demo(session)
    made = await load_demo_projects(session, summary)
    assert made >= 200

    flt = svc.ProjectFilter(scope=AreaScope(None))
    for status in ServiceProjectStatus:
        counted = await svc.count_projects(
            session, svc.ProjectFilter(scope=AreaScope(None), status=status)
        )
        assert counted >= 20, status
    assert await svc.count_projects(session, flt) == made
    mismatched = await session.scalar(
        text(
            "SELECT count(*) FROM service_projects p WHERE claimed_slots <> coalesce((SELECT"
            " sum(slots) FROM claims c WHERE c.project_id = p.id AND c.status <> 'WITHDRAWN'), 0)"
        )
    )
    assert mismatched == 0
    unreported = await session.scalar(
        text(
            "SELECT count(*) FROM claims c WHERE c.status IN ('COMPLETED', 'VERIFIED') AND NOT"
            " EXISTS (SELECT 1 FROM service_activities a WHERE a.source = 'CLAIM'"
            " AND a.source_id = c.id)"
        )
    )
    assert unreported == 0
    assert await load_demo_projects(session, summary) == 0
