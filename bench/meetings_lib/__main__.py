"""``bench/meetings``: joint meetings with their members, compiled against the resolvers.

1. A database of its own (``gridweave_bench_meetings``), migrated, the city demo loaded once, and
   then a joint meeting in every community that has none (the demo gives the featured street
   its meetings only): up to 8 of its co-resident units (other organizations when it has none),
   a rotation (one member in three meetings leaves last quarter: a second rotation row), a
   sitting per quarter, an agreement per member and a few activities per partner. ``ANALYZE``.
2. Each query is sent in-process (httpx, ASGI) to a gridweave app with the compiled read path and
   to one without (strawberry and its DataLoaders), the two answers must be equal, then
   ``--repeat`` timed requests each, alternately; the compiled statement alone is timed through
   asyncpg (the floor: what PostgreSQL spends), and its plan is printed (indexes used,
   sequential scans) from ``EXPLAIN (ANALYZE, FORMAT JSON)``.
Prints medians and the ratios, and the load average before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
from asgi_lifespan import LifespanManager
from sqlalchemy import text

from bench.meetings_lib.queries import MEETINGS_DASHBOARD
from bench.readpath_lib.util import out, progress
from gridweave.db import (
    asyncpg_dsn,
    ensure_database,
    make_engine,
    make_sessionmaker,
    server_database_url,
)
from gridweave.settings import Settings

MEMBERS_PER_MEETING = 8
PERIODS = "ARRAY['QUARTER','QUARTER','HALF_YEAR','QUARTER','MONTH','YEAR']"
SEED_SQL = [
    # a meeting in every community without one, started with the oldest of the demo's quarters
    f"""INSERT INTO joint_meetings (name, area_id, area_path, rotation_period, starts_on)
    SELECT a.name || '党建联席会议', a.id, a.path, ({PERIODS})[1 + a.id % 6], :start
    FROM areas a WHERE a.level = 'COMMUNITY'
    AND NOT EXISTS (SELECT 1 FROM joint_meetings m WHERE m.area_id = a.id)""",
    f"""INSERT INTO joint_meeting_members (meeting_id, organization_id, joined_on)
    SELECT m.id, o.id, m.starts_on FROM joint_meetings m
    CROSS JOIN LATERAL (SELECT o.id FROM organizations o
      WHERE o.area_path ~>=~ m.area_path AND o.area_path ~<~ (left(m.area_path, -1) || '0')
      ORDER BY o.kind <> 'CO_RESIDENT_UNIT', o.id LIMIT {MEMBERS_PER_MEETING}) o
    WHERE m.id > :last""",
    """INSERT INTO convener_rotations (meeting_id, effective_from, member_ids, anchor)
    SELECT meeting_id, min(joined_on), array_agg(organization_id ORDER BY id), 0
    FROM joint_meeting_members WHERE meeting_id > :last GROUP BY meeting_id""",
    # one member in three meetings leaves last quarter: ranks close (a second rotation row)
    """WITH leaving AS (
      SELECT DISTINCT ON (mm.meeting_id) mm.id, mm.meeting_id, mm.organization_id
      FROM joint_meeting_members mm WHERE mm.meeting_id > :last AND mm.meeting_id % 3 = 0
      ORDER BY mm.meeting_id, mm.id OFFSET 0),
    gone AS (UPDATE joint_meeting_members mm SET left_on = :left FROM leaving l
      WHERE mm.id = l.id RETURNING l.meeting_id, l.organization_id)
    INSERT INTO convener_rotations (meeting_id, effective_from, member_ids, anchor)
    SELECT r.meeting_id, :left, array_remove(r.member_ids, g.organization_id), 0
    FROM gone g JOIN convener_rotations r ON r.meeting_id = g.meeting_id
    WHERE cardinality(r.member_ids) > 1""",
    """INSERT INTO meeting_sessions (meeting_id, held_on, convener_id, resolutions)
    SELECT r.meeting_id, q.day + (r.meeting_id % 40)::int,
      r.member_ids[1 + q.n % cardinality(r.member_ids)],
      ARRAY['通过本季度共驻共建项目清单', '确定辖区困难群众走访慰问安排']
    FROM convener_rotations r CROSS JOIN unnest(CAST(:quarters AS date[])) WITH ORDINALITY q(day, n)
    WHERE r.meeting_id > :last AND r.effective_from = (SELECT min(effective_from)
      FROM convener_rotations f WHERE f.meeting_id = r.meeting_id)
    AND q.day + (r.meeting_id % 40)::int <= :today""",
    """INSERT INTO meeting_session_attendees (session_id, organization_id)
    SELECT id, convener_id FROM meeting_sessions WHERE meeting_id > :last""",
    """INSERT INTO agreements (title, community_id, community_path, partner_id, joint_meeting_id,
      starts_on, ends_on, min_activities_per_quarter)
    SELECT DISTINCT ON (m.area_id, mm.organization_id) '共驻共建协议', m.area_id, m.area_path,
      mm.organization_id, m.id, m.starts_on, m.starts_on + 730, 1 + mm.id % 2
    FROM joint_meeting_members mm JOIN joint_meetings m ON m.id = mm.meeting_id
    WHERE m.id > :last ORDER BY m.area_id, mm.organization_id""",
    """INSERT INTO agreement_commitments (agreement_id, position, description, quantity, unit)
    SELECT id, 0, '志愿服务时长', 40 + id % 300, 'HOURS' FROM agreements
    WHERE joint_meeting_id > :last""",
    """INSERT INTO service_activities (organization_id, area_id, area_path, category_id,
      occurred_on, hours, beneficiaries, source)
    SELECT a.partner_id, a.community_id, a.community_path,
      (SELECT id FROM service_categories ORDER BY id LIMIT 1),
      q.day + ((a.id * 7 + n) % 85)::int, 2, 10, 'DEMO'
    FROM agreements a CROSS JOIN unnest(CAST(:quarters AS date[])) q(day)
    CROSS JOIN generate_series(1, 1 + a.id % 3) n
    WHERE a.joint_meeting_id > :last AND q.day + ((a.id * 7 + n) % 85)::int <= :today""",
]


async def prepare(url: str, settings: Settings) -> dict[str, int]:
    """The dataset (made once) and the ids the queries need: the featured street, the district
    above it, and a bench user with an ADMIN grant (made per run)."""
    from gridweave.db import unit_of_work
    from gridweave.demo import load_demo
    from gridweave.demo.generator import FEATURED_STREET_CODE
    from gridweave.demo.meetings import Quarters
    from gridweave.migrate import upgrade
    from gridweave.services.calendar import today

    await ensure_database(url)
    await asyncio.to_thread(upgrade, url)
    engine = make_engine(url, settings)
    try:
        sm = make_sessionmaker(engine)
        async with unit_of_work(sm) as s:
            t = time.perf_counter()
            if (await load_demo(s, scale="city")).created:
                progress(f"city demo loaded in {time.perf_counter() - t:.0f} s")
        async with unit_of_work(sm) as s:
            street, district = (
                await s.execute(
                    text("SELECT id, parent_id FROM areas WHERE code = :c"),
                    {"c": FEATURED_STREET_CODE},
                )
            ).one()
            last = int(await s.scalar(text("SELECT coalesce(max(id), 0) FROM joint_meetings")))
            day = today()
            q = Quarters.around(day)
            values = {
                "start": q.past[0],
                "left": q.past[3] + timedelta(days=20),
                "quarters": [*q.past, q.current],
                "today": day,
                "last": last,
            }
            t = time.perf_counter()
            for statement in SEED_SQL:
                names = [k for k in values if f":{k}" in statement]
                await s.execute(text(statement), {k: values[k] for k in names})
            added = int(
                await s.scalar(
                    text("SELECT count(*) FROM joint_meetings WHERE id > :l"), {"l": last}
                )
            )
            if added:
                progress(f"{added} joint meetings added in {time.perf_counter() - t:.0f} s")
            for table in (
                "joint_meetings",
                "joint_meeting_members",
                "convener_rotations",
                "meeting_sessions",
                "agreements",
                "service_activities",
            ):
                await s.execute(text(f"ANALYZE {table}"))
            user = await s.scalar(
                text(
                    "INSERT INTO users (email, display_name, password_hash) VALUES"
                    " ('bench-' || gen_random_uuid() || '@bench', '联席会议看板', 'x') RETURNING id"
                )
            )
            await s.execute(
                text("INSERT INTO role_grants (user_id, role) VALUES (:u, 'ADMIN')"), {"u": user}
            )
    finally:
        await engine.dispose()
    return {"street": int(street), "district": int(district), "user": int(user)}


def plan_summary(plan: dict[str, Any]) -> tuple[set[str], set[str]]:
    """Index names used, and relations read by a sequential scan, anywhere in the plan."""
    indexes: set[str] = set()
    scans: set[str] = set()

    def walk(node: dict[str, Any]) -> None:
        if "Index Name" in node:
            indexes.add(node["Index Name"])
        if node.get("Node Type") == "Seq Scan":
            scans.add(node.get("Relation Name", "?"))
        for child in node.get("Plans", ()):
            walk(child)

    walk(plan["Plan"])
    return indexes, scans


Result = tuple[str, float, float, float, int, tuple[set[str], set[str]]]


class Case:
    """One query sent to both apps, and its compiled statement run alone."""

    def __init__(self, name: str, variables: dict[str, Any], token: str) -> None:
        self.name = name
        self.variables = variables
        self.body = {"query": MEETINGS_DASHBOARD, "variables": variables}
        self.headers = {"Authorization": f"Bearer {token}"}

    async def post(self, client: httpx.AsyncClient) -> Any:
        answer = (await client.post("/graphql", json=self.body, headers=self.headers)).json()
        if "errors" in answer:
            raise SystemExit(f"{self.name}: {answer['errors']}")
        return answer

    async def timed(self, client: httpx.AsyncClient) -> float:
        t = time.perf_counter()
        await self.post(client)
        return time.perf_counter() - t


async def statement_alone(
    reads: Any, conn: asyncpg.Connection, case: Case, user: int, repeat: int
) -> tuple[float, tuple[set[str], set[str]]]:
    """The compiled statement through asyncpg (median of ``repeat`` after one), and its plan."""
    from gridweave.compiled.variables import coerce_variables

    prepared = reads.prepare(MEETINGS_DASHBOARD, None)
    coerced = coerce_variables(reads.schema, prepared.operation, case.variables)
    statement = reads.statement(prepared, coerced)
    params = statement.params(user, coerced)
    times = []
    for _ in range(repeat + 1):
        t = time.perf_counter()
        await conn.fetchval(statement.sql, *params)
        times.append(time.perf_counter() - t)
    explained = await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement.sql}", *params)
    return statistics.median(times[1:]), plan_summary(json.loads(explained)[0])


async def measure(url: str, settings: Settings, ids: dict[str, int], repeat: int) -> list[Result]:
    from gridweave.app import create_app
    from gridweave.ids import encode_id
    from gridweave.security import issue_token

    bench_settings = settings.model_copy(update={"max_cost": 10_000_000})
    token = issue_token(settings, ids["user"])
    cases = [
        Case("street", {"area": encode_id("Area", ids["street"]), "first": 20}, token),
        Case("district", {"area": encode_id("Area", ids["district"]), "first": 100}, token),
    ]
    compiled_app = create_app(bench_settings, database_url=url)
    plain = bench_settings.model_copy(update={"compiled_reads": False})
    plain_app = create_app(plain, database_url=url)
    results = []
    async with (
        LifespanManager(compiled_app) as c,
        LifespanManager(plain_app) as p,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=c.app), base_url="http://b") as cc,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=p.app), base_url="http://b") as pc,
    ):
        served = compiled_app.state.compiled_reads
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            for case in cases:
                before = served.answered
                fast, slow = await case.post(cc), await case.post(pc)
                if served.answered != before + 1:
                    raise SystemExit(f"{case.name}: not answered by the compiled path")
                if fast != slow:
                    raise SystemExit(f"{case.name}: the compiled and resolver answers differ")
                meetings = fast["data"]["jointMeetings"]
                members = sum(len(m["members"]) for m in meetings)
                progress(f"{case.name}: {len(meetings)} meetings, {members} members")
                compiled, resolvers = [], []
                for _ in range(repeat):
                    compiled.append(await case.timed(cc))
                    resolvers.append(await case.timed(pc))
                sql, plan = await statement_alone(served.reads, conn, case, ids["user"], repeat)
                name = f"{case.name}: {len(meetings)} meetings, {members} members"
                medians = statistics.median(compiled), statistics.median(resolvers)
                results.append((name, *medians, sql, len(json.dumps(fast)), plan))
        finally:
            await conn.close()
    return results


async def main() -> None:
    parser = argparse.ArgumentParser(prog="bench/meetings")
    parser.add_argument("--database", default="gridweave_bench_meetings")
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    settings = Settings()
    url = server_database_url(settings, args.database)
    ids = await prepare(url, settings)
    out(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    results = await measure(url, settings, ids, args.repeat)
    for name, compiled, resolvers, sql, size, (indexes, scans) in results:
        out(
            f"{name} ({size // 1024} KB), medians of {args.repeat}: compiled"
            f" {compiled * 1000:.1f} ms, resolvers {resolvers * 1000:.1f} ms"
            f" (resolvers/compiled {resolvers / compiled:.1f}), the compiled statement alone"
            f" {sql * 1000:.1f} ms"
        )
        out(f"  plan: indexes {', '.join(sorted(indexes))}")
        out(f"  plan: sequential scans of {', '.join(sorted(scans)) or 'nothing'}")
    out(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    asyncio.run(main())
