"""``bench/readpath``: build (or reuse) the city-scale bench database, start gridweave (compiled
reads and, as "before", GRIDWEAVE_COMPILED_READS=false; one process, then four workers),
PostGraphile v4 and the hand-written asyncpg endpoint, check their first answers, load each with
wrk on the loopback (alternating between implementations) and print the tables. The last line is
``readpath: gridweave/PostGraphile min X.XX, gridweave/asyncpg min Y.YY``."""

from __future__ import annotations

import argparse
import math
import os
import platform
import secrets
import signal
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import FrameType

import orjson

from bench.readpath_lib import report as rep
from bench.readpath_lib.dataset import BenchDatabase, prepare
from bench.readpath_lib.load import run_wrk, write_script
from bench.readpath_lib.queries import (
    INTROSPECTION,
    POSTGRAPHILE_FIELDS,
    Query,
    build_queries,
    comparable,
    count_summary,
    data_of,
    first_difference,
)
from bench.readpath_lib.quiet import Quiet
from bench.readpath_lib.servers import (
    Server,
    asyncpg_baseline,
    ensure_postgraphile,
    ensure_wrk,
    gridweave,
    post,
    postgraphile,
    running,
)
from bench.readpath_lib.util import BenchError, out, progress
from gridweave.settings import Settings


@dataclass(frozen=True, slots=True)
class Plan:
    seconds: int
    repetitions: int
    clients: tuple[int, ...]
    warmup: int
    max_seconds: int  # longest run, for implementations whose lone request is slow
    workers: int  # 0: skip the multi-worker phase
    database: str


def parse(argv: Sequence[str] | None) -> Plan:
    p = argparse.ArgumentParser(
        prog="bench/readpath",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 3 s per run, 1 repetition, 16 clients, no 4-worker phase",
    )
    p.add_argument("--duration", type=int, help="seconds per wrk run (default 10; quick 3)")
    p.add_argument(
        "--max-duration",
        type=int,
        help="longest run: runs get longer (up to this) when 3 rounds of requests would not fit "
        "in --duration (default 30; quick 15)",
    )
    p.add_argument("--repetitions", type=int, help="runs per cell (default 2; quick 1)")
    p.add_argument(
        "--clients",
        type=str,
        help="comma-separated connection counts, 16 always included (default 16,64)",
    )
    p.add_argument(
        "--workers",
        type=int,
        help="gridweave worker processes of the multi-worker phase; 0 skips it "
        "(default 4; quick 0)",
    )
    p.add_argument(
        "--database",
        default="gridweave_bench",
        help="the bench database on the configured server (default gridweave_bench)",
    )
    a = p.parse_args(argv)
    clients = (
        {16} | {int(c) for c in a.clients.split(",")}
        if a.clients
        else ({16} if a.quick else {16, 64})
    )
    plan = Plan(
        seconds=a.duration or (3 if a.quick else 10),
        repetitions=a.repetitions or (1 if a.quick else 2),
        clients=tuple(sorted(clients)),
        warmup=1 if a.quick else 2,
        max_seconds=a.max_duration or (15 if a.quick else 30),
        workers=a.workers if a.workers is not None else (0 if a.quick else 4),
        database=a.database,
    )
    if plan.seconds < 1 or plan.repetitions < 1 or min(plan.clients) < 1 or plan.workers < 0:
        p.error("durations, repetitions, clients and workers must be positive")
    return plan


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that stop the servers


def main(argv: Sequence[str] | None = None) -> int:
    plan = parse(argv)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    try:
        run(plan)
    except BenchError as e:
        progress(f"FAILED: {e}")
        return 1
    return 0


def run(plan: Plan) -> None:
    wrk = ensure_wrk()
    ensure_postgraphile()
    secret_key = secrets.token_urlsafe(48)
    db = prepare(Settings(), plan.database, secret_key)
    queries = build_queries(
        db.summary.street_id,
        db.summary.community_id,
        db.district_id,
        db.late_district_id,
        db.organization_ids,
    )
    _header(plan, db, queries)

    def gw(key: str, label: str, *, compiled: bool, workers: int, cache: bool = False) -> Server:
        return gridweave(
            key=key,
            label=label,
            database_url=db.url,
            secret_key=secret_key,
            token=db.token,
            compiled=compiled,
            workers=workers,
            cache=cache,
        )

    single = [
        gw(rep.AFTER, "gridweave after (compiled reads), 1 process", compiled=True, workers=1),
        gw(
            rep.BEFORE, "gridweave before (COMPILED_READS=false), 1 proc", compiled=False, workers=1
        ),
        postgraphile(dsn=db.dsn),
        asyncpg_baseline(dsn=db.dsn),
    ]
    multi = (
        [
            gw(
                rep.WORKERS,
                f"gridweave after, {plan.workers} workers",
                compiled=True,
                workers=plan.workers,
            )
        ]
        if plan.workers
        else []
    )
    cached = [
        gw(
            rep.CACHED,
            "gridweave + response cache (not in ratios)",
            compiled=True,
            workers=1,
            cache=True,
        )
    ]
    impls = [rep.Impl(s.key, s.label, s.auth) for s in [*single, *multi, *cached]]
    record = rep.Record()
    quiet = Quiet(db.dsn)

    out()
    out("response sizes (bytes) of the first answers, checked before any load:")
    try:
        with running(single):
            _check_postgraphile_schema(single[2])
            reference = _sanity(queries, single, record.sizes)
            _measure(wrk, plan, queries, single, quiet, record)
        if multi:
            with running(multi):
                _sanity(queries, multi, record.sizes, reference)
                _measure(wrk, plan, queries, multi, quiet, record)
        with running(cached):
            _sanity(queries, cached, record.sizes, reference)
            _measure(wrk, plan, queries, cached, quiet, record)
    finally:
        quiet.close()

    report = rep.Report(
        impls,
        [(q.name, q.description) for q in queries],
        record,
        clients=plan.clients,
        repetitions=plan.repetitions,
        workers=plan.workers,
    )
    report.print_tables()
    last = report.last_line()  # prints which queries gave the smallest ratios first
    load = os.getloadavg()
    out(
        f"load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
        f"({os.cpu_count()} CPUs; anything above ~2 means other work shared the machine)"
    )
    out(last)


def _header(plan: Plan, db: BenchDatabase, queries: Sequence[Query]) -> None:
    load = os.getloadavg()
    s = db.summary
    out(
        f"readpath: {platform.node()}, {os.cpu_count()} CPUs, load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the start"
    )
    out(
        f"database {db.where}: {s.areas_by_level.get('COMMUNITY', 0):,} communities, "
        f"{s.areas_by_level.get('GRID', 0):,} grids, {s.organizations:,} organizations, "
        f"{s.links:,} links, {s.service_areas:,} service-area rows"
    )
    out(
        f"wrk: 1 thread, {'/'.join(map(str, plan.clients))} connections, {plan.seconds} s per run "
        f"(up to {max(plan.seconds, plan.max_seconds)} s when one request alone is slow), after "
        f"~{plan.warmup} s of sequential warm-up requests; {plan.repetitions} repetition(s); "
        "waiting for an idle server and database before each run; "
        "implementations alternate A B A B"
    )
    out(
        "auth: gridweave gets a bearer token of a COORDINATOR of the city (checked on every "
        "request); PostGraphile runs WITHOUT any authorization; the asyncpg endpoint checks none"
    )
    for q in queries:
        out(
            f"query {q.name}: {q.description}"
            + ("" if q.postgraphile else " (not asked of PostGraphile)")
        )
    cells = sum(
        len(plan.clients) * (4 if q.postgraphile else 3)
        + (len(plan.clients) if plan.workers else 0)
        for q in queries
    )
    minutes = cells * (plan.seconds * plan.repetitions + plan.warmup) / 60
    progress(f"{cells} cells; about {minutes:.1f} minutes of load from here")


def _answers(query: Query, server: Server) -> bytes | None:
    return query.postgraphile if server.dialect == "postgraphile" else query.gridweave


def _check_postgraphile_schema(server: Server) -> None:
    """Introspect PostGraphile once: every field the bench's queries use must exist."""
    status, raw = post(server.port, orjson.dumps({"query": INTROSPECTION}))
    data = data_of(server.label, "introspection", raw) if status == 200 else None
    if data is None:
        raise BenchError(f"{server.label} introspection: HTTP {status}: {raw[:300]!r}")
    missing = []
    for type_name, fields in POSTGRAPHILE_FIELDS.items():
        found = {f["name"] for f in (data.get(type_name) or {}).get("fields") or []}
        missing += [f"{type_name}.{f}" for f in fields if f not in found]
    if missing:
        raise BenchError(f"{server.label} lacks the fields {', '.join(missing)}")
    progress(f"{server.label}: every field the queries use exists (introspection)")


def _sanity(
    queries: Sequence[Query],
    servers: Sequence[Server],
    sizes: dict[tuple[str, str], int],
    reference: dict[str, object] | None = None,
) -> dict[str, object]:
    """Fetch every query once from every server; gridweave's answers (all variants) and the
    asyncpg endpoint's must be equal, PostGraphile's must hold the same communities and
    organizations. Prints the sizes; raises BenchError on any difference."""
    reference = dict(reference or {})
    width = max(len(s.label) for s in servers)
    for q in queries:
        for server in servers:
            request = _answers(q, server)
            if request is None:
                continue
            status, raw = post(server.port, request, server.headers)
            if status != 200:
                raise BenchError(
                    f"{server.label} answered {q.name} with HTTP {status}: {raw[:300]!r}"
                )
            data = data_of(server.label, q.name, raw)
            sizes[(q.name, server.key)] = len(raw)
            if server.dialect == "postgraphile":
                assert q.compare_postgraphile is not None
                problems = q.compare_postgraphile(reference[q.name], data)
                if problems:
                    raise BenchError(
                        f"{server.label} and gridweave disagree on {q.name}:\n  "
                        + "\n  ".join(problems[:10])
                    )
                note = "agrees with gridweave's answer"
            elif q.name not in reference:
                reference[q.name] = data
                note = "reference: " + count_summary(q.name, data)
            else:
                diff = first_difference(
                    comparable(q.name, reference[q.name]), comparable(q.name, data)
                )
                if diff:
                    raise BenchError(f"{server.label} and gridweave disagree on {q.name}: {diff}")
                exact = first_difference(reference[q.name], data) is None
                note = "equal to gridweave's answer" + ("" if exact else " (edge order aside)")
            out(f"   {q.name:<10} {server.label:<{width}} {len(raw):>9,}  {note}")
    return reference


def _warm(server: Server, body: bytes, seconds: float) -> float:
    """Sequential requests for about ``seconds`` (at least three): warms caches, JITs and pools
    without leaving a backlog behind, as a concurrent warm-up run would. Returns the median
    time of one request alone."""
    started = time.monotonic()
    times: list[float] = []
    while len(times) < 3 or time.monotonic() - started < seconds:
        sent = time.monotonic()
        post(server.port, body, server.headers)
        times.append(time.monotonic() - sent)
        if len(times) >= 1000:
            break
    return statistics.median(times)


def run_length(plan: Plan, clients: int, lone: float) -> int | None:
    """Seconds for one run: ``plan.seconds``, or longer (up to ``plan.max_seconds``) so that each
    connection gets about three answers when one request takes ``lone`` seconds alone; None
    when even one answer per connection would not fit."""
    cap = max(plan.seconds, plan.max_seconds)
    latency = clients * lone  # one process, one request at a time: a pessimistic estimate
    if latency > cap:
        return None
    return min(cap, max(plan.seconds, math.ceil(3 * latency)))


def _measure(
    wrk: str,
    plan: Plan,
    queries: Sequence[Query],
    servers: Sequence[Server],
    quiet: Quiet,
    record: rep.Record,
) -> None:
    bodies = {(q.name, s.key): body for q in queries for s in servers if (body := _answers(q, s))}
    scripts = {
        key: write_script(f"{key[0]}-{key[1]}", body, s.headers)
        for s in servers
        for key, body in bodies.items()
        if key[1] == s.key
    }
    lone: dict[tuple[str, str], float] = {}
    for repetition in range(1, plan.repetitions + 1):
        for clients in plan.clients:
            for q in queries:
                for s in servers:  # A B A B: every implementation once per round
                    script = scripts.get((q.name, s.key))
                    if script is None:
                        continue
                    key = (q.name, clients, s.key)
                    quiet.wait(s.label, s.pgid)
                    if (q.name, s.key) not in lone:
                        lone[(q.name, s.key)] = _warm(s, bodies[(q.name, s.key)], plan.warmup)
                    alone = lone[(q.name, s.key)]
                    seconds = run_length(plan, clients, alone)
                    if seconds is None:
                        if key not in record.skipped:
                            record.skipped[key] = (
                                f"not run: one request alone takes {alone * 1000:.0f} ms, so "
                                f"{clients} at once would take ~{clients * alone:.0f} s each "
                                f"(longest run {max(plan.seconds, plan.max_seconds)} s)"
                            )
                            progress(f"{q.name} c={clients} {s.label}: {record.skipped[key]}")
                        continue
                    r = run_wrk(wrk, s.url, script, clients=clients, seconds=seconds)
                    if not s.alive():
                        raise BenchError(f"{s.label} died under load:\n{s.log_tail()}")
                    record.results[key].append(r)
                    record.backlog[key].append(quiet.wait(s.label, s.pgid))
                    errors = r.non_2xx + r.socket_errors
                    progress(
                        f"run {repetition}/{plan.repetitions} {q.name:<9} c={clients:<3}"
                        f" {s.label:<48} {r.rps:8.1f} req/s  p50 {r.p50_ms:7.1f} ms"
                        f"  p99 {r.p99_ms:7.1f} ms  n={r.requests} in {r.seconds:.0f} s"
                        + (f"  ERRORS {errors}" if errors else "")
                    )


if __name__ == "__main__":
    sys.exit(main())
