"""A real ``gridweave serve`` process on a free port of this machine, for the tests that need what
only a real server does (signals, several workers, a browser)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from gridweave.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def terminate(self) -> None:
        self.proc.send_signal(signal.SIGTERM)

    async def wait(self, seconds: float) -> int | None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                return code
            await asyncio.sleep(0.05)
        return None


def server_env(settings: Settings, database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMETHEUS_")}
    env.update(
        DATABASE_URL=database_url,
        GRIDWEAVE_SECRET_KEY=settings.secret_key or "",
        GRIDWEAVE_DATA_DIR=str(settings.data_dir),
        GRIDWEAVE_LOG_JSON="false",
        **extra,
    )
    return env


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-c", "from gridweave.cli import main; main()", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@asynccontextmanager
async def running_server(
    settings: Settings,
    database_url: str,
    log: Path,
    *args: str,
    startup_seconds: float = 120,
    **env: str,
) -> AsyncIterator[Server]:
    """``gridweave serve`` with ``args``; ready once /healthz answers. Stopped (SIGTERM, then
    SIGKILL) at the end if the test has not stopped it."""
    port = free_port()
    proc = _spawn(
        ["serve", "--port", str(port), *args], server_env(settings, database_url, **env), log
    )
    server = Server(proc, port, log)
    try:
        deadline = time.monotonic() + startup_seconds
        async with httpx.AsyncClient(base_url=server.url, timeout=2) as client:
            while True:
                if proc.poll() is not None:
                    raise AssertionError(f"the server exited at startup:\n{server.output()}")
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"the server did not start:\n{server.output()}")
                await asyncio.sleep(0.2)
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            if await server.wait(30) is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
