"""The tables: one per (query, clients), the before/after summary and the last line."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from bench.readpath_lib.load import RunResult
from bench.readpath_lib.util import out

AFTER = "gridweave"
BEFORE = "gridweave-before"
WORKERS = "gridweave-4w"
CACHED = "gridweave-cached"  # reported separately: never part of the ratios
POSTGRAPHILE = "postgraphile"
ASYNCPG = "asyncpg"
BASELINES = ((POSTGRAPHILE, "PostGraphile"), (ASYNCPG, "asyncpg"))

Key = tuple[str, int, str]  # (query, clients, implementation key)


@dataclass(frozen=True, slots=True)
class Impl:
    key: str
    label: str
    auth: str


@dataclass
class Record:
    """Everything measured, filled in as the bench goes."""

    results: dict[Key, list[RunResult]] = field(default_factory=lambda: defaultdict(list))
    backlog: dict[Key, list[float]] = field(default_factory=lambda: defaultdict(list))
    skipped: dict[Key, str] = field(default_factory=dict)
    sizes: dict[tuple[str, str], int] = field(default_factory=dict)  # (query, impl): bytes


@dataclass(frozen=True, slots=True)
class Cell:
    """The runs of one implementation on one query at one concurrency, summarised."""

    runs: tuple[RunResult, ...]
    backlog: tuple[float, ...]  # seconds each run's server went on working after wrk stopped
    clients: int

    @property
    def rps(self) -> float:
        return statistics.median(r.rps for r in self.runs)

    @property
    def p50(self) -> float:
        return statistics.median(r.p50_ms for r in self.runs)

    @property
    def p99(self) -> float:
        return statistics.median(r.p99_ms for r in self.runs)

    @property
    def responses(self) -> int:
        return sum(r.requests for r in self.runs)

    @property
    def few(self) -> bool:
        """Fewer than two responses per connection and run: latencies near the run's length,
        so req/s is underestimated (wrk drops what is in flight when the run ends)."""
        return any(r.requests < 2 * self.clients for r in self.runs)

    @property
    def seconds(self) -> float:
        return statistics.median(r.seconds for r in self.runs)

    @property
    def errors(self) -> int:
        return sum(r.non_2xx + r.socket_errors for r in self.runs)

    def short(self, body_bytes: int) -> bool:
        """True when the average response is smaller than the sanity answer (errors under load)."""
        return any(r.requests and r.bytes_per_response < 0.95 * body_bytes for r in self.runs)


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


class Report:
    def __init__(
        self,
        impls: Sequence[Impl],
        queries: Sequence[tuple[str, str]],
        record: Record,
        *,
        clients: Sequence[int],
        repetitions: int,
        workers: int,
    ) -> None:
        self.impls = impls
        self.queries = queries
        self.cells = {
            k: Cell(tuple(v), tuple(record.backlog.get(k, ())), clients=k[1])
            for k, v in record.results.items()
            if v
        }
        self.skipped = record.skipped
        self.sizes = record.sizes
        self.clients = clients
        self.repetitions = repetitions
        self.workers = workers

    def rps(self, query: str, clients: int, key: str) -> float | None:
        cell = self.cells.get((query, clients, key))
        return cell.rps if cell else None

    def print_tables(self) -> None:
        for query, description in self.queries:
            for clients in self.clients:
                self._table(query, description, clients)
        self._before_after()

    def _table(self, query: str, description: str, clients: int) -> None:
        keys = [(query, clients, i.key) for i in self.impls]
        if not any(k in self.cells or k in self.skipped for k in keys):
            return
        out()
        out(f"== {query}, {clients} clients: {description}")
        out(
            f"   ({self.repetitions} run(s) per row, alternating; req/s, p50, p99 and run length"
            " are medians over the runs; n = responses in all runs; backlog = longest time the"
            " server went on working after wrk stopped)"
        )
        out(
            f"   {'implementation':<47} {'auth':<17} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}"
            f" {'n':>6} {'run s':>5} {'resp KB':>7} {'backlog':>7}  errors"
        )
        for impl, key in zip(self.impls, keys, strict=True):
            if key in self.skipped:
                out(f"   {impl.label:<47} {impl.auth:<17} {'-':>8}  {self.skipped[key]}")
            if key not in self.cells:
                continue
            cell = self.cells[key]
            size = self.sizes.get((query, impl.key), 0)
            notes = [str(cell.errors)]
            if cell.short(size):
                notes.append("SHORT ANSWERS")
            if cell.few:
                notes.append("too few responses: req/s underestimated")
            seen = cell.responses > 0
            out(
                f"   {impl.label:<47} {impl.auth:<17} {cell.rps:>8.1f}"
                f" {_fmt(cell.p50 if seen else None, '.1f'):>8}"
                f" {_fmt(cell.p99 if seen else None, '.1f'):>8} {cell.responses:>6}"
                f" {cell.seconds:>5.0f} {size / 1024:>7.1f} {max(cell.backlog, default=0):>6.1f}s"
                f"  {', '.join(notes)}"
            )
        parts = []
        for base_key, name in BASELINES:
            base = self.rps(query, clients, base_key)
            if base is None:
                continue
            after = _ratio(self.rps(query, clients, AFTER), base)
            before = _ratio(self.rps(query, clients, BEFORE), base)
            workers = _ratio(self.rps(query, clients, WORKERS), base)
            text = f"gridweave/{name} {_fmt(after)} (before {_fmt(before)}"
            text += f", {self.workers} workers {_fmt(workers)})" if workers is not None else ")"
            parts.append(text)
        if parts:
            out("   ratios (req/s): " + "; ".join(parts))

    def _before_after(self) -> None:
        out()
        out(
            "== before (GRIDWEAVE_COMPILED_READS=false) / after (compiled reads): gridweave, "
            "1 process, req/s; x/PG = gridweave/PostGraphile, x/apg = gridweave/asyncpg"
        )
        out(
            f"   {'query':<10} {'clients':>7} {'before':>9} {'after':>9} {'speedup':>8}"
            f" {'before/PG':>10} {'after/PG':>9} {'before/apg':>11} {'after/apg':>10}"
        )
        for query, _ in self.queries:
            for clients in self.clients:
                before = self.rps(query, clients, BEFORE)
                after = self.rps(query, clients, AFTER)
                pg = self.rps(query, clients, POSTGRAPHILE)
                apg = self.rps(query, clients, ASYNCPG)
                out(
                    f"   {query:<10} {clients:>7} {_fmt(before, '.1f'):>9} {_fmt(after, '.1f'):>9}"
                    f" {_fmt(_ratio(after, before)):>8} {_fmt(_ratio(before, pg)):>10}"
                    f" {_fmt(_ratio(after, pg)):>9} {_fmt(_ratio(before, apg)):>11}"
                    f" {_fmt(_ratio(after, apg)):>10}"
                )

    def min_ratio(self, baseline: str, clients: int = 16) -> tuple[float, str] | None:
        """The smallest gridweave/baseline throughput ratio over the queries the baseline
        answers (one gridweave process, compiled reads, ``clients`` connections)."""
        found = [
            (ratio, query)
            for query, _ in self.queries
            if (
                ratio := _ratio(self.rps(query, clients, AFTER), self.rps(query, clients, baseline))
            )
            is not None
        ]
        return min(found) if found else None

    def last_line(self) -> str:
        pg = self.min_ratio(POSTGRAPHILE)
        apg = self.min_ratio(ASYNCPG)
        out()
        if pg is not None and apg is not None:
            out(
                "smallest gridweave/baseline ratios at 16 clients (1 process, compiled reads): "
                f"PostGraphile on {pg[1]}, asyncpg on {apg[1]}"
            )
        return (
            f"readpath: gridweave/PostGraphile min {_fmt(pg[0] if pg else None)}, "
            f"gridweave/asyncpg min {_fmt(apg[0] if apg else None)}"
        )
