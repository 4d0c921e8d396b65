"""Claims at the same instant, over HTTP, each request on its own database connection: 50
organizations claim a 1-place and a 7-place project at once; exactly 1 and 7 win, every other
one is told NO_SLOTS_LEFT, and the database (places, claims, ledger) agrees. A withdrawal races
a claim for the place it frees: whoever wins, the places and the claims agree."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from gridweave.db import Sessionmaker
from gridweave.models import AuditEntry, Claim, ServiceProject
from gridweave.services.audit import verify_chain
from gridweave.settings import Settings
from tests.factories import Api, gid, make_chain, make_org, make_project, make_user, token_for

CLAIM = (
    "mutation($p: ID!, $c: ID!) { claimServiceProject(input: {projectId: $p, claimantId: $c})"
    " { claim { id status } project { claimedSlots status } userErrors { code field } } }"
)
# What the claim's fast path answers (no project in the payload: gridweave/compiled/writes.py).
FAST_CLAIM = (
    "mutation($p: ID!, $c: ID!) { claimServiceProject(input: {projectId: $p, claimantId: $c})"
    " { claim { id status } userErrors { code field } } }"
)
WITHDRAW = (
    "mutation($c: ID!) { withdrawClaim(input: {claimId: $c})"
    " { claim { status } userErrors { code } } }"
)


async def members(
    sm: Sessionmaker, client: httpx.AsyncClient, settings: Settings, area: Any, n: int
) -> list[tuple[Any, Api]]:
    """``n`` organizations in ``area``, each with a signed-in member."""
    out = []
    for _ in range(n):
        org = await make_org(sm, area=area)
        user = await make_user(sm, "ORGANIZATION_MEMBER", organization=org)
        out.append((org, Api(client, token_for(settings, user))))
    return out


@pytest.mark.parametrize("document", [CLAIM, FAST_CLAIM], ids=["strawberry", "fast"])
@pytest.mark.parametrize("places", [1, 7])
async def test_fifty_claims_at_once_exactly_the_places_win(
    places: int,
    document: str,
    client: httpx.AsyncClient,
    sessionmaker: Sessionmaker,
    settings: Settings,
) -> None:
    _, community = await make_chain(sessionmaker, "STREET", "COMMUNITY")
    poster = await make_org(sessionmaker, area=community, kind="SELF_GOVERNANCE_ORGANIZATION")
    project = await make_project(sessionmaker, area=community, poster=poster, slots=places)
    claimants = await members(sessionmaker, client, settings, community, 50)

    results = await asyncio.gather(
        *(
            api.data(document, p=gid("ServiceProject", project.id), c=gid("Organization", org.id))
            for org, api in claimants
        )
    )

    payloads = [r["claimServiceProject"] for r in results]
    won = [p for p in payloads if p["claim"] is not None]
    lost = [p for p in payloads if p["claim"] is None]
    assert len(won) == places
    assert all(p["userErrors"] == [] and p["claim"]["status"] == "ACTIVE" for p in won)
    assert {(e["code"], tuple(e["field"])) for p in lost for e in p["userErrors"]} == {
        ("NO_SLOTS_LEFT", ("input", "projectId"))
    }
    assert len(lost) == 50 - places
    assert all(len(p["userErrors"]) == 1 for p in lost)
    # answers are read after the commit: each shows its own place taken, never more than there are
    assert all(1 <= p["project"]["claimedSlots"] <= places for p in won if "project" in p)
    async with sessionmaker() as s:
        row = await s.get(ServiceProject, project.id)
        assert row is not None
        assert row.claimed_slots == places
        live = await s.scalar(
            select(func.count()).where(Claim.project_id == project.id, Claim.status == "ACTIVE")
        )
        assert live == places
        entries = await s.scalar(
            select(func.count()).where(AuditEntry.action == "claimServiceProject")
        )
        assert entries == places
        assert (await verify_chain(s)).valid
        # stamped once the ledger's lock was granted: times follow the chain
        times = (await s.scalars(select(AuditEntry.at).order_by(AuditEntry.id))).all()
        assert times == sorted(times)


async def test_a_withdrawal_races_a_claim_for_the_freed_place(
    client: httpx.AsyncClient, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    _, community = await make_chain(sessionmaker, "STREET", "COMMUNITY")
    poster = await make_org(sessionmaker, area=community)
    (holder, holder_api), (other, other_api) = await members(
        sessionmaker, client, settings, community, 2
    )
    outcomes = set()
    for _ in range(6):
        project = await make_project(sessionmaker, area=community, poster=poster, slots=1)
        pid = gid("ServiceProject", project.id)
        held = await holder_api.data(CLAIM, p=pid, c=gid("Organization", holder.id))
        claim_id = held["claimServiceProject"]["claim"]["id"]

        withdrawn, claimed = await asyncio.gather(
            holder_api.data(WITHDRAW, c=claim_id),
            other_api.data(FAST_CLAIM, p=pid, c=gid("Organization", other.id)),
        )

        assert withdrawn["withdrawClaim"]["claim"]["status"] == "WITHDRAWN"
        payload = claimed["claimServiceProject"]
        won = payload["claim"] is not None
        if not won:
            assert [e["code"] for e in payload["userErrors"]] == ["NO_SLOTS_LEFT"]
        outcomes.add(won)
        async with sessionmaker() as s:
            row = await s.get(ServiceProject, project.id)
            assert row is not None
            live = (
                await s.scalars(
                    select(Claim.claimant_id).where(
                        Claim.project_id == project.id, Claim.status != "WITHDRAWN"
                    )
                )
            ).all()
            assert live == ([other.id] if won else [])
            assert row.claimed_slots == len(live)
    async with sessionmaker() as s:
        assert (await verify_chain(s)).valid
    assert outcomes  # which side wins is up to the scheduler; both must be consistent
