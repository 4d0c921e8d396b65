"""``bench/procurement``: a call with 300 bids and a panel of 30 on the city-scale demo graph.

1. A database of its own (``gridweave_bench_procurement``), migrated, the city demo loaded once.
2. A call (at the city) with 300 bids from seeded social organizations across the city, through
   the services; 30 evaluators, each a member of an organization, 6 of them deliberately tied to
   a bidder (its parent, a linked organization, the bidder itself). The call is closed.
3. ``assignEvaluators`` (the service the mutation calls: one graph load, networkx, the writes),
   timed in rolled-back transactions, against hand-written SQL doing the same work in the same
   run: the pairs within two steps by one recursive query over the tie table, and the same
   inserts. Both must find the same conflicts.
4. The panel assigned for real and 8,700-odd reviews written in bulk; then ``ranking`` of the 300
   bids with reviews, scores and bidders nested, through GraphQL as the issuer's coordinator
   (three pages of 100), against one hand-written SQL statement building the same JSON. Both must
   rank the bids in the same order.
Prints medians of ``--repeat`` runs (default 5) and the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
from asgi_lifespan import LifespanManager
from sqlalchemy import text

from bench.readpath_lib.util import out, progress
from gridweave.db import (
    asyncpg_dsn,
    ensure_database,
    make_engine,
    make_sessionmaker,
    server_database_url,
)
from gridweave.settings import Settings

BIDS = 300
EVALUATORS = 30
SEED = 20261201

CONFLICTS_SQL = """
WITH RECURSIVE
ev(e, node) AS (
  SELECT user_id, organization_id FROM role_grants
  WHERE user_id = ANY($1::bigint[]) AND role = 'ORGANIZATION_MEMBER'),
edges(a, b, w) AS (
  SELECT id, parent_id, 2 FROM organizations WHERE parent_id IS NOT NULL
  UNION ALL SELECT parent_id, id, 2 FROM organizations WHERE parent_id IS NOT NULL
  UNION ALL SELECT source_id, target_id, 2 FROM organization_links
  UNION ALL SELECT target_id, source_id, 2 FROM organization_links
  UNION ALL SELECT organization_id, -meeting_id, 1 FROM joint_meeting_members WHERE left_on IS NULL
  UNION ALL SELECT -meeting_id, organization_id, 1 FROM joint_meeting_members WHERE left_on IS NULL
  UNION ALL SELECT partner_id, -(1000000000000 + community_id), 1 FROM agreements a
    WHERE a.terminated_on IS NULL AND a.ends_on >= current_date
  UNION ALL SELECT -(1000000000000 + community_id), partner_id, 1 FROM agreements a
    WHERE a.terminated_on IS NULL AND a.ends_on >= current_date
  UNION ALL SELECT id, -(1000000000000 + area_id), 1 FROM bodies
  UNION ALL SELECT -(1000000000000 + area_id), id, 1 FROM bodies),
bodies AS (
  SELECT o.id, o.area_id FROM organizations o
  WHERE o.kind IN ('PARTY_ORGANIZATION', 'SELF_GOVERNANCE_ORGANIZATION') AND EXISTS (
    SELECT 1 FROM agreements a WHERE a.community_id = o.area_id
    AND a.terminated_on IS NULL AND a.ends_on >= current_date)),
walk(e, node, w) AS (
  SELECT e, node, 0 FROM ev
  UNION
  SELECT walk.e, edges.b, walk.w + edges.w FROM walk JOIN edges ON edges.a = walk.node
  WHERE walk.w + edges.w <= 4)
SELECT DISTINCT walk.e AS evaluator_id, b.id AS bid_id FROM walk
JOIN bids b ON b.bidder_id = walk.node AND b.call_id = $2 AND b.status = 'SUBMITTED'
"""
BASELINE_WRITES = """
WITH conflicts AS (SELECT * FROM unnest($3::bigint[], $4::bigint[]) AS c(evaluator_id, bid_id)),
pairs AS (
  SELECT b.id AS bid_id, e AS evaluator_id FROM bids b CROSS JOIN unnest($1::bigint[]) AS e
  WHERE b.call_id = $2 AND b.status = 'SUBMITTED'
  AND NOT EXISTS (SELECT 1 FROM conflicts c WHERE c.bid_id = b.id AND c.evaluator_id = e)),
ins AS (INSERT INTO bid_assignments SELECT bid_id, evaluator_id FROM pairs RETURNING bid_id),
conf AS (INSERT INTO bid_conflicts SELECT bid_id, evaluator_id, 'conflict' FROM conflicts
  RETURNING 1)
SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM conf)
"""
RANKING_SQL = """
WITH r AS (
  SELECT b.id, b.title, b.amount, o.name AS bidder, b.seq,
    count(v.id) AS n, avg(v.total) AS mean, min(v.total) AS lo, max(v.total) AS hi,
    CASE WHEN count(v.id) >= 3 THEN (sum(v.total) - max(v.total) - min(v.total))
      / (count(v.id) - 2) ELSE avg(v.total) END AS trimmed
  FROM bids b JOIN organizations o ON o.id = b.bidder_id
  JOIN reviews v ON v.bid_id = b.id AND v.stage = 'PROPOSAL'
  WHERE b.call_id = $1 AND b.status = 'SUBMITTED' GROUP BY b.id, o.name)
SELECT json_agg(json_build_object(
  'id', r.id, 'title', r.title, 'amount', r.amount::text, 'bidder', r.bidder,
  'score', json_build_object('reviewCount', r.n, 'mean', round(r.mean, 4),
    'trimmedMean', round(r.trimmed, 4), 'min', r.lo, 'max', r.hi),
  'reviews', (SELECT json_agg(json_build_object('total', v.total, 'scores',
      (SELECT json_agg(json_build_object('criterionKey', s.criterion_key, 'score', s.score)
        ORDER BY s.position) FROM review_scores s WHERE s.review_id = v.id)) ORDER BY v.id)
    FROM reviews v WHERE v.bid_id = r.id AND v.stage = 'PROPOSAL'))
  ORDER BY r.trimmed DESC, r.mean DESC, r.amount, r.seq)::text
FROM r
"""
RANKING_QUERY = """query($id: ID!) { node(id: $id) { ... on ProcurementCall {
  a: ranking(first: 100) { ...B } b: ranking(first: 100, offset: 100) { ...B }
  c: ranking(first: 100, offset: 200) { ...B } } } }
fragment B on Bid { id title amount bidder { name }
  proposalScore { reviewCount mean trimmedMean min max grade }
  reviews { total scores { criterionKey score } } }"""


async def prepare(url: str, settings: Settings) -> None:
    from gridweave.demo import load_demo
    from gridweave.migrate import upgrade

    await ensure_database(url)
    await asyncio.to_thread(upgrade, url)
    engine = make_engine(url, settings)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            t = time.perf_counter()
            summary = await load_demo(session, scale="city")
            if summary.created:
                progress(f"city demo loaded in {time.perf_counter() - t:.0f} s")
    finally:
        await engine.dispose()


async def scenario(url: str, settings: Settings) -> dict[str, Any]:
    """The call, its bids and its panel (made once per run, in a fresh call)."""
    from gridweave.db import unit_of_work
    from gridweave.models import Role
    from gridweave.security import hash_password
    from gridweave.services import bids as bid_svc
    from gridweave.services import procurement as svc
    from gridweave.services.access import Actor, Grant

    rng = random.Random(SEED)
    engine = make_engine(url, settings)
    sm = make_sessionmaker(engine)
    admin = None
    try:
        async with unit_of_work(sm) as s:
            city_id, city_path = (
                await s.execute(text("SELECT id, path FROM areas WHERE parent_id IS NULL LIMIT 1"))
            ).one()
            admin_id = await s.scalar(
                text(
                    "INSERT INTO users (email, display_name, password_hash) VALUES"
                    " ('bench-' || gen_random_uuid() || '@bench', '采购协调员', :h) RETURNING id"
                ),
                {"h": hash_password("bench-password")},
            )
            await s.execute(
                text("INSERT INTO role_grants (user_id, role) VALUES (:u, 'ADMIN')"),
                {"u": admin_id},
            )
            issuer = await s.scalar(
                text(
                    "INSERT INTO organizations (name, kind, area_id, area_path)"
                    " VALUES ('市民政局', 'GOVERNMENT_DEPARTMENT', :a, :p) RETURNING id"
                ),
                {"a": city_id, "p": city_path},
            )
            candidates = list(
                (
                    await s.execute(
                        text(
                            "SELECT id, area_id FROM organizations WHERE kind IN"
                            " ('SOCIAL_ORGANIZATION', 'VOLUNTEER_TEAM') ORDER BY id"
                        )
                    )
                ).all()
            )
        admin = Actor(admin_id, (Grant(Role.ADMIN),))
        bidders = rng.sample(candidates, BIDS)
        now = datetime.now(UTC)

        class C:
            def __init__(self, key: str, weight: float, top: float) -> None:
                self.key, self.name, self.weight, self.max_score = key, key, weight, top

        async with unit_of_work(sm) as s:
            call = await svc.create_call(
                s,
                actor=admin,
                spec=svc.CallSpec(
                    title="全市困难群众帮扶服务",
                    issuer_id=issuer,
                    area_id=city_id,
                    category_codes=["elderly_care"],
                    total_budget=Decimal("20000000"),
                    opens_at=now - timedelta(hours=1),
                    closes_at=now + timedelta(days=30),
                    proposal_rubric=[C("plan", 0.5, 50), C("team", 0.3, 30), C("cost", 0.2, 20)],
                    performance_rubric=[C("outcome", 1.0, 100)],
                ),
            )
        t = time.perf_counter()
        for org_id, area_id in bidders:
            async with unit_of_work(sm) as s:
                await bid_svc.submit_bid(
                    s,
                    actor=admin,
                    spec=bid_svc.BidSpec(
                        call_id=call.id,
                        bidder_id=org_id,
                        title=f"服务方案 {org_id}",
                        summary="上门探访与个案服务。",
                        budget_lines=[
                            bid_svc.BudgetLineSpec("人员", Decimal(rng.randrange(20000, 120000))),
                            bid_svc.BudgetLineSpec("活动", Decimal("9999.99")),
                        ],
                        target_area_ids=[area_id],
                        indicators=[bid_svc.IndicatorSpec("服务人次", "人次", 500.0)],
                    ),
                )
        progress(f"{BIDS} bids submitted through the service in {time.perf_counter() - t:.1f} s")
        async with unit_of_work(sm) as s:
            # evaluators: members of random organizations; six tied to bidders on purpose
            tied = [bidders[i][0] for i in range(3)]
            parents = list(
                (
                    await s.scalars(
                        text(
                            "SELECT parent_id FROM organizations WHERE id = ANY(:ids)"
                            " AND parent_id IS NOT NULL LIMIT 2"
                        ),
                        {"ids": [b[0] for b in bidders]},
                    )
                ).all()
            )
            linked = list(
                (
                    await s.scalars(
                        text(
                            "SELECT source_id FROM organization_links WHERE target_id = ANY(:ids)"
                            " LIMIT 1"
                        ),
                        {"ids": [b[0] for b in bidders]},
                    )
                ).all()
            )
            homes = tied + parents + linked
            others = rng.sample(candidates, EVALUATORS - len(homes))
            homes += [o[0] for o in others]
            evaluators = []
            for i, org_id in enumerate(homes):
                uid = await s.scalar(
                    text(
                        "INSERT INTO users (email, display_name, password_hash) VALUES"
                        " (:e, :n, 'x') RETURNING id"
                    ),
                    {"e": f"bench-eval-{call.id}-{i}@bench", "n": f"专家{i}"},
                )
                await s.execute(
                    text("INSERT INTO role_grants (user_id, role) VALUES (:u, 'EVALUATOR');"),
                    {"u": uid},
                )
                await s.execute(
                    text(
                        "INSERT INTO role_grants (user_id, role, organization_id)"
                        " VALUES (:u, 'ORGANIZATION_MEMBER', :o)"
                    ),
                    {"u": uid, "o": org_id},
                )
                evaluators.append(uid)
            await s.execute(
                text(
                    "UPDATE procurement_calls SET opens_at = now() - interval '31 days',"
                    " closes_at = now() - interval '1 second' WHERE id = :c"
                ),
                {"c": call.id},
            )
    finally:
        await engine.dispose()
    return {"call": call.id, "admin": admin_id, "evaluators": evaluators, "admin_actor": admin}


async def time_assign(url: str, settings: Settings, sc: dict[str, Any], repeat: int) -> Any:
    from gridweave.services import reviews as review_svc

    engine = make_engine(url, settings)
    sm = make_sessionmaker(engine)
    ours: list[float] = []
    found: set[tuple[int, int]] = set()
    try:
        for _ in range(repeat):
            async with sm() as s:
                await s.begin()
                t = time.perf_counter()
                result = await review_svc.assign_evaluators(
                    s, actor=sc["admin_actor"], call_id=sc["call"], evaluator_ids=sc["evaluators"]
                )
                await s.flush()
                ours.append(time.perf_counter() - t)
                found = {
                    (c.evaluator_id, result.bid_ids_by_bidder[c.bidder_id])
                    for c in result.conflicts
                }
                await s.rollback()
    finally:
        await engine.dispose()
    conn = await asyncpg.connect(asyncpg_dsn(url))
    base: list[float] = []
    pairs: set[tuple[int, int]] = set()
    try:
        for _ in range(repeat):
            tr = conn.transaction()
            await tr.start()
            t = time.perf_counter()
            rows = await conn.fetch(CONFLICTS_SQL, sc["evaluators"], sc["call"])
            pairs = {(r["evaluator_id"], r["bid_id"]) for r in rows}
            await conn.fetchrow(
                BASELINE_WRITES,
                sc["evaluators"],
                sc["call"],
                [p[0] for p in pairs],
                [p[1] for p in pairs],
            )
            base.append(time.perf_counter() - t)
            await tr.rollback()
    finally:
        await conn.close()
    if found != pairs:
        raise SystemExit(f"conflicts differ: service {sorted(found)} vs SQL {sorted(pairs)}")
    return statistics.median(ours), statistics.median(base), len(found)


async def write_reviews(url: str, settings: Settings, sc: dict[str, Any]) -> int:
    from gridweave.db import unit_of_work
    from gridweave.services import reviews as review_svc

    engine = make_engine(url, settings)
    try:
        async with unit_of_work(make_sessionmaker(engine)) as s:
            await review_svc.assign_evaluators(
                s, actor=sc["admin_actor"], call_id=sc["call"], evaluator_ids=sc["evaluators"]
            )
    finally:
        await engine.dispose()
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        async with conn.transaction():
            n = await conn.fetchval(
                """WITH a AS (SELECT a.bid_id, a.evaluator_id, setseed(0.5) FROM bid_assignments a
                   JOIN bids b ON b.id = a.bid_id WHERE b.call_id = $1),
                   v AS (INSERT INTO reviews (bid_id, evaluator_id, stage, total, submitted_at)
                     SELECT bid_id, evaluator_id, 'PROPOSAL', 0, now() FROM a RETURNING id),
                   s AS (INSERT INTO review_scores (review_id, criterion_key, position, score)
                     SELECT v.id, k.key, k.pos, round((random() * k.top)::numeric, 1)
                     FROM v CROSS JOIN (VALUES ('plan', 0, 50), ('team', 1, 30), ('cost', 2, 20))
                     AS k(key, pos, top) RETURNING 1)
                   SELECT count(*) FROM v""",
                sc["call"],
            )
            await conn.execute(
                """UPDATE reviews r SET total = t.total FROM (
                     SELECT review_id, round(sum(CASE criterion_key
                       WHEN 'plan' THEN 0.5 * score / 50 WHEN 'team' THEN 0.3 * score / 30
                       ELSE 0.2 * score / 20 END) * 100, 4) AS total
                     FROM review_scores GROUP BY review_id) t WHERE t.review_id = r.id
                     AND r.bid_id IN (SELECT id FROM bids WHERE call_id = $1)""",
                sc["call"],
            )
            await conn.execute(
                "UPDATE bids SET proposal_reviews = reviews_due WHERE call_id = $1", sc["call"]
            )
            await conn.execute(
                "UPDATE procurement_calls SET reviews_pending = 0 WHERE id = $1", sc["call"]
            )
    finally:
        await conn.close()
    return int(n)


async def time_ranking(
    url: str, settings: Settings, sc: dict[str, Any], repeat: int
) -> tuple[float, float]:
    from gridweave.app import create_app
    from gridweave.ids import encode_id
    from gridweave.security import issue_token

    app = create_app(settings.model_copy(update={"max_cost": 10_000_000}), database_url=url)
    token = issue_token(settings, sc["admin"])
    call_gid = encode_id("ProcurementCall", sc["call"])
    ours: list[float] = []
    order: list[str] = []
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for i in range(repeat + 1):
                t = time.perf_counter()
                r = await client.post(
                    "/graphql",
                    json={"query": RANKING_QUERY, "variables": {"id": call_gid}},
                    headers={"Authorization": f"Bearer {token}"},
                )
                body = r.json()
                if i:  # the first run warms the process up
                    ours.append(time.perf_counter() - t)
                if "errors" in body:
                    raise SystemExit(f"ranking failed: {body['errors']}")
                node = body["data"]["node"]
                order = [b["id"] for page in ("a", "b", "c") for b in node[page]]
    conn = await asyncpg.connect(asyncpg_dsn(url))
    base: list[float] = []
    try:
        for i in range(repeat + 1):
            t = time.perf_counter()
            ranked = json.loads(await conn.fetchval(RANKING_SQL, sc["call"]))
            if i:
                base.append(time.perf_counter() - t)
    finally:
        await conn.close()
    expected = [encode_id("Bid", b["id"]) for b in ranked]
    if order != expected or len(order) != BIDS:
        raise SystemExit("the GraphQL ranking and the SQL ranking differ")
    return statistics.median(ours), statistics.median(base)


async def main() -> None:
    parser = argparse.ArgumentParser(prog="bench/procurement")
    parser.add_argument("--database", default="gridweave_bench_procurement")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    settings = Settings()
    url = server_database_url(settings, args.database)
    await prepare(url, settings)
    sc = await scenario(url, settings)
    ours, base, conflicts = await time_assign(url, settings, sc, args.repeat)
    out(
        f"assignEvaluators ({EVALUATORS} evaluators x {BIDS} bids, {conflicts} conflicts):"
        f" service {ours * 1000:.0f} ms = {ours / base:.1f}x hand-written SQL"
        f" ({base * 1000:.0f} ms)"
    )
    reviews = await write_reviews(url, settings, sc)
    ours, base = await time_ranking(url, settings, sc, args.repeat)
    out(
        f"ranking ({BIDS} bids, {reviews} reviews nested, GraphQL as the issuer):"
        f" {ours * 1000:.0f} ms = {ours / base:.1f}x one SQL statement ({base * 1000:.0f} ms)"
    )


if __name__ == "__main__":
    asyncio.run(main())
