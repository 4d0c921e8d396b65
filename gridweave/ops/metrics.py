"""The Prometheus series, and the one-line calls that feed them from anywhere in the code.

Multi-process safe: under ``gridweave serve --workers N`` the parent sets
``PROMETHEUS_MULTIPROC_DIR`` before any worker starts, every worker then writes its values to
files there, and ``/metrics`` (answered by whichever worker) adds them up. Gauges use the
``livesum`` mode: a worker that exits (it calls :func:`process_exited`) stops counting.

This module imports neither strawberry nor starlette, so services may call it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)

from gridweave.ops.observation import current

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Our own registry (not the library's global one): importing this module twice, as a test that
# reimports every module does, must not register the same series twice.
REGISTRY = CollectorRegistry(auto_describe=True)
disable_created_metrics()  # type: ignore[no-untyped-call]  # the *_created series only double what a scrape shows

OPERATIONS = ("query", "mutation", "subscription", "unknown")
# ok: answered; user_error: a mutation answered with userErrors; invalid: the document was
# refused before execution (syntax, validation, limits); error: errors in the answer; rejected:
# refused before GraphQL (body size, content type); timeout: the request time limit (503);
# unavailable: the database could not be reached (503); server_error: any other 5xx.
OUTCOMES = (
    "ok",
    "user_error",
    "invalid",
    "error",
    "rejected",
    "timeout",
    "unavailable",
    "server_error",
)
# Why the compiled path handed a request to the resolvers (the lead's compiled/endpoint.py).
FALLBACK_REASONS = (
    "anonymous",
    "bad_request",
    "not_compilable",
    "variables",
    "database_error",
)

REQUESTS = Counter(
    "gridweave_graphql_requests",
    "GraphQL HTTP requests, by operation type and outcome.",
    ["operation", "outcome"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "gridweave_graphql_request_duration_seconds",
    "Time from the request's arrival to the end of its response, by operation type.",
    ["operation"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0),
    registry=REGISTRY,
)
COMPILED_ANSWERS = Counter(
    "gridweave_compiled_answers",
    "Read-only queries answered by one compiled SQL statement.",
    registry=REGISTRY,
)
COMPILED_FALLBACKS = Counter(
    "gridweave_compiled_fallbacks",
    "Requests the compiled path handed to the resolvers, by reason.",
    ["reason"],
    registry=REGISTRY,
)
POOL_IN_USE = Gauge(
    "gridweave_db_pool_in_use",
    "Database connections checked out of the pool.",
    multiprocess_mode="livesum",
    registry=REGISTRY,
)
POOL_WAITING = Gauge(
    "gridweave_db_pool_waiting",
    "Callers waiting for a database connection from the pool.",
    multiprocess_mode="livesum",
    registry=REGISTRY,
)
POOL_WAIT = Histogram(
    "gridweave_db_pool_wait_seconds",
    "Time spent getting a connection from the pool.",
    buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0),
    registry=REGISTRY,
)
LEDGER_APPENDS = Counter(
    "gridweave_ledger_appends",
    "Ledger entries appended (counted at the append; a rolled-back transaction's too).",
    registry=REGISTRY,
)
LEDGER_LOCK_WAIT = Histogram(
    "gridweave_ledger_lock_wait_seconds",
    "Time spent waiting for the ledger's advisory lock before an append.",
    buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0),
    registry=REGISTRY,
)
SUBSCRIPTIONS = Gauge(
    "gridweave_subscriptions_active",
    "GraphQL subscriptions running.",
    multiprocess_mode="livesum",
    registry=REGISTRY,
)
SHARED_EXECUTIONS = Gauge(
    "gridweave_shared_subscription_executions",
    "Subscription executions shared by the subscribers of one document, variables and read scope.",
    multiprocess_mode="livesum",
    registry=REGISTRY,
)
SUBSCRIPTIONS_STARTED = Counter(
    "gridweave_subscriptions_started", "GraphQL subscriptions started.", registry=REGISTRY
)
WEBSOCKETS = Gauge(
    "gridweave_websocket_connections",
    "Open (accepted) WebSocket connections.",
    multiprocess_mode="livesum",
    registry=REGISTRY,
)
CHANGE_EVENTS = Counter(
    "gridweave_change_events_received",
    "Change events (PostgreSQL NOTIFY) received by this process's listener.",
    registry=REGISTRY,
)
LISTENER_CONNECTED = Gauge(
    "gridweave_change_listener_connected",
    "1 while the change listener holds its connection (summed over processes).",
    multiprocess_mode="livesum",
    registry=REGISTRY,
)

# Every labelled series exists from the start (at 0), so dashboards and alerts see it.
for _op in OPERATIONS:
    LATENCY.labels(_op)
    for _outcome in OUTCOMES:
        REQUESTS.labels(_op, _outcome)
for _reason in FALLBACK_REASONS:
    COMPILED_FALLBACKS.labels(_reason)


def compiled_answered() -> None:
    """The compiled path answered a request itself."""
    COMPILED_ANSWERS.inc()
    obs = current()
    if obs is not None:
        obs.operation, obs.outcome = "query", "ok"


def fast_write_answered(outcome: str) -> None:
    """The claim's fast path answered a mutation itself: ``ok``, ``user_error`` or ``error``,
    the outcomes strawberry's requests are counted with."""
    obs = current()
    if obs is not None:
        obs.operation, obs.outcome = "mutation", outcome


def compiled_fallback(reason: str) -> None:
    """The compiled path handed a request to the resolvers; ``reason`` is one of
    FALLBACK_REASONS (anything else is counted as ``not_compilable``)."""
    COMPILED_FALLBACKS.labels(reason if reason in FALLBACK_REASONS else "not_compilable").inc()


def ledger_appended() -> None:
    LEDGER_APPENDS.inc()


def ledger_lock_waited(seconds: float) -> None:
    """How long an append waited for the ledger's advisory lock, as PostgreSQL measured it."""
    LEDGER_LOCK_WAIT.observe(seconds)


def change_event_received() -> None:
    CHANGE_EVENTS.inc()


def listener_connected(connected: bool) -> None:
    LISTENER_CONNECTED.set(1 if connected else 0)


def request_finished(operation: str, outcome: str, seconds: float) -> None:
    REQUESTS.labels(operation, outcome).inc()
    LATENCY.labels(operation).observe(seconds)


def exposition() -> tuple[bytes, str]:
    """The text exposition of every series: this process's, or all workers' added up."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


# In one process, its CPU, memory and open files too (not available added up over workers).
if not os.environ.get(MULTIPROC_ENV):
    REGISTRY.register(PROCESS_COLLECTOR)


def process_exited() -> None:
    """A worker is stopping: its live gauges stop counting."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


@contextmanager
def shared_execution_running() -> Iterator[None]:
    SHARED_EXECUTIONS.inc()
    try:
        yield
    finally:
        SHARED_EXECUTIONS.dec()


@contextmanager
def subscription_running() -> Iterator[None]:
    SUBSCRIPTIONS_STARTED.inc()
    SUBSCRIPTIONS.inc()
    try:
        yield
    finally:
        SUBSCRIPTIONS.dec()
