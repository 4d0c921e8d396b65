"""Service projects and claims: the status a project shows as its claims move, each refusal (with
its code, writing nothing), the constraints that hold when a service is bypassed, and the
service activity a completion report writes in the same transaction."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from gridweave.db import Sessionmaker, asyncpg_dsn
from gridweave.errors import DomainError, ErrorCode
from gridweave.models import Claim, ServiceProject, ServiceProjectKind
from gridweave.models import ServiceProjectStatus as S
from gridweave.models.activities import ServiceActivity
from gridweave.services import claims
from gridweave.services import projects as svc
from gridweave.services.access import Actor, AreaScope
from gridweave.services.audit import verify_chain
from tests.factories import (
    admin_actor,
    coordinator_of,
    make_chain,
    make_org,
    make_project,
    member_of,
)
from tests.services.helpers import expect_refusal, run


async def status_of(sm: Sessionmaker, project_id: int) -> str:
    async with sm() as s:
        return str((await svc.project_rows(s, [project_id]))[project_id].status)


async def claim(sm: Sessionmaker, actor: Actor, project: Any, org: Any, slots: int = 1) -> int:
    row = await run(
        sm,
        lambda s: claims.claim(
            s, actor=actor, project_id=project.id, claimant_id=org.id, slots=slots
        ),
    )
    return int(row.id)


async def report(sm: Sessionmaker, actor: Actor, claim_id: int, **kw: Any) -> None:
    values: dict[str, Any] = {
        "summary": "送餐上门 12 次",
        "hours": Decimal("6.5"),
        "beneficiaries": 12,
        "completed_on": svc.region_today(),
    }
    values.update(kw)
    await run(sm, lambda s: claims.report_completion(s, actor=actor, claim_id=claim_id, **values))


@pytest.fixture
async def world(sessionmaker: Sessionmaker) -> dict[str, Any]:
    """A street with two communities; a residents' committee posting in the first; two
    organizations with a member each; the first community's coordinator."""
    city, street, community = await make_chain(sessionmaker, "CITY", "STREET", "COMMUNITY")
    from tests.factories import make_area

    other = await make_area(sessionmaker, level="COMMUNITY", parent=street)
    committee = await make_org(sessionmaker, area=community, kind="SELF_GOVERNANCE_ORGANIZATION")
    a = await make_org(sessionmaker, area=community)
    b = await make_org(sessionmaker, area=community)
    return {
        "street": street,
        "community": community,
        "other": other,
        "committee": committee,
        "a": a,
        "b": b,
        "member_a": await member_of(sessionmaker, a),
        "member_b": await member_of(sessionmaker, b),
        "coordinator": await coordinator_of(sessionmaker, community),
        "other_coordinator": await coordinator_of(sessionmaker, other),
    }


async def test_status_follows_the_claims_from_open_to_verified(
    sessionmaker: Sessionmaker, world: dict[str, Any]
) -> None:
    w = world
    project_id = await run(
        sessionmaker,
        lambda s: svc.post_project(
            s,
            actor=w["coordinator"],
            title="  陪老人看病  ",
            description="每周二上午",
            kind=ServiceProjectKind.SERVICE_POST,
            category_code="elderly_care",
            area_id=w["community"].id,
            posted_by_id=w["committee"].id,
            slots=2,
        ),
    )
    async with sessionmaker() as s:
        project = await s.get(ServiceProject, project_id)
    assert project is not None
    assert project.title == "陪老人看病"
    assert await status_of(sessionmaker, project_id) == S.OPEN

    first = await claim(sessionmaker, w["member_a"], project, w["a"])
    assert await status_of(sessionmaker, project_id) == S.PARTIALLY_CLAIMED
    second = await claim(sessionmaker, w["member_b"], project, w["b"])
    assert await status_of(sessionmaker, project_id) == S.CLAIMED

    # a withdrawn claim frees its place, and the organization may claim again
    await run(sessionmaker, lambda s: claims.withdraw(s, actor=w["member_b"], claim_id=second))
    assert await status_of(sessionmaker, project_id) == S.PARTIALLY_CLAIMED
    second = await claim(sessionmaker, w["member_b"], project, w["b"])

    await report(sessionmaker, w["member_a"], first)
    assert await status_of(sessionmaker, project_id) == S.CLAIMED  # one claim still active
    await report(sessionmaker, w["member_b"], second, hours=Decimal("2"))
    assert await status_of(sessionmaker, project_id) == S.COMPLETED

    await run(
        sessionmaker, lambda s: claims.verify(s, actor=w["coordinator"], claim_id=first, rating=5)
    )
    assert await status_of(sessionmaker, project_id) == S.COMPLETED
    await run(
        sessionmaker, lambda s: claims.verify(s, actor=w["coordinator"], claim_id=second, rating=3)
    )
    assert await status_of(sessionmaker, project_id) == S.VERIFIED

    async with sessionmaker() as s:
        row = (await svc.project_rows(s, [project_id]))[project_id]
        assert row.claimed_slots == 2
        ratings = (await s.scalars(select(Claim.rating).order_by(Claim.id))).all()
        assert ratings == [5, None, 3]  # a's, b's withdrawn claim, b's second
        assert (await verify_chain(s)).valid


async def test_a_report_writes_its_service_activity_in_the_same_transaction(
    sessionmaker: Sessionmaker, world: dict[str, Any]
) -> None:
    w = world
    project = await make_project(
        sessionmaker, area=w["community"], poster=w["committee"], category="health"
    )
    claim_id = await claim(sessionmaker, w["member_a"], project, w["a"])
    yesterday = svc.region_today() - timedelta(days=1)

    # a report whose date lies before the claim is refused: no activity, claim still active
    refused = await expect_refusal(
        sessionmaker,
        lambda s: claims.report_completion(
            s,
            actor=w["member_a"],
            claim_id=claim_id,
            summary="x",
            hours=Decimal(1),
            beneficiaries=1,
            completed_on=yesterday,
        ),
    )
    assert refused.code is ErrorCode.VALIDATION
    assert refused.field == ["input", "completedOn"]

    await report(sessionmaker, w["member_a"], claim_id, hours=Decimal("3.25"), beneficiaries=40)
    async with sessionmaker() as s:
        activity = (await s.scalars(select(ServiceActivity))).one()
        assert (activity.organization_id, activity.area_id) == (w["a"].id, w["community"].id)
        assert activity.hours == Decimal("3.25")
        assert activity.beneficiaries == 40
        assert (activity.source, activity.source_id) == ("CLAIM", claim_id)
        assert activity.occurred_on == svc.region_today()
        assert (await s.get(Claim, claim_id)).status == "COMPLETED"  # type: ignore[union-attr]


async def test_refusals_carry_their_code_and_write_nothing(
    sessionmaker: Sessionmaker, world: dict[str, Any]
) -> None:
    w = world
    one = await make_project(sessionmaker, area=w["community"], poster=w["committee"])
    taken = await claim(sessionmaker, w["member_a"], one, w["a"])
    cancelled = await make_project(sessionmaker, area=w["community"], poster=w["committee"])
    await run(
        sessionmaker,
        lambda s: svc.cancel_project(
            s, actor=w["coordinator"], project_id=cancelled.id, reason="活动取消"
        ),
    )
    expired = await make_project(
        sessionmaker,
        area=w["community"],
        poster=w["committee"],
        slots=3,
        deadline=svc.region_today() - timedelta(days=1),
    )
    elsewhere = await make_project(sessionmaker, area=w["other"], poster=w["committee"])

    def claim_call(actor: Actor, project: Any, org: Any, slots: int = 1) -> Any:
        return lambda s: claims.claim(
            s, actor=actor, project_id=project.id, claimant_id=org.id, slots=slots
        )

    def report_call(actor: Actor, claim_id: int, **kw: Any) -> Any:
        values: dict[str, Any] = {
            "summary": "完成",
            "hours": Decimal(1),
            "beneficiaries": 1,
            "completed_on": svc.region_today(),
        }
        values.update(kw)
        return lambda s: claims.report_completion(s, actor=actor, claim_id=claim_id, **values)

    cases: list[tuple[Any, ErrorCode, list[str] | None]] = [
        (
            claim_call(w["member_a"], one, w["a"]),
            ErrorCode.ALREADY_CLAIMED,
            ["input", "claimantId"],
        ),
        (claim_call(w["member_b"], one, w["b"]), ErrorCode.NO_SLOTS_LEFT, ["input", "projectId"]),
        (claim_call(w["member_b"], cancelled, w["b"]), ErrorCode.INVALID_STATE, None),
        (claim_call(w["member_b"], expired, w["b"]), ErrorCode.INVALID_STATE, None),
        (claim_call(w["member_b"], expired, w["b"], slots=0), ErrorCode.VALIDATION, None),
        (claim_call(w["member_b"], one, w["a"]), ErrorCode.FORBIDDEN, ["input", "claimantId"]),
        (claim_call(w["member_a"], elsewhere, w["a"]), ErrorCode.NOT_FOUND, ["input", "projectId"]),
        (
            lambda s: claims.withdraw(s, actor=w["member_b"], claim_id=taken),
            ErrorCode.FORBIDDEN,
            ["input", "claimId"],
        ),
        (report_call(w["member_a"], taken, hours=Decimal(-1)), ErrorCode.VALIDATION, None),
        (report_call(w["member_a"], taken, hours=Decimal("1.001")), ErrorCode.VALIDATION, None),
        (report_call(w["member_a"], taken, beneficiaries=-3), ErrorCode.VALIDATION, None),
        (
            report_call(w["member_a"], taken, completed_on=svc.region_today() + timedelta(days=1)),
            ErrorCode.VALIDATION,
            ["input", "completedOn"],
        ),
        (report_call(w["member_b"], taken), ErrorCode.FORBIDDEN, None),
        (
            lambda s: claims.verify(s, actor=w["coordinator"], claim_id=taken, rating=4),
            ErrorCode.INVALID_STATE,
            ["input", "claimId"],
        ),
        (
            lambda s: claims.verify(s, actor=w["coordinator"], claim_id=taken, rating=6),
            ErrorCode.VALIDATION,
            ["input", "rating"],
        ),
        (
            lambda s: claims.verify(s, actor=w["member_a"], claim_id=taken, rating=5),
            ErrorCode.FORBIDDEN,
            None,
        ),
        (
            lambda s: claims.verify(s, actor=w["other_coordinator"], claim_id=taken, rating=5),
            ErrorCode.NOT_FOUND,
            ["input", "claimId"],
        ),
        (
            lambda s: svc.cancel_project(
                s, actor=w["other_coordinator"], project_id=one.id, reason="x"
            ),
            ErrorCode.FORBIDDEN,
            None,
        ),
        (
            lambda s: svc.cancel_project(
                s, actor=w["coordinator"], project_id=cancelled.id, reason="again"
            ),
            ErrorCode.INVALID_STATE,
            None,
        ),
        (
            lambda s: svc.cancel_project(s, actor=w["coordinator"], project_id=one.id, reason=" "),
            ErrorCode.VALIDATION,
            ["input", "reason"],
        ),
        (
            lambda s: svc.post_project(
                s,
                actor=w["other_coordinator"],
                title="t",
                description="d",
                kind=ServiceProjectKind.PROBLEM,
                category_code="health",
                area_id=w["community"].id,
                posted_by_id=w["committee"].id,
            ),
            ErrorCode.FORBIDDEN,
            None,
        ),
        (
            lambda s: svc.post_project(
                s,
                actor=w["coordinator"],
                title="t",
                description="d",
                kind=ServiceProjectKind.PROBLEM,
                category_code="health",
                area_id=w["community"].id,
                posted_by_id=w["committee"].id,
                deadline=date(2020, 1, 1),
            ),
            ErrorCode.VALIDATION,
            ["input", "deadline"],
        ),
        (
            lambda s: svc.post_project(
                s,
                actor=w["coordinator"],
                title="t",
                description="d",
                kind=ServiceProjectKind.PROBLEM,
                category_code="no_such",
                area_id=w["community"].id,
                posted_by_id=w["committee"].id,
                slots=10_001,
            ),
            ErrorCode.VALIDATION,
            ["input", "slots"],
        ),
    ]
    for call, code, field in cases:
        error = await expect_refusal(sessionmaker, call)
        assert error.code is code, (code, error.message)
        if field is not None:
            assert error.field == field, (code, error.message)


async def test_a_status_filter_agrees_with_the_status_shown(
    sessionmaker: Sessionmaker, world: dict[str, Any]
) -> None:
    w = world
    admin = await admin_actor(sessionmaker)
    today = svc.region_today()
    made: dict[str, int] = {}
    made["OPEN"] = (await make_project(sessionmaker, area=w["community"], poster=w["a"])).id
    partial = await make_project(sessionmaker, area=w["community"], poster=w["a"], slots=2)
    await claim(sessionmaker, admin, partial, w["a"])
    made["PARTIALLY_CLAIMED"] = partial.id
    full = await make_project(sessionmaker, area=w["community"], poster=w["a"])
    full_claim = await claim(sessionmaker, admin, full, w["a"])
    made["CLAIMED"] = full.id
    done = await make_project(sessionmaker, area=w["community"], poster=w["a"])
    await report(sessionmaker, admin, await claim(sessionmaker, admin, done, w["a"]))
    made["COMPLETED"] = done.id
    verified = await make_project(sessionmaker, area=w["community"], poster=w["a"])
    v = await claim(sessionmaker, admin, verified, w["a"])
    await report(sessionmaker, admin, v)
    await run(sessionmaker, lambda s: claims.verify(s, actor=admin, claim_id=v, rating=4))
    made["VERIFIED"] = verified.id
    gone = await make_project(sessionmaker, area=w["community"], poster=w["a"])
    await run(
        sessionmaker, lambda s: svc.cancel_project(s, actor=admin, project_id=gone.id, reason="r")
    )
    made["CANCELLED"] = gone.id
    made["EXPIRED"] = (
        await make_project(
            sessionmaker,
            area=w["community"],
            poster=w["a"],
            slots=2,
            deadline=today - timedelta(days=1),
        )
    ).id
    # the deadline day itself still takes claims
    today_deadline = await make_project(
        sessionmaker, area=w["community"], poster=w["a"], deadline=today
    )

    async with sessionmaker() as s:
        everything = AreaScope(None)
        for status in S:
            flt = svc.ProjectFilter(scope=everything, status=status)
            rows = await svc.list_projects(s, flt, before_id=None, limit=50)
            expected = [made[status.value]] + ([today_deadline.id] if status is S.OPEN else [])
            assert sorted(r.id for r in rows) == sorted(expected), status
            assert {r.status for r in rows} == {status.value}
            assert await svc.count_projects(s, flt) == len(expected)
    assert full_claim > 0


async def test_the_database_holds_every_rule_when_the_service_is_bypassed(
    sessionmaker: Sessionmaker, database_url: str, world: dict[str, Any]
) -> None:
    w = world
    project = await make_project(sessionmaker, area=w["community"], poster=w["committee"], slots=2)
    cancelled = await make_project(sessionmaker, area=w["community"], poster=w["committee"])
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    insert = "INSERT INTO claims (project_id, claimant_id, slots) VALUES ($1, $2, $3) RETURNING id"
    try:
        first = await conn.fetchval(insert, project.id, w["a"].id, 1)
        assert (
            await conn.fetchval(
                "SELECT claimed_slots FROM service_projects WHERE id = $1", project.id
            )
            == 1
        )
        with pytest.raises(asyncpg.CheckViolationError, match="claimed_within_slots"):
            await conn.execute(insert, project.id, w["b"].id, 2)  # 3 places of 2
        with pytest.raises(asyncpg.UniqueViolationError, match="one_live_per_claimant"):
            await conn.execute(insert, project.id, w["a"].id, 1)  # a second live claim
        await conn.execute(
            "UPDATE service_projects SET cancelled_at = now(), cancel_reason = 'x' WHERE id = $1",
            cancelled.id,
        )
        with pytest.raises(asyncpg.CheckViolationError, match="takes no more claims"):
            await conn.execute(insert, cancelled.id, w["a"].id, 1)
        await conn.execute(
            "UPDATE claims SET status = 'COMPLETED', report_summary = 's', report_hours = 1,"
            " report_beneficiaries = 1, completed_on = current_date - 1, reported_at = now()"
            " WHERE id = $1",
            first,
        )
        with pytest.raises(asyncpg.CheckViolationError, match="from COMPLETED to ACTIVE"):
            await conn.execute(
                "UPDATE claims SET status = 'ACTIVE', report_summary = NULL, report_hours = NULL,"
                " report_beneficiaries = NULL, completed_on = NULL, reported_at = NULL"
                " WHERE id = $1",
                first,
            )
        with pytest.raises(asyncpg.CheckViolationError, match="rating_range"):
            await conn.execute(
                "UPDATE claims SET status = 'VERIFIED', rating = 9, verified_at = now()"
                " WHERE id = $1",
                first,
            )
        with pytest.raises(asyncpg.RestrictViolationError):
            await conn.execute("DELETE FROM claims WHERE id = $1", first)
        # withdrawing through SQL frees the place too: the trigger keeps the counters
        second = await conn.fetchval(insert, project.id, w["b"].id, 1)
        await conn.execute(
            "UPDATE claims SET status = 'WITHDRAWN', withdrawn_at = now() WHERE id = $1", second
        )
        counts = await conn.fetchrow(
            "SELECT claimed_slots, active_claims, reported_claims FROM service_projects"
            " WHERE id = $1",
            project.id,
        )
        assert tuple(counts) == (1, 0, 1)
    finally:
        await conn.close()
    async with sessionmaker() as s:
        assert await s.scalar(select(func.count()).select_from(Claim)) == 2


async def _claim_waiting_on(conn: asyncpg.Connection) -> int:
    """The pid of the gridweave backend waiting on a lock."""
    for _ in range(500):
        pid = await conn.fetchval(
            "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND application_name = 'gridweave'"
        )
        if pid is not None:
            return int(pid)
        await asyncio.sleep(0.01)
    raise AssertionError("the claim never waited for the project's lock")


@pytest.mark.parametrize("fate", ["cancelled meanwhile", "connection lost"])
async def test_a_claim_that_waited_for_the_projects_lock_writes_nothing_when_it_loses(
    fate: str, sessionmaker: Sessionmaker, database_url: str
) -> None:
    """The claim's checks read the project unlocked; a cancellation that commits while the claim's
    write waits for the row, or the claim's connection killed while it waits, must leave no claim,
    no place taken and no ledger entry, with the chain intact and the next claim served."""
    _, community = await make_chain(sessionmaker, "STREET", "COMMUNITY")
    poster = await make_org(sessionmaker, area=community)
    team = await make_org(sessionmaker, area=community)
    other = await make_org(sessionmaker, area=community)
    admin = await admin_actor(sessionmaker)
    project = await make_project(sessionmaker, area=community, poster=poster, slots=2)
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        holder = conn.transaction()
        await holder.start()
        await conn.execute("SELECT 1 FROM service_projects WHERE id = $1 FOR UPDATE", project.id)
        if fate == "cancelled meanwhile":
            await conn.execute(
                "UPDATE service_projects SET cancelled_at = now(), cancel_reason = 'x'"
                " WHERE id = $1",
                project.id,
            )
        entries = await conn.fetchval("SELECT count(*) FROM audit_log")
        claiming = asyncio.create_task(
            run(
                sessionmaker,
                lambda s: claims.claim(s, actor=admin, project_id=project.id, claimant_id=team.id),
            )
        )
        pid = await _claim_waiting_on(conn)
        if fate == "connection lost":
            assert await conn.fetchval("SELECT pg_terminate_backend($1)", pid)
            with pytest.raises(DBAPIError):
                await claiming
            await holder.rollback()
        else:
            await holder.commit()
            with pytest.raises(DomainError) as refused:
                await claiming
            assert refused.value.code == ErrorCode.INVALID_STATE
            assert "takes no more claims" in refused.value.message  # the trigger, not the check
        assert await conn.fetchval("SELECT count(*) FROM audit_log") == entries
        assert await conn.fetchval("SELECT count(*) FROM claims") == 0
        assert (
            await conn.fetchval(
                "SELECT claimed_slots FROM service_projects WHERE id = $1", project.id
            )
            == 0
        )
    finally:
        await conn.close()
    async with sessionmaker() as s:
        assert (await verify_chain(s)).valid
    if fate == "connection lost":
        new = await run(
            sessionmaker,
            lambda s: claims.claim(s, actor=admin, project_id=project.id, claimant_id=other.id),
        )
        assert new.status == "ACTIVE"
        async with sessionmaker() as s:
            assert (await verify_chain(s)).valid
