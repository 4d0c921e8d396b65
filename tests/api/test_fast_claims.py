"""The claim's fast path (gridweave/compiled/writes.py) answers exactly what strawberry answers:
the same claim, the same refusals with the same codes and fields, nothing written on a refusal,
the ledger entry and the event; a document it does not cover is answered by strawberry."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from gridweave.db import Sessionmaker, unit_of_work
from gridweave.ids import decode_id
from gridweave.models import AuditEntry, Claim
from gridweave.models.projects import MAX_SLOTS
from gridweave.services import projects as project_svc
from gridweave.services.audit import verify_chain
from gridweave.settings import Settings
from tests.api.conftest import Two
from tests.factories import (
    coordinator_of,
    gid,
    make_area,
    make_chain,
    make_org,
    make_project,
    make_user,
    token_for,
)

FULL = """
mutation Claim($p: ID!, $c: ID!, $n: Int) {
  taken: claimServiceProject(input: {projectId: $p, claimantId: $c, slots: $n}) {
    __typename
    claim { ...Mine status kind: __typename }
    problems: userErrors { code field message __typename }
    userErrors { code }
  }
}
fragment Mine on Claim { id slots claimedAt rating }
"""
PLAIN = (
    "mutation($p: ID!, $c: ID!) { claimServiceProject(input: {projectId: $p, claimantId: $c})"
    " { claim { id } userErrors { code field message } } }"
)


async def post(client: httpx.AsyncClient, token: str | None, query: str, **variables: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    r = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    assert r.status_code == 200, r.text
    return r.json()


async def world(sm: Sessionmaker, settings: Settings) -> Any:
    class W:
        pass

    w = W()
    _, w.community = await make_chain(sm, "STREET", "COMMUNITY")
    w.other = await make_area(sm, level="COMMUNITY", parent=w.community)
    w.poster = await make_org(sm, area=w.community, kind="SELF_GOVERNANCE_ORGANIZATION")
    w.orgs = [await make_org(sm, area=w.community) for _ in range(4)]
    w.tokens = [
        token_for(settings, await make_user(sm, "ORGANIZATION_MEMBER", organization=o))
        for o in w.orgs
    ]
    w.coordinator = token_for(settings, await make_user(sm, "COORDINATOR", area=w.community))
    w.outsider = token_for(settings, await make_user(sm, "COORDINATOR", area=w.other))
    w.far = await make_org(sm, area=w.other)  # the outsider acts for it, but cannot see the project
    return w


async def written(sm: Sessionmaker) -> tuple[int, int]:
    async with sm() as s:
        claims = await s.scalar(select(func.count()).select_from(Claim))
        entries = await s.scalar(select(func.count()).select_from(AuditEntry))
    return int(claims or 0), int(entries or 0)


async def test_a_claim_is_answered_alike_on_both_paths(
    two: Two, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    w = await world(sessionmaker, settings)
    project = await make_project(sessionmaker, area=w.community, poster=w.poster, slots=10)
    p = gid("ServiceProject", project.id)
    before = two.claims.answered

    answers = [
        await post(two.fast, w.tokens[0], FULL, p=p, c=gid("Organization", w.orgs[0].id), n=2),
        await post(two.slow, w.tokens[1], FULL, p=p, c=gid("Organization", w.orgs[1].id), n=2),
    ]

    assert two.claims.answered == before + 1
    shown = [a["data"]["taken"] for a in answers]
    for answer, org in zip(shown, w.orgs, strict=False):
        claim = answer["claim"]
        async with sessionmaker() as s:
            row = await s.get(Claim, decode_id(claim["id"], "Claim", field=["id"]))
        assert row is not None
        assert (row.claimant_id, row.slots) == (org.id, 2)
        assert datetime.fromisoformat(claim["claimedAt"]) == row.claimed_at
    # alike but for the claim's own id and time
    for answer in shown:
        answer["claim"]["id"] = answer["claim"]["claimedAt"] = "-"
    assert (
        shown[0]
        == shown[1]
        == {
            "__typename": "ClaimPayload",
            "claim": {
                "id": "-",
                "slots": 2,
                "claimedAt": "-",
                "rating": None,
                "status": "ACTIVE",
                "kind": "Claim",
            },
            "problems": [],
            "userErrors": [],
        }
    )
    assert list(answers[0]["data"]["taken"]) == list(answers[1]["data"]["taken"])  # key order
    async with sessionmaker() as s:
        actions = (
            await s.scalars(select(AuditEntry.action).order_by(AuditEntry.id.desc()).limit(2))
        ).all()
        assert actions == ["claimServiceProject"] * 2
        assert (await verify_chain(s)).valid


async def test_every_refusal_is_answered_alike_and_writes_nothing(
    two: Two, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    w = await world(sessionmaker, settings)
    open_one = await make_project(sessionmaker, area=w.community, poster=w.poster, slots=2)
    full = await make_project(sessionmaker, area=w.community, poster=w.poster, slots=1)
    cancelled = await make_project(sessionmaker, area=w.community, poster=w.poster)
    async with unit_of_work(sessionmaker) as s:
        await project_svc.cancel_project(
            s,
            actor=await coordinator_of(sessionmaker, w.community),
            project_id=cancelled.id,
            reason="活动取消",
        )
    org = [gid("Organization", o.id) for o in w.orgs]
    far = gid("Organization", w.far.id)
    held = await post(two.fast, w.tokens[0], PLAIN, p=gid("ServiceProject", open_one.id), c=org[0])
    assert held["data"]["claimServiceProject"]["userErrors"] == []
    taken = await post(two.fast, w.tokens[1], PLAIN, p=gid("ServiceProject", full.id), c=org[1])
    assert taken["data"]["claimServiceProject"]["userErrors"] == []
    deleted = await make_user(sessionmaker, "COORDINATOR")
    deleted_token = token_for(settings, deleted)
    async with unit_of_work(sessionmaker) as s:
        await s.delete(await s.merge(deleted))

    cases: list[tuple[str | None, dict[str, Any], str | None]] = [
        (w.tokens[0], {"p": gid("ServiceProject", open_one.id), "c": org[0]}, "ALREADY_CLAIMED"),
        (w.tokens[2], {"p": gid("ServiceProject", full.id), "c": org[2]}, "NO_SLOTS_LEFT"),
        (w.tokens[2], {"p": gid("ServiceProject", cancelled.id), "c": org[2]}, "INVALID_STATE"),
        (w.tokens[2], {"p": gid("ServiceProject", open_one.id), "c": org[3]}, "FORBIDDEN"),
        (w.tokens[2], {"p": gid("ServiceProject", 10**12), "c": org[2]}, "NOT_FOUND"),
        (
            w.tokens[2],
            {"p": gid("ServiceProject", open_one.id), "c": gid("Organization", 10**12)},
            "NOT_FOUND",
        ),
        (w.tokens[2], {"p": gid("Organization", 1), "c": org[2]}, "VALIDATION"),
        (w.tokens[2], {"p": "not an id", "c": org[2]}, "VALIDATION"),
        (w.tokens[2], {"p": gid("ServiceProject", open_one.id), "c": org[2], "n": 0}, "VALIDATION"),
        (
            w.tokens[2],
            {"p": gid("ServiceProject", open_one.id), "c": org[2], "n": MAX_SLOTS + 1},
            None,
        ),
        (
            w.tokens[2],
            {"p": gid("ServiceProject", open_one.id), "c": org[2], "n": 2},
            "NO_SLOTS_LEFT",
        ),
        (w.outsider, {"p": gid("ServiceProject", open_one.id), "c": org[2]}, "FORBIDDEN"),
        (w.outsider, {"p": gid("ServiceProject", open_one.id), "c": far}, "NOT_FOUND"),
        (deleted_token, {"p": gid("ServiceProject", open_one.id), "c": org[2]}, "UNAUTHENTICATED"),
        (w.tokens[2], {"p": 5, "c": org[2], "n": "many"}, None),  # GraphQL refuses the variables
    ]
    before = await written(sessionmaker)
    for token, variables, code in cases:
        fast = await post(two.fast, token, FULL, **variables)
        slow = await post(two.slow, token, FULL, **variables)
        assert fast == slow, (variables, fast, slow)
        if code is None:
            assert "errors" in fast or fast["data"]["taken"]["problems"], fast
            continue
        problems = fast["data"]["taken"]["problems"]
        assert [e["code"] for e in problems] == [code], (variables, problems)
        assert fast["data"]["taken"]["claim"] is None
        assert all(e["message"] and e["__typename"] == "UserError" for e in problems)
    assert await written(sessionmaker) == before


@pytest.mark.parametrize(
    "document",
    [
        # the project after the claim: read through the request's loaders, strawberry's part
        "mutation($p: ID!, $c: ID!) { claimServiceProject(input: {projectId: $p, claimantId: $c})"
        " { claim { id } project { claimedSlots } } }",
        "mutation($p: ID!, $c: ID!, $y: Boolean!) { claimServiceProject(input: {projectId: $p,"
        " claimantId: $c}) { claim { id @include(if: $y) } } }",
        "mutation($p: ID!, $c: ID!) { claimServiceProject(input: {projectId: $p, claimantId: $c})"
        " { claim { id claimant { id } } } }",
    ],
    ids=["project", "directive", "claimant"],
)
async def test_what_the_fast_path_does_not_cover_strawberry_answers(
    document: str, two: Two, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    w = await world(sessionmaker, settings)
    project = await make_project(sessionmaker, area=w.community, poster=w.poster, slots=3)
    before = two.claims.answered
    variables = {"p": gid("ServiceProject", project.id), "c": gid("Organization", w.orgs[0].id)}
    answer = await post(two.fast, w.tokens[0], document, y=True, **variables)
    assert "errors" not in answer, answer
    assert answer["data"]["claimServiceProject"]["claim"]["id"].strip()
    assert two.claims.answered == before  # strawberry answered it, and the claim was made
    assert (await written(sessionmaker))[0] >= 1


async def test_an_unexpected_error_is_masked_alike_with_a_request_id(
    two: Two, sessionmaker: Sessionmaker, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gridweave.compiled import writes
    from gridweave.resolvers import projects as resolvers

    async def broken(*_args: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(writes, "claim_as_asked", broken)
    monkeypatch.setattr(resolvers, "claim_as_asked", broken)
    w = await world(sessionmaker, settings)
    project = await make_project(sessionmaker, area=w.community, poster=w.poster)
    variables = {"p": gid("ServiceProject", project.id), "c": gid("Organization", w.orgs[0].id)}
    answers = [await post(c, w.tokens[0], FULL, **variables) for c in (two.fast, two.slow)]
    ids = []
    for answer in answers:
        error = answer["errors"][0]
        ids.append(error["extensions"]["requestId"])
        assert re.fullmatch(r"Unexpected error\. Request id: [0-9a-f]{32}", error["message"])
        assert "a bug" not in str(answer)
        error["message"] = error["extensions"]["requestId"] = "-"
    assert answers[0] == answers[1]
    assert answers[0]["data"] is None
    assert answers[0]["errors"][0]["path"] == ["taken"]
    assert ids[0] != ids[1]


async def test_fast_claims_are_counted_as_mutations(
    two: Two, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    from tests.ops.test_metrics import requests, scrape

    w = await world(sessionmaker, settings)
    project = await make_project(sessionmaker, area=w.community, poster=w.poster)
    variables = {"p": gid("ServiceProject", project.id), "c": gid("Organization", w.orgs[0].id)}
    before = await scrape(two.fast)
    made = await post(two.fast, w.tokens[0], PLAIN, **variables)
    again = await post(two.fast, w.tokens[0], PLAIN, **variables)
    after = await scrape(two.fast)
    assert made["data"]["claimServiceProject"]["userErrors"] == []
    assert again["data"]["claimServiceProject"]["userErrors"][0]["code"] == "ALREADY_CLAIMED"
    assert requests(after, "mutation", "ok") - requests(before, "mutation", "ok") == 1
    assert (
        requests(after, "mutation", "user_error") - requests(before, "mutation", "user_error") == 1
    )
    assert requests(after, "query", "ok") == requests(before, "query", "ok")
