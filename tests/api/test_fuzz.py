"""A short fuzz run on every test run (bench/fuzz.py; the 10,000-case run is
`.venv/bin/python -m bench.fuzz`): no answer may be a 5xx or a masked "Unexpected error"."""

from __future__ import annotations

import os

import httpx

from bench.fuzz import generate_cases, run_cases
from gridweave.db import Sessionmaker
from gridweave.schema.root import build_schema
from gridweave.settings import Settings
from tests.factories import make_user, token_for
from tests.fuzz_world import make_fuzz_world

CASES = int(os.environ.get("GRIDWEAVE_FUZZ_CASES", "200"))


async def test_fuzzed_requests_are_never_5xx_or_masked(
    client: httpx.AsyncClient, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    ids = await make_fuzz_world(sessionmaker)
    token = token_for(settings, await make_user(sessionmaker, "ADMIN"))
    cases = generate_cases(build_schema(settings).as_str(), ids, CASES)

    report = await run_cases(client, token, cases)

    assert report.cases == CASES
    assert report.bad == [], report.summary()
