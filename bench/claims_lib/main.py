"""bench/claims: claim throughput, what the ledger's lock costs, event latency, the project board.

Every figure is measured against a baseline in the same run (see bench/README.md, "bench/claims").
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson

from bench.claims_lib.client import Http, Subscriber, body
from bench.readpath_lib import servers as srv
from bench.readpath_lib.dataset import bench_url
from bench.readpath_lib.util import BenchError, out, progress
from gridweave.db import asyncpg_dsn, ensure_database
from gridweave.ids import encode_id
from gridweave.migrate import upgrade
from gridweave.security import hash_password, issue_token
from gridweave.settings import Settings

CLAIM = (
    "mutation Claim($p: ID!, $c: ID!) { claimServiceProject(input: {projectId: $p,"
    " claimantId: $c}) { claim { id } userErrors { code } } }"
)
BOARD = (
    "query Board($area: ID!, $first: Int) { serviceProjects(areaId: $area, first: $first) {"
    " totalCount edges { node { id title status slots claimedSlots"
    " claims { id status slots claimant { id name } } } } } }"
)
EVENTS = (
    "subscription Events($area: ID!) { serviceProjectEvents(areaId: $area) {"
    " kind at claim { id } project { id claimedSlots status } } }"
)
CLAIMANTS = 1_100
POOL = "15"  # gridweave: 15 + 5 overflow = 20 connections, the baseline's asyncpg pool max


@dataclass
class Plan:
    database: str
    repetitions: int
    clients: int
    places: int
    subscribers: int
    events: int
    board_seconds: float


@dataclass
class Data:
    dsn: str
    url: str
    token: str
    secret: str
    city: int
    claims_area: int
    claims_path: str
    board_area: int
    poster: int
    claimants: list[int]
    user_id: int


@dataclass
class Throughput:
    label: str
    seconds: float
    accepted: int
    answered: int
    errors: int
    refused: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.accepted / self.seconds if self.seconds else 0.0


def parse(argv: Sequence[str] | None) -> Plan:
    p = argparse.ArgumentParser(prog="bench/claims", description=__doc__)
    p.add_argument("--database", default="gridweave_bench_claims")
    p.add_argument("--repetitions", type=int, default=3)
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--places", type=int, default=1_000)
    p.add_argument("--subscribers", type=int, default=100)
    p.add_argument("--events", type=int, default=200)
    p.add_argument("--board-seconds", type=float, default=8.0)
    p.add_argument("--quick", action="store_true", help="1 repetition, 50 events, 3 s boards")
    a = p.parse_args(argv)
    if a.quick:
        a.repetitions, a.events, a.board_seconds = 1, 50, 3.0
    return Plan(
        a.database, a.repetitions, a.clients, a.places, a.subscribers, a.events, a.board_seconds
    )


# ---- the dataset -------------------------------------------------------------------------------


async def _dataset(url: str, secret: str) -> Data:
    dsn = asyncpg_dsn(url)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        keep = {"service_categories", "alembic_version"}
        names = ", ".join(f'"{t[0]}"' for t in tables if t[0] not in keep)
        await conn.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
        await conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_projects (id bigint PRIMARY KEY, slots int NOT NULL,"
            " claimed int NOT NULL DEFAULT 0 CHECK (claimed <= slots))"
        )
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_claims (id bigserial PRIMARY KEY,"
            " project_id bigint NOT NULL REFERENCES bench_projects (id),"
            " claimant_id bigint NOT NULL, claimed_at timestamptz NOT NULL DEFAULT now(),"
            " UNIQUE (project_id, claimant_id))"
        )
        await conn.execute("TRUNCATE bench_claims, bench_projects")
        area = (
            "INSERT INTO areas (id, name, level, parent_id, path, households, population,"
            " elderly_living_alone, left_behind_children, disabled_households,"
            " hardship_households, mobile_population) VALUES ($1, $2, $3, $4, $5, 1000, 3000,"
            " 0, 0, 0, 0, 0)"
        )
        chain = [
            (1, "雅安市", "CITY", None),
            (2, "雨城区", "DISTRICT", 1),
            (3, "西城街道", "STREET", 2),
        ]
        paths = {}
        for pk, name, level, parent in chain:
            paths[pk] = (paths[parent] if parent else "/") + f"{pk}/"
            await conn.execute(area, pk, name, level, parent, paths[pk])
        for pk, name in ((4, "认领社区"), (5, "看板社区")):
            paths[pk] = paths[3] + f"{pk}/"
            await conn.execute(area, pk, name, "COMMUNITY", 3, paths[pk])
        await conn.execute("SELECT setval('areas_id_seq', 100)")
        org = (
            "INSERT INTO organizations (name, kind, area_id, area_path) VALUES ($1, $2, $3, $4)"
            " RETURNING id"
        )
        poster = await conn.fetchval(org, "居委会", "SELF_GOVERNANCE_ORGANIZATION", 4, paths[4])
        rows = await conn.fetch(
            "INSERT INTO organizations (name, kind, area_id, area_path)"
            " SELECT '志愿队' || g, 'VOLUNTEER_TEAM', 4, $1 FROM generate_series(1, $2) g"
            " RETURNING id",
            paths[4],
            CLAIMANTS,
        )
        claimants = sorted(r["id"] for r in rows)
        user_id = await conn.fetchval(
            "INSERT INTO users (email, display_name, password_hash)"
            " VALUES ('claims-bench@example.org', 'claims bench', $1) RETURNING id",
            hash_password("claims-bench-not-for-login"),
        )
        await conn.execute(
            "INSERT INTO role_grants (user_id, role, area_id) VALUES ($1, 'COORDINATOR', 1)",
            user_id,
        )
        # the board: 200 projects in the second community, 0-5 claims each
        board_orgs = [
            r["id"]
            for r in await conn.fetch(
                "INSERT INTO organizations (name, kind, area_id, area_path)"
                " SELECT '社会组织' || g, 'SOCIAL_ORGANIZATION', 5, $1"
                " FROM generate_series(1, 20) g RETURNING id",
                paths[5],
            )
        ]
        projects = await conn.fetch(
            "INSERT INTO service_projects (title, description, kind, category_id, area_id,"
            " area_path, posted_by_id, slots) SELECT '微心愿' || g, '帮助独居老人', 'SMALL_WISH',"
            " 1, 5, $1, $2, 1 + g % 6 FROM generate_series(1, 200) g RETURNING id, slots",
            paths[5],
            poster,
        )
        for p in projects:
            for i in range(p["id"] % 6):
                if i < p["slots"]:
                    await conn.execute(
                        "INSERT INTO claims (project_id, claimant_id, slots) VALUES ($1, $2, 1)",
                        p["id"],
                        board_orgs[(p["id"] + i) % len(board_orgs)],
                    )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    signer = Settings(secret_key=secret, environment="production")
    return Data(
        dsn=dsn,
        url=url,
        token=issue_token(signer, user_id),
        secret=secret,
        city=1,
        claims_area=4,
        claims_path=paths[4],
        board_area=5,
        poster=poster,
        claimants=claimants,
        user_id=user_id,
    )


async def _new_project(dsn: str, data: Data, places: int) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        pk = await conn.fetchval(
            "INSERT INTO service_projects (title, description, kind, category_id, area_id,"
            " area_path, posted_by_id, slots)"
            " VALUES ('服务岗位', '认领压力测试', 'SERVICE_POST', 1, $1, $2, $3, $4) RETURNING id",
            data.claims_area,
            data.claims_path,
            data.poster,
            places,
        )
        await conn.execute("INSERT INTO bench_projects (id, slots) VALUES ($1, $2)", pk, places)
        return int(pk)
    finally:
        await conn.close()


# ---- claim throughput ----------------------------------------------------------------------------


async def _claim_run(
    label: str, port: int, headers: dict[str, str], work: list[tuple[int, list[int]]], clients: int
) -> Throughput:
    """``clients`` concurrent connections; client i claims project ``work[i % len][0]`` for the
    organizations of its queue until it is told NO_SLOTS_LEFT."""
    queues = [(pid, iter(orgs)) for pid, orgs in work]
    result = Throughput(label, 0.0, 0, 0, 0)
    last = [0.0]
    started = time.monotonic()

    async def client(i: int) -> None:
        pid, orgs = queues[i % len(queues)]
        http = Http(port, headers)
        try:
            for org in orgs:
                raw = await http.post(
                    body(
                        CLAIM,
                        "Claim",
                        p=encode_id("ServiceProject", pid),
                        c=encode_id("Organization", org),
                    )
                )
                result.answered += 1
                payload = orjson.loads(raw).get("data", {}) or {}
                answer = payload.get("claimServiceProject") or {}
                if answer.get("claim"):
                    result.accepted += 1
                    last[0] = time.monotonic()
                    continue
                codes = [e.get("code") for e in answer.get("userErrors") or []] or ["ERROR"]
                for code in codes:
                    result.refused[code] = result.refused.get(code, 0) + 1
                if codes != ["NO_SLOTS_LEFT"]:
                    result.errors += 1
                    continue
                return
        finally:
            await http.close()

    await asyncio.gather(*(client(i) for i in range(clients)))
    result.seconds = (last[0] or time.monotonic()) - started
    return result


async def _verify(dsn: str, pids: list[int], places: int, *, bench_tables: bool) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        if bench_tables:
            n = await conn.fetchval(
                "SELECT count(*) FROM bench_claims WHERE project_id = ANY($1)", pids
            )
            taken = await conn.fetchval(
                "SELECT sum(claimed) FROM bench_projects WHERE id = ANY($1)", pids
            )
        else:
            n = await conn.fetchval(
                "SELECT count(*) FROM claims WHERE project_id = ANY($1) AND status = 'ACTIVE'",
                pids,
            )
            taken = await conn.fetchval(
                "SELECT sum(claimed_slots) FROM service_projects WHERE id = ANY($1)", pids
            )
    finally:
        await conn.close()
    expected = places * len(pids)
    return "ok" if n == taken == expected else f"WRONG: {n} claims, {taken} places, {expected}"


async def _chain_valid(url: str) -> bool:
    from gridweave.db import make_engine, make_sessionmaker
    from gridweave.services.audit import verify_chain

    engine = make_engine(url, Settings())
    try:
        async with make_sessionmaker(engine)() as s:
            return (await verify_chain(s)).valid
    finally:
        await engine.dispose()


async def _lock_wait_sampler(dsn: str, stop: asyncio.Event) -> tuple[int, int]:
    """Samples pg_stat_activity every 5 ms: (samples with a backend waiting on the ledger's
    advisory lock, samples with a backend waiting on a row lock)."""
    conn = await asyncpg.connect(dsn)
    advisory = rows = samples = 0
    try:
        while not stop.is_set():
            waits = await conn.fetch(
                "SELECT wait_event FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND datname = current_database()"
            )
            samples += 1
            advisory += sum(1 for w in waits if w[0] == "advisory")
            rows += sum(1 for w in waits if w[0] in ("tuple", "transactionid"))
            await asyncio.sleep(0.005)
    finally:
        await conn.close()
    return advisory, rows


# ---- event latency -----------------------------------------------------------------------------


async def _event_latency(
    plan: Plan, data: Data, subscribe_port: int, claim_port: int, headers: dict[str, str]
) -> tuple[list[float], list[float], int]:
    subs = [Subscriber() for _ in range(plan.subscribers)]
    variables = {"area": encode_id("Area", data.claims_area)}
    for s in subs:
        await s.start(subscribe_port, data.token, EVENTS, variables)
    await asyncio.sleep(1.0)
    pid = await _new_project(data.dsn, data, plan.events)
    sent: dict[str, tuple[float, float]] = {}
    http = Http(claim_port, headers)
    try:
        for org in data.claimants[: plan.events]:
            t0 = time.monotonic()
            raw = await http.post(
                body(
                    CLAIM,
                    "Claim",
                    p=encode_id("ServiceProject", pid),
                    c=encode_id("Organization", org),
                )
            )
            t1 = time.monotonic()
            claim = (orjson.loads(raw)["data"]["claimServiceProject"] or {}).get("claim")
            if claim:
                sent[claim["id"]] = (t0, t1)
            await asyncio.sleep(0.05)
        await asyncio.sleep(2.0)
    finally:
        await http.close()
        for s in subs:
            await s.stop()
    from_answer, from_request, missing = [], [], 0
    for s in subs:
        for claim_id, (t0, t1) in sent.items():
            got = s.seen.get(claim_id)
            if got is None:
                missing += 1
                continue
            from_answer.append((got - t1) * 1000)
            from_request.append((got - t0) * 1000)
    return from_answer, from_request, missing


# ---- the board ---------------------------------------------------------------------------------


async def _board(
    port: int, headers: dict[str, str], area: int, seconds: float, clients: int
) -> tuple[float, list[float], bytes]:
    payload = body(BOARD, "Board", area=encode_id("Area", area), first=50)
    first = await Http(port, headers).post(payload)
    latencies: list[float] = []
    deadline = time.monotonic() + seconds

    async def client() -> None:
        http = Http(port, headers)
        try:
            while time.monotonic() < deadline:
                t0 = time.monotonic()
                await http.post(payload)
                latencies.append((time.monotonic() - t0) * 1000)
        finally:
            await http.close()

    started = time.monotonic()
    await asyncio.gather(*(client() for _ in range(clients)))
    return len(latencies) / (time.monotonic() - started), latencies, first


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ---- servers and the run -----------------------------------------------------------------------


def _gridweave(
    key: str, label: str, data: Data, *, compiled: bool = True, nolock: bool = False
) -> srv.Server:
    server = srv.gridweave(
        key=key,
        label=label,
        database_url=data.url,
        secret_key=data.secret,
        token=data.token,
        compiled=compiled,
        workers=1,
    )
    server.env.update({"GRIDWEAVE_POOL_SIZE": POOL, "GRIDWEAVE_POOL_OVERFLOW": "5"})
    server.env["GRIDWEAVE_WS_MAX_PENDING_EVENTS"] = "1000"
    if nolock:
        server.argv = [sys.executable, "-m", "bench.claims_lib.nolock", *server.argv[1:]]
    return server


def _baseline(data: Data) -> srv.Server:
    server = srv.asyncpg_baseline(dsn=data.dsn)
    server.env.update({"READPATH_POOL_MIN": "10", "READPATH_POOL_MAX": "20"})
    return server


def main(argv: Sequence[str] | None = None) -> int:
    plan = parse(argv)
    try:
        asyncio.run(run(plan))
    except BenchError as e:
        progress(f"FAILED: {e}")
        return 1
    return 0


async def _in_thread(fn: Callable[[], Any]) -> Any:
    return await asyncio.to_thread(fn)


async def run(plan: Plan) -> None:
    settings = Settings()
    url = bench_url(settings, plan.database)
    await ensure_database(url)
    await _in_thread(lambda: upgrade(url))
    secret = secrets.token_urlsafe(48)
    data = await _dataset(url, secret)
    progress(f"dataset ready: {len(data.claimants):,} claimant organizations")
    out(f"bench/claims: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    out(f"  {plan.clients} clients, {plan.places:,} places, {plan.repetitions} repetitions")
    main_server = _gridweave("gw", "gridweave", data)
    baseline = _baseline(data)
    auth = {"Authorization": f"Bearer {data.token}"}
    single: dict[str, list[Throughput]] = {
        "gridweave": [],
        "asyncpg": [],
        NOLOCK: [],
    }
    multi: dict[str, list[Throughput]] = {
        "gridweave": [],
        "asyncpg": [],
        NOLOCK: [],
    }
    waits: dict[str, tuple[int, int]] = {}
    orgs = data.claimants
    n_multi = plan.clients
    per = max(1, plan.places // n_multi)

    async def once(
        label: str, port: int, headers: dict[str, str], *, many: bool, baseline_tables: bool
    ) -> Throughput:
        if many:
            pids = [await _new_project(data.dsn, data, per) for _ in range(n_multi)]
            work = [(p, orgs[: per + 2]) for p in pids]
            places = per
        else:
            pids = [await _new_project(data.dsn, data, plan.places)]
            work = [(pids[0], orgs)]
            places = plan.places
        # one shared queue for the single project: split it so that no org is sent twice
        if not many:
            chunks = [orgs[i :: plan.clients] for i in range(plan.clients)]
            work = [(pids[0], c) for c in chunks]
        stop = asyncio.Event()
        sampler = asyncio.create_task(_lock_wait_sampler(data.dsn, stop))
        result = await _claim_run(label, port, headers, work, plan.clients)
        stop.set()
        waits[f"{label} {'many' if many else 'one'}"] = await sampler
        verdict = await _verify(data.dsn, pids, places, bench_tables=baseline_tables)
        where = "32 projects" if many else "one project"
        progress(f"{label} ({where}): {result.rate:.0f} claims/s, {verdict}")
        if verdict != "ok":
            raise BenchError(f"{label}: {verdict}")
        return result

    with srv.running([main_server, baseline]):
        for _ in range(plan.repetitions):
            single["gridweave"].append(
                await once("gridweave", main_server.port, auth, many=False, baseline_tables=False)
            )
            single["asyncpg"].append(
                await once("asyncpg", baseline.port, {}, many=False, baseline_tables=True)
            )
            multi["gridweave"].append(
                await once("gridweave", main_server.port, auth, many=True, baseline_tables=False)
            )
            multi["asyncpg"].append(
                await once("asyncpg", baseline.port, {}, many=True, baseline_tables=True)
            )
    chain_before = await _chain_valid(url)
    nolock = _gridweave("gw-nolock", "gridweave without the ledger lock", data, nolock=True)
    with srv.running([nolock]):
        for _ in range(plan.repetitions):
            single["gridweave, no ledger lock"].append(
                await once(
                    "gridweave, no ledger lock",
                    nolock.port,
                    auth,
                    many=False,
                    baseline_tables=False,
                )
            )
            multi["gridweave, no ledger lock"].append(
                await once(
                    "gridweave, no ledger lock", nolock.port, auth, many=True, baseline_tables=False
                )
            )
    chain_after = await _chain_valid(url)

    second = _gridweave("gw2", "gridweave, second process (resolvers only)", data, compiled=False)
    with srv.running([main_server, second, baseline]):
        progress(
            f"event latency: {plan.subscribers} subscribers on one process, claims on the other"
        )
        from_answer, from_request, missing = await _event_latency(
            plan, data, main_server.port, second.port, auth
        )
        boards = {}
        for label, server, headers in (
            ("gridweave compiled", main_server, auth),
            ("gridweave resolvers", second, auth),
            ("asyncpg", baseline, {}),
        ):
            boards[label] = await _board(
                server.port, headers, data.board_area, plan.board_seconds, 16
            )
            progress(f"board {label}: {boards[label][0]:.0f} req/s")

    _report(plan, single, multi, waits, (chain_before, chain_after))
    _report_events(plan, from_answer, from_request, missing)
    _report_boards(boards)
    ratio_one = _med(single["gridweave"]) / _med(single["asyncpg"])
    ratio_many = _med(multi["gridweave"]) / _med(multi["asyncpg"])
    lock = _med(multi[NOLOCK]) / _med(multi["gridweave"])
    out(
        f"claims: gridweave/asyncpg {ratio_one:.2f} (one project), {ratio_many:.2f} (32 projects);"
        f" without the ledger lock {lock:.2f}x; events p50 {_pct(from_answer, 0.5):.1f} ms"
        f" p99 {_pct(from_answer, 0.99):.1f} ms"
    )


NOLOCK = "gridweave, no ledger lock"


def _med(rows: list[Throughput]) -> float:
    return statistics.median(r.rate for r in rows)


def _report(
    plan: Plan,
    single: dict[str, list[Throughput]],
    multi: dict[str, list[Throughput]],
    waits: dict[str, tuple[int, int]],
    chain: tuple[bool, bool],
) -> None:
    out("")
    out(
        f"1. Claim throughput: {plan.places:,} places, {plan.clients} clients over HTTP,"
        " until full (median claims/s)"
    )
    out(f"   {'':32} {'one project':>12} {'32 projects':>12}   answered/accepted/errors")
    for label in single:
        last = single[label][-1]
        tally = f"{last.answered}/{last.accepted}/{last.errors}"
        out(f"   {label:32} {_med(single[label]):12.0f} {_med(multi[label]):12.0f}   {tally}")
    one = _med(single["gridweave"]) / _med(single["asyncpg"])
    many = _med(multi["gridweave"]) / _med(multi["asyncpg"])
    out(f"   gridweave/asyncpg: one project {one:.2f}, 32 projects {many:.2f}")
    one = _med(single[NOLOCK]) / _med(single["gridweave"])
    many = _med(multi[NOLOCK]) / _med(multi["gridweave"])
    out(f"   without the ledger lock: {one:.2f}x on one project, {many:.2f}x on 32 projects")
    out(f"   chain verifies after the locked runs: {chain[0]}; after the unlocked runs: {chain[1]}")
    out("   lock waits (samples every 5 ms x backends waiting: ledger advisory lock / row lock):")
    for key, (advisory, row) in waits.items():
        out(f"     {key:40} {advisory:7} / {row:7}")


def _report_events(
    plan: Plan, from_answer: list[float], from_request: list[float], missing: int
) -> None:
    out("")
    out(
        f"2. Event latency: {plan.subscribers} subscribers on one process,"
        f" {plan.events} claims on the other (ms)"
    )
    for label, values in (
        ("from the claim's answer (after its commit)", from_answer),
        ("from the claim's request", from_request),
    ):
        out(f"   {label:44} p50 {_pct(values, 0.5):8.1f}, p99 {_pct(values, 0.99):8.1f}")
    out(f"   events not received: {missing}")


def _report_boards(boards: dict[str, tuple[float, list[float], bytes]]) -> None:
    out("")
    out("3. serviceProjects(first: 50) with claims and claimants, 16 clients")
    out(f"   {'':22} {'req/s':>8}   {'p50 ms':>7} / {'p99 ms':>7}   answer")
    for label, (rate, lat, first) in boards.items():
        p50, p99 = _pct(lat, 0.5), _pct(lat, 0.99)
        out(f"   {label:22} {rate:8.0f}   {p50:7.1f} / {p99:7.1f}   {len(first):,} bytes")
    answers = {label: orjson.loads(first)["data"] for label, (_, _, first) in boards.items()}
    same = answers["gridweave resolvers"] == answers["asyncpg"] == answers["gridweave compiled"]
    out(f"   the three answers are equal: {same}")
    out("")
