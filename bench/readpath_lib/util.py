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


def progress(message: str) -> None:
    """One progress line on stderr, with the time since the start."""
    sys.stderr.write(f"[readpath {time.monotonic() - _STARTED:6.1f}s] {message}\n")
    sys.stderr.flush()


def out(line: str = "") -> None:
    """One result line on stdout."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
