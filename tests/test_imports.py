"""Every module imports on its own: no import cycle hides behind the order in which the app
happens to import things."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "gridweave"
MODULES = sorted(
    ".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
    for p in PACKAGE.rglob("*.py")
    if "migrations" not in p.parts
)
# Third-party libraries are imported once in the parent; each child then imports one of our
# modules into an interpreter that holds none of them yet.
WARM = "strawberry graphql sqlalchemy sqlalchemy.ext.asyncio asyncpg starlette networkx typer"


def _import_alone(name: str) -> str | None:
    import importlib
    import sys

    for loaded in [m for m in sys.modules if m == "gridweave" or m.startswith("gridweave.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception as e:  # noqa: BLE001 - any failure is the finding
        return f"{name}: {type(e).__name__}: {e}"
    return None


def test_every_module_imports_on_its_own() -> None:
    import importlib

    for lib in WARM.split():
        importlib.import_module(lib)
    assert "gridweave.resolvers.areas" in MODULES
    with multiprocessing.get_context("fork").Pool(2, maxtasksperchild=1) as pool:
        failures = [f for f in pool.map(_import_alone, MODULES, chunksize=1) if f]
    assert failures == []
