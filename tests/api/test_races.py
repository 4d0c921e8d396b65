"""Two coordinators create an area with the same code at the same instant, on separate
connections: exactly one wins, the other gets CONFLICT (not an unexpected error), and the ledger
holds exactly one entry that verifies."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import func, select

from gridweave.db import Sessionmaker
from gridweave.models import Area, AuditEntry
from gridweave.services.audit import verify_chain
from gridweave.settings import Settings
from tests.factories import Api, gid, make_area, make_user, token_for

CREATE = (
    "mutation($p: ID!, $n: String!) { createArea(input: {name: $n, level: DISTRICT,"
    ' parentId: $p, code: "510102"}) { area { id } userErrors { code message } } }'
)


async def test_same_code_at_once_exactly_one_wins(
    client: httpx.AsyncClient, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    city = await make_area(sessionmaker, level="CITY")
    users = [await make_user(sessionmaker, "COORDINATOR", area=city) for _ in range(2)]
    apis = [Api(client, token_for(settings, u)) for u in users]

    results = await asyncio.gather(
        *(api.data(CREATE, p=gid("Area", city.id), n=f"锦江区{i}") for i, api in enumerate(apis))
    )

    payloads = [r["createArea"] for r in results]
    winners = [p for p in payloads if p["area"] is not None]
    losers = [p for p in payloads if p["area"] is None]
    assert len(winners) == 1
    assert [e["code"] for e in losers[0]["userErrors"]] == ["CONFLICT"]
    async with sessionmaker() as s:
        assert await s.scalar(select(func.count()).where(Area.code == "510102")) == 1
        assert await s.scalar(select(func.count()).select_from(AuditEntry)) == 1
        assert (await verify_chain(s)).valid
