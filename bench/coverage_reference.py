"""The coverage report and load as an earlier commit did them, for a before/after comparison and an
equivalence check in the same run: ``graph/coverage.py``, ``graph/suggestions.py`` and
``services/coverage.py`` read from git at that commit and imported under names of their own, then
run on the same data. The check compares the count and a digest of every gap (kind, area,
severity, category, organization, message, suggestions, in report order) and of the
per-category summary."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import types
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

# 655 lines of graph/coverage.py before the columnar gaps (the 2026-12-01 numbers' code)
REFERENCE_COMMIT = "c3a652b"
REPO = Path(__file__).resolve().parent.parent


def _module(name: str, source: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__file__ = f"<{name}>"
    sys.modules[name] = module
    exec(compile(source, module.__file__, "exec"), module.__dict__)  # noqa: S102 - our own code
    return module


def _show(commit: str, path: str) -> str:
    return subprocess.run(
        ["git", "-C", str(REPO), "show", f"{commit}:{path}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def reference_loader(commit: str = REFERENCE_COMMIT) -> Callable[..., Any]:
    """``services.coverage.load_coverage_data`` as of ``commit`` (it builds today's
    ``CoverageData``, whose fields have not changed)."""
    source = _show(commit, "gridweave/services/coverage.py")
    fn: Callable[..., Any] = _module("bench_reference_load", source).load_coverage_data
    return fn


def reference_report(commit: str = REFERENCE_COMMIT) -> Callable[[Any, Any], Any]:
    """``coverage_gaps`` as of ``commit``."""

    def show(path: str) -> str:
        return _show(commit, path)

    core, sugg = "bench_reference_coverage", "bench_reference_suggestions"
    core_src = show("gridweave/graph/coverage.py").replace("gridweave.graph.suggestions", sugg)
    sugg_src = show("gridweave/graph/suggestions.py").replace("gridweave.graph.coverage", core)
    module = _module(core, core_src)
    _module(sugg, sugg_src)
    fn: Callable[[Any, Any], Any] = module.coverage_gaps
    return fn


def digest(gaps: Iterable[Any], by_category: Iterable[Any]) -> tuple[int, str]:
    h = hashlib.sha256()
    n = 0
    for g in gaps:
        fields = (
            str(g.kind.value),
            int(g.area_id),
            float(g.severity),
            g.category_id,
            g.organization_id,
            g.message,
            tuple(g.suggestions),
        )
        h.update(repr(fields).encode())
        n += 1
    for c in by_category:
        h.update(
            repr((c.category_id, c.areas_total, c.areas_covered, c.households_uncovered)).encode()
        )
    return n, h.hexdigest()[:16]
