"""The small region the fuzz run works on (shared by tests/api/test_fuzz.py and bench/fuzz.py)."""

from __future__ import annotations

from gridweave.db import Sessionmaker
from tests.factories import gid, make_chain, make_org


async def make_fuzz_world(sm: Sessionmaker) -> list[str]:
    """A city down to a building with a few organizations; their global ids."""
    chain = await make_chain(
        sm, "CITY", "DISTRICT", "STREET", "COMMUNITY", "GRID", "COURTYARD", "BUILDING"
    )
    orgs = [await make_org(sm, area=area) for area in chain[:4]]
    return [gid("Area", a.id) for a in chain] + [gid("Organization", o.id) for o in orgs]
