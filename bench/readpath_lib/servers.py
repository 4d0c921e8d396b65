"""Starting the servers under test on free loopback ports, waiting until they answer, and always
stopping them again (each runs in its own process group, which is signalled as a whole)."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from bench.readpath_lib.util import REPO, WORK, BenchError, progress

HOST = "127.0.0.1"
POSTGRAPHILE_VERSION = "4.14.1"
POSTGRAPHILE_DIR = WORK / "postgraphile"
LOGS = WORK / "logs"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def post(
    port: int, body: bytes, headers: Mapping[str, str] | None = None, *, timeout: float = 60.0
) -> tuple[int, bytes]:
    """POST /graphql on the loopback; (status, body)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(
            "POST",
            "/graphql",
            body=body,
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _get_ok(port: int, path: str) -> bool:
    conn = http.client.HTTPConnection(HOST, port, timeout=2.0)
    try:
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def healthz(port: int) -> bool:
    return _get_ok(port, "/healthz")


def graphql_typename(port: int) -> bool:
    try:
        status, _ = post(port, b'{"query":"{ __typename }"}', timeout=2.0)
    except OSError:
        return False
    return status == 200


@dataclass
class Server:
    """One implementation under test. ``headers`` go with every request to it."""

    key: str
    label: str
    auth: str
    argv: list[str]
    env: dict[str, str]
    port: int
    ready: Callable[[int], bool]
    headers: dict[str, str] = field(default_factory=dict)
    dialect: str = "gridweave"  # or "postgraphile": which request bodies it takes
    proc: subprocess.Popen[bytes] | None = None
    log_file: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/graphql"

    @property
    def log_path(self) -> Path:
        return LOGS / f"{self.key}.log"

    def start(self, timeout: float = 90.0) -> None:
        LOGS.mkdir(parents=True, exist_ok=True)
        self.log_file = self.log_path.open("wb")
        progress(f"starting {self.label} on port {self.port} (log: {self.log_path})")
        self.proc = subprocess.Popen(
            self.argv,
            cwd=REPO,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(
                    f"{self.label} exited with status {self.proc.returncode} while starting:\n"
                    + self.log_tail()
                )
            if self.ready(self.port):
                progress(f"{self.label} is ready")
                return
            time.sleep(0.25)
        raise BenchError(f"{self.label} did not answer within {timeout:.0f}s:\n{self.log_tail()}")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
            progress(f"stopped {self.label}")
        if proc is not None:
            # the group may outlive its leader (uvicorn's workers): make sure none is left
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        if self.log_file is not None:
            self.log_file.close()
            self.log_file = None

    @property
    def pgid(self) -> int | None:
        """The server's process group (its leader's pid) while it runs."""
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join("    " + line for line in text.splitlines()[-lines:])


@contextlib.contextmanager
def running(servers: list[Server]) -> Iterator[list[Server]]:
    """Start every server; stop all of them when the block ends, however it ends."""
    try:
        for server in servers:
            server.start()
        yield servers
    finally:
        for server in reversed(servers):
            server.stop()


# ---- the implementations ---------------------------------------------------------------------


def _venv_bin(name: str) -> str:
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise BenchError(f"{path} is missing: run `make -C {REPO} .venv/.installed` first")
    return str(path)


def gridweave(
    *,
    key: str,
    label: str,
    database_url: str,
    secret_key: str,
    token: str,
    compiled: bool,
    workers: int,
    cache: bool = False,
) -> Server:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "GRIDWEAVE_ENVIRONMENT": "production",
        "GRIDWEAVE_SECRET_KEY": secret_key,
        "GRIDWEAVE_COMPILED_READS": "true" if compiled else "false",
        "GRIDWEAVE_RESPONSE_CACHE": "true" if cache else "false",
    }
    argv = [
        _venv_bin("gridweave"),
        "serve",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    return Server(
        key=key,
        label=label,
        auth="COORDINATOR token",
        argv=argv,
        env=env,
        port=port,
        ready=healthz,
        headers={"Authorization": f"Bearer {token}"},
    )


def asyncpg_baseline(*, dsn: str) -> Server:
    port = free_port()
    env = {**os.environ, "READPATH_DSN": dsn}
    argv = [
        _venv_bin("uvicorn"),
        "bench.asyncpg_server:app",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        "1",
        "--no-access-log",
        "--log-level",
        "warning",
        "--lifespan",
        "on",
    ]
    return Server(
        key="asyncpg",
        label="asyncpg hand-written",
        auth="none",
        argv=argv,
        env=env,
        port=port,
        ready=healthz,
    )


def postgraphile(*, dsn: str) -> Server:
    port = free_port()
    cli = POSTGRAPHILE_DIR / "node_modules" / ".bin" / "postgraphile"
    env = {**os.environ, "NODE_ENV": "production"}
    argv = [
        str(cli),
        "--connection",
        dsn,
        "--schema",
        "public",
        "--host",
        HOST,
        "--port",
        str(port),
        "--disable-graphiql",
        "--disable-query-log",
    ]
    return Server(
        key="postgraphile",
        label=f"PostGraphile {POSTGRAPHILE_VERSION}",
        auth="NONE",
        argv=argv,
        env=env,
        port=port,
        ready=graphql_typename,
        dialect="postgraphile",
    )


# ---- tools ---------------------------------------------------------------------------------------


def ensure_postgraphile() -> None:
    """npm install postgraphile@4.14.1 into bench/.work/postgraphile (once)."""
    manifest = POSTGRAPHILE_DIR / "node_modules" / "postgraphile" / "package.json"
    if (
        manifest.exists()
        and json.loads(manifest.read_text()).get("version") == POSTGRAPHILE_VERSION
    ):
        return
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise BenchError("PostGraphile needs node and npm on the PATH (node 18 or newer)")
    POSTGRAPHILE_DIR.mkdir(parents=True, exist_ok=True)
    package = POSTGRAPHILE_DIR / "package.json"
    if not package.exists():
        package.write_text('{"name": "readpath-postgraphile", "private": true}\n')
    progress(f"npm install postgraphile@{POSTGRAPHILE_VERSION} into {POSTGRAPHILE_DIR}")
    try:
        subprocess.run(
            [
                "npm",
                "install",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                "--save-exact",
                f"postgraphile@{POSTGRAPHILE_VERSION}",
            ],
            cwd=POSTGRAPHILE_DIR,
            check=True,
            timeout=600,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        raise BenchError(f"npm install postgraphile@{POSTGRAPHILE_VERSION} failed: {e}") from e


def ensure_wrk() -> str:
    """The wrk binary; tries `apt-get install -y wrk` once when it is missing."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        progress("wrk is missing: apt-get install -y wrk")
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            subprocess.run(
                ["apt-get", "install", "-y", "-q", "wrk"],
                check=True,
                timeout=300,
                stdout=subprocess.DEVNULL,
            )
        found = shutil.which("wrk")
        if found:
            return found
    raise BenchError(
        "wrk is not installed and could not be installed here: install it "
        "(Debian/Ubuntu: `apt-get install wrk`, macOS: `brew install wrk`) and run again"
    )
