"""Waiting until the machine is quiet between runs.

When wrk stops, a server may still be working through requests its clients have abandoned (an
ASGI app is not cancelled when the client goes away, and the database keeps running their
queries). That backlog would be measured as part of the next run, so before every run the bench
waits until the server's process group uses (almost) no CPU and no backend of the bench database
is active."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import asyncpg

from bench.readpath_lib.util import progress

_ACTIVE = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
    " AND state <> 'idle' AND pid <> pg_backend_pid()"
)
SAMPLE = 0.5  # seconds between samples
IDLE_CPU = 0.05  # CPU seconds per sample below which the server counts as idle
MAX_WAIT = 180.0


def group_cpu_seconds(pgid: int) -> float | None:
    """User + system CPU time of every process in the group (Linux /proc); None elsewhere."""
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    ticks = 0
    for entry in os.scandir(proc):
        if not entry.name.isdigit():
            continue
        try:
            stat = (proc / entry.name / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid:  # field 5, pgrp
            ticks += int(fields[11]) + int(fields[12])  # fields 14 and 15, utime and stime
    return ticks / os.sysconf("SC_CLK_TCK")


class Quiet:
    """Holds one connection to the bench database for the activity check."""

    def __init__(self, dsn: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._conn: Any = self._loop.run_until_complete(asyncpg.connect(dsn))

    def close(self) -> None:
        try:
            self._loop.run_until_complete(self._conn.close())
        finally:
            self._loop.close()

    def active_backends(self) -> int:
        return int(self._loop.run_until_complete(self._conn.fetchval(_ACTIVE)))

    def wait(self, label: str, pgid: int | None) -> float:
        """Block until the server and the database are idle (at most MAX_WAIT s); the wait."""
        started = time.monotonic()
        before = group_cpu_seconds(pgid) if pgid else None
        while time.monotonic() - started < MAX_WAIT:
            time.sleep(SAMPLE)
            after = group_cpu_seconds(pgid) if pgid else None
            busy_cpu = before is not None and after is not None and after - before > IDLE_CPU
            before = after
            if not busy_cpu and self.active_backends() == 0:
                waited = time.monotonic() - started
                if waited > 2 * SAMPLE + 0.5:
                    progress(f"{label} went on working {waited:.1f}s after its clients left")
                return waited
        progress(f"WARNING: {label} still busy after {MAX_WAIT:.0f}s; going on")
        return MAX_WAIT
