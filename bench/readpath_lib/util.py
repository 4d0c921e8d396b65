"""Small helpers shared by the bench modules: progress on stderr, results on stdout."""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WORK = REPO / "bench" / ".work"
_STARTED = time.monotonic()


class BenchError(RuntimeError):
    """A failed step: the message says what went wrong; the run stops with exit status 1."""


def _bench_name() -> str:
    """'claims' for ``python -m bench.claims_lib``, 'checkout' for ``python -m bench.checkout``."""
    main = Path(sys.argv[0])
    name = main.parent.name if main.name == "__main__.py" else main.stem
    return name.removesuffix("_lib")


_NAME = _bench_name()


def progress(message: str) -> None:
    """One progress line on stderr, with the bench's name and the time since the start."""
    sys.stderr.write(f"[{_NAME} {time.monotonic() - _STARTED:6.1f}s] {message}\n")
    sys.stderr.flush()


def out(line: str = "") -> None:
    """One result line on stdout."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
