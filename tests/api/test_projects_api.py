"""Service projects over GraphQL: post, claim, report, verify and cancel as the roles that may;
the board (``serviceProjects``: subtree, newest first, filters, pages, nested claims); node();
and what another community's coordinator or a user without grants gets (nothing)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from gridweave.db import Sessionmaker
from gridweave.services.projects import region_today
from gridweave.settings import Settings
from tests.api.helpers import Refusal, assert_refused, call
from tests.factories import (
    Api,
    gid,
    make_area,
    make_chain,
    make_org,
    make_project,
    make_user,
    token_for,
)

PROJECT = "project { id title status slots claimedSlots kind category { code } area { name } }"
CLAIM = "claim { id status slots rating report { hours beneficiaries completedOn } }"
BOARD = """
query($area: ID, $status: ServiceProjectStatus, $cat: String, $first: Int, $after: String) {
  serviceProjects(areaId: $area, status: $status, categoryCode: $cat, first: $first,
                  after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id title status claimedSlots postedBy { name }
                   claims { status slots claimant { id name } project { id } } } }
  }
}"""


@pytest.fixture
async def w(client: httpx.AsyncClient, sessionmaker: Sessionmaker, settings: Settings) -> Any:
    class W:
        pass

    x = W()
    x.street, x.community = await make_chain(sessionmaker, "STREET", "COMMUNITY")
    x.other = await make_area(sessionmaker, level="COMMUNITY", parent=x.street)
    x.committee = await make_org(
        sessionmaker, area=x.community, kind="SELF_GOVERNANCE_ORGANIZATION", name="居委会"
    )
    x.team = await make_org(sessionmaker, area=x.community, kind="VOLUNTEER_TEAM", name="志愿队")

    async def api(role: str, **kw: Any) -> Api:
        return Api(client, token_for(settings, await make_user(sessionmaker, role, **kw)))

    x.coordinator = await api("COORDINATOR", area=x.community)
    x.outsider = await api("COORDINATOR", area=x.other)
    x.member = await api("ORGANIZATION_MEMBER", organization=x.team)
    x.evaluator = await api("EVALUATOR", area=x.street)  # reads, but neither posts nor claims
    x.stranger = await api(
        "ORGANIZATION_MEMBER", organization=await make_org(sessionmaker, area=x.other)
    )
    x.auditor = await api("AUDITOR", area=x.street)
    return x


async def test_a_project_goes_from_posted_to_verified_over_graphql(w: Any) -> None:
    posted = await call(
        w.coordinator,
        "postServiceProject",
        "PostServiceProjectInput",
        PROJECT,
        title="帮独居老人买药",
        description="每周一次",
        kind="SMALL_WISH",
        categoryCode="elderly_care",
        areaId=gid("Area", w.community.id),
        postedById=gid("Organization", w.committee.id),
    )
    assert posted["userErrors"] == []
    project = posted["project"]
    assert (project["status"], project["slots"], project["claimedSlots"]) == ("OPEN", 1, 0)
    assert project["category"]["code"] == "elderly_care"

    claimed = await call(
        w.member,
        "claimServiceProject",
        "ClaimServiceProjectInput",
        f"{CLAIM} {PROJECT}",
        projectId=project["id"],
        claimantId=gid("Organization", w.team.id),
    )
    assert claimed["userErrors"] == []
    assert claimed["project"]["status"] == "CLAIMED"
    claim_id = claimed["claim"]["id"]

    reported = await call(
        w.member,
        "reportCompletion",
        "ReportCompletionInput",
        f"{CLAIM} {PROJECT}",
        claimId=claim_id,
        summary="买了三次药",
        hours="4.50",
        beneficiaries=1,
        completedOn=region_today().isoformat(),
    )
    assert reported["userErrors"] == []
    assert reported["claim"]["report"] == {
        "hours": "4.50",
        "beneficiaries": 1,
        "completedOn": region_today().isoformat(),
    }
    assert reported["project"]["status"] == "COMPLETED"

    verified = await call(
        w.coordinator,
        "verifyClaim",
        "VerifyClaimInput",
        f"{CLAIM} {PROJECT}",
        claimId=claim_id,
        rating=5,
    )
    assert verified["claim"]["rating"] == 5
    assert verified["claim"]["status"] == "VERIFIED"
    assert verified["project"]["status"] == "VERIFIED"

    # node() answers both, for whoever may read the community's projects
    node = "query($id: ID!) { node(id: $id) { __typename id } }"
    for api in (w.coordinator, w.member, w.auditor):
        for gid_ in (project["id"], claim_id):
            assert (await api.data(node, id=gid_))["node"]["id"] == gid_
    for api in (w.outsider, w.stranger):
        for gid_ in (project["id"], claim_id):
            assert (await api.data(node, id=gid_))["node"] is None


async def test_the_board_pages_newest_first_and_filters(w: Any, sessionmaker: Sessionmaker) -> None:
    ids = [
        (await make_project(sessionmaker, area=w.community, poster=w.committee, slots=2)).id
        for _ in range(5)
    ]
    health = await make_project(
        sessionmaker, area=w.community, poster=w.committee, category="health"
    )
    expired = await make_project(
        sessionmaker,
        area=w.community,
        poster=w.committee,
        deadline=region_today() - timedelta(days=2),
    )
    await make_project(sessionmaker, area=w.other, poster=w.committee)  # not in the subtree
    await call(
        w.member,
        "claimServiceProject",
        "ClaimServiceProjectInput",
        "claim { id }",
        projectId=gid("ServiceProject", ids[0]),
        claimantId=gid("Organization", w.team.id),
    )

    area = gid("Area", w.community.id)
    first = (await w.coordinator.data(BOARD, area=area, first=3))["serviceProjects"]
    assert first["totalCount"] == 7
    assert [e["node"]["id"] for e in first["edges"]] == [
        gid("ServiceProject", pk) for pk in (expired.id, health.id, ids[4])
    ]
    rest = (
        await w.coordinator.data(BOARD, area=area, first=10, after=first["pageInfo"]["endCursor"])
    )["serviceProjects"]
    assert [e["node"]["id"] for e in rest["edges"]] == [
        gid("ServiceProject", pk) for pk in reversed(ids[:4])
    ]
    assert rest["pageInfo"]["hasNextPage"] is False
    claimed = rest["edges"][-1]["node"]
    assert claimed["status"] == "PARTIALLY_CLAIMED"
    assert [(c["status"], c["claimant"]["name"]) for c in claimed["claims"]] == [
        ("ACTIVE", "志愿队")
    ]
    assert claimed["claims"][0]["project"]["id"] == claimed["id"]

    by_status = (await w.coordinator.data(BOARD, area=area, status="EXPIRED"))["serviceProjects"]
    assert [e["node"]["id"] for e in by_status["edges"]] == [gid("ServiceProject", expired.id)]
    assert by_status["edges"][0]["node"]["status"] == "EXPIRED"
    assert by_status["totalCount"] == 1
    by_category = (await w.coordinator.data(BOARD, cat="health"))["serviceProjects"]
    assert [e["node"]["id"] for e in by_category["edges"]] == [gid("ServiceProject", health.id)]

    # the street's board as seen by the other community's coordinator: only its own project
    street = gid("Area", w.street.id)
    assert (await w.outsider.data(BOARD, area=street))["serviceProjects"]["totalCount"] == 1
    assert (await w.auditor.data(BOARD, area=street))["serviceProjects"]["totalCount"] == 8
    assert (await w.stranger.data(BOARD))["serviceProjects"]["totalCount"] == 1
    bad = await w.coordinator(BOARD, cat="no_such_category")
    assert bad["errors"][0]["extensions"]["code"] == "VALIDATION"


async def test_refusals_over_graphql_write_nothing(w: Any, sessionmaker: Sessionmaker) -> None:
    project = await make_project(sessionmaker, area=w.community, poster=w.committee)
    pid = gid("ServiceProject", project.id)
    team = gid("Organization", w.team.id)
    claimed = await call(
        w.member,
        "claimServiceProject",
        "ClaimServiceProjectInput",
        "claim { id }",
        projectId=pid,
        claimantId=team,
    )
    claim_id = claimed["claim"]["id"]
    post = {
        "title": "t",
        "description": "d",
        "kind": "PROBLEM",
        "categoryCode": "health",
        "areaId": gid("Area", w.community.id),
        "postedById": gid("Organization", w.committee.id),
    }
    report = {
        "claimId": claim_id,
        "summary": "s",
        "hours": "1",
        "beneficiaries": 1,
        "completedOn": region_today().isoformat(),
    }
    sm = sessionmaker
    await assert_refused(
        sm,
        "postServiceProject",
        "PostServiceProjectInput",
        "project",
        Refusal(w.evaluator, post, "FORBIDDEN"),
        Refusal(w.member, post, "FORBIDDEN"),
        Refusal(w.outsider, post, "FORBIDDEN"),
        Refusal(w.coordinator, {**post, "title": "  "}, "VALIDATION", ["input", "title"]),
        Refusal(w.coordinator, {**post, "slots": 0}, "VALIDATION", ["input", "slots"]),
        Refusal(
            w.coordinator,
            {**post, "description": "x" * 4001},
            "VALIDATION",
            ["input", "description"],
        ),
    )
    await assert_refused(
        sm,
        "claimServiceProject",
        "ClaimServiceProjectInput",
        "claim",
        Refusal(w.evaluator, {"projectId": pid, "claimantId": team}, "FORBIDDEN"),
        Refusal(
            w.member,
            {"projectId": pid, "claimantId": team},
            "ALREADY_CLAIMED",
            ["input", "claimantId"],
        ),
        Refusal(
            w.outsider, {"projectId": pid, "claimantId": team}, "FORBIDDEN", ["input", "claimantId"]
        ),
        Refusal(
            w.member, {"projectId": team, "claimantId": team}, "VALIDATION", ["input", "projectId"]
        ),
    )
    await assert_refused(
        sm,
        "reportCompletion",
        "ReportCompletionInput",
        "claim",
        Refusal(w.evaluator, report, "FORBIDDEN"),
        Refusal(w.member, {**report, "hours": "-1"}, "VALIDATION", ["input", "hours"]),
        Refusal(
            w.member, {**report, "beneficiaries": -1}, "VALIDATION", ["input", "beneficiaries"]
        ),
        Refusal(
            w.member,
            {**report, "completedOn": "2199-01-01"},
            "VALIDATION",
            ["input", "completedOn"],
        ),
    )
    await assert_refused(
        sm,
        "verifyClaim",
        "VerifyClaimInput",
        "claim",
        Refusal(w.member, {"claimId": claim_id, "rating": 5}, "FORBIDDEN"),
        Refusal(
            w.coordinator, {"claimId": claim_id, "rating": 0}, "VALIDATION", ["input", "rating"]
        ),
        Refusal(
            w.coordinator, {"claimId": claim_id, "rating": 5}, "INVALID_STATE", ["input", "claimId"]
        ),
        Refusal(w.outsider, {"claimId": claim_id, "rating": 5}, "NOT_FOUND", ["input", "claimId"]),
    )
    await assert_refused(
        sm,
        "withdrawClaim",
        "WithdrawClaimInput",
        "claim",
        Refusal(w.evaluator, {"claimId": claim_id}, "FORBIDDEN"),
        Refusal(w.outsider, {"claimId": claim_id}, "NOT_FOUND", ["input", "claimId"]),
    )
    await assert_refused(
        sm,
        "cancelServiceProject",
        "CancelServiceProjectInput",
        "project",
        Refusal(w.member, {"projectId": pid, "reason": "r"}, "FORBIDDEN"),
        Refusal(w.outsider, {"projectId": pid, "reason": "r"}, "FORBIDDEN"),
        Refusal(w.coordinator, {"projectId": pid, "reason": ""}, "VALIDATION", ["input", "reason"]),
    )
    cancelled = await call(
        w.coordinator,
        "cancelServiceProject",
        "CancelServiceProjectInput",
        PROJECT,
        projectId=pid,
        reason="天气原因取消",
    )
    assert cancelled["project"]["status"] == "CANCELLED"
    await assert_refused(
        sm,
        "reportCompletion",
        "ReportCompletionInput",
        "claim",
        Refusal(w.member, report, "INVALID_STATE", ["input", "claimId"]),
    )
