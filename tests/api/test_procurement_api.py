"""Purchased services through GraphQL, from each role's seat: the issuer's coordinator, a bidder,
evaluators, and any other signed-in user, before and after the award; blind review through
``node()``; the score sheet read back with openpyxl; mutations refusing through userErrors."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import httpx
import openpyxl
import pytest

from gridweave.db import Sessionmaker
from gridweave.models import User
from gridweave.settings import Settings
from tests.factories import Api, gid, make_user, token_for
from tests.procurement_factories import (
    Scene,
    assign,
    award,
    bid_spec,
    close_call,
    make_bid,
    make_call,
    make_scene,
    review,
)

CALL = """query($id: ID!) { node(id: $id) { ... on ProcurementCall { status blindReview
  bids { totalCount edges { node { id title status amount
    bidder { id name creditCode }
    reviews { total stage evaluator { id displayName } scores { criterionKey score } }
    proposalScore { reviewCount mean trimmedMean min max grade } } } }
  ranking { title proposalScore { trimmedMean } } } } }"""
BID = """query($id: ID!) { node(id: $id) { __typename ... on Bid { title bidder { id name area { id } links { kind } } } } }"""


@dataclass
class World:
    scene: Scene
    call: Any
    bids: list[Any]
    api: dict[str, Api]


async def _api(client: httpx.AsyncClient, settings: Settings, user_id: int) -> Api:
    return Api(client, token_for(settings, User(id=user_id)))


@pytest.fixture
async def world(client: httpx.AsyncClient, sessionmaker: Sessionmaker, settings: Settings) -> World:
    sc = await make_scene(sessionmaker, bidders=2, evaluators=3)
    call = await make_call(
        sessionmaker, sc.coordinator, issuer=sc.issuer, area=sc.street, blind_review=True
    )
    bids = [
        await make_bid(sessionmaker, member, bid_spec(call.id, org.id, sc.community.id, a, title=t))
        for (org, member), a, t in zip(
            sc.bidders, ("120000", "90000"), ("甲方案", "乙方案"), strict=True
        )
    ]
    await close_call(sessionmaker, call.id)
    await assign(sessionmaker, sc.coordinator, call.id, sc.evaluators)
    await review(sessionmaker, sc.evaluators[0], bids[0].id, 90)
    await review(sessionmaker, sc.evaluators[0], bids[1].id, 70)
    nobody = await make_user(sessionmaker, None)
    api = {
        "coordinator": await _api(client, settings, sc.coordinator.user_id),
        "bidder": await _api(client, settings, sc.bidders[0][1].user_id),
        "evaluator": await _api(client, settings, sc.evaluators[0].user_id),
        "late evaluator": await _api(client, settings, sc.evaluators[1].user_id),
        "other": Api(client, token_for(settings, nobody)),
    }
    return World(sc, call, bids, api)


async def _call(world: World, who: str) -> dict[str, Any]:
    data = await world.api[who].data(CALL, id=gid("ProcurementCall", world.call.id))
    node: dict[str, Any] = data["node"]
    return node


def _bids(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["node"] for e in node["bids"]["edges"]]


async def _finish_scoring(world: World, sessionmaker: Sessionmaker) -> None:
    for e, totals in zip(world.scene.evaluators[1:], ((80, 60), (100, 65)), strict=True):
        for bid, total in zip(world.bids, totals, strict=True):
            await review(sessionmaker, e, bid.id, total)


async def test_before_scoring_is_complete_each_role_sees_its_part(world: World) -> None:
    # the issuer's coordinator: every bid, named, every review and the running scores
    coord = await _call(world, "coordinator")
    assert coord["status"] == "CLOSED"
    bids = _bids(coord)
    assert [b["bidder"]["name"] for b in bids] == ["投标机构1", "投标机构2"]
    assert [len(b["reviews"]) for b in bids] == [1, 1]
    assert bids[0]["proposalScore"]["mean"] == 90.0
    assert bids[0]["amount"] == "120000.00"
    assert coord["ranking"] == []  # not visible until scoring is complete

    # a bidder: its own bid only, no reviews, no score
    own = _bids(await _call(world, "bidder"))
    assert [(b["title"], b["reviews"], b["proposalScore"]) for b in own] == [("甲方案", [], None)]

    # an evaluator in a blind review: the assigned bids under stand-ins, their own reviews only
    ev = _bids(await _call(world, "evaluator"))
    assert [b["bidder"]["name"] for b in ev] == ["投标人 A", "投标人 B"]
    assert all(b["bidder"]["creditCode"] is None for b in ev)
    assert [[r["total"] for r in b["reviews"]] for b in ev] == [[90.0], [70.0]]
    assert all(b["proposalScore"] is None for b in ev)

    # an evaluator who has not reviewed yet sees nobody's reviews
    late = _bids(await _call(world, "late evaluator"))
    assert [b["reviews"] for b in late] == [[], []]

    # any other signed-in user: the public call, no bids
    other = await _call(world, "other")
    assert other["bids"]["totalCount"] == 0
    assert other["bids"]["edges"] == []


async def test_blind_review_through_node(world: World) -> None:
    bid_id = gid("Bid", world.bids[0].id)
    seen = (await world.api["evaluator"].data(BID, id=bid_id))["node"]
    assert seen["bidder"]["name"] == "投标人 A"
    assert seen["bidder"]["links"] == []
    assert seen["bidder"]["area"]["id"] == gid("Area", world.scene.street.id)  # the call's area
    stand_in = seen["bidder"]["id"]
    assert stand_in != gid("Organization", world.scene.bidders[0][0].id)
    # the stand-in's id resolves to nothing, for the evaluator and for the issuer alike
    for who in ("evaluator", "coordinator"):
        assert (await world.api[who].data(BID, id=stand_in))["node"] is None
    # the issuer sees who it is; a stranger sees no bid at all
    named = (await world.api["coordinator"].data(BID, id=bid_id))["node"]
    assert named["bidder"]["id"] == gid("Organization", world.scene.bidders[0][0].id)
    assert (await world.api["other"].data(BID, id=bid_id))["node"] is None
    # the bidder's own organization does not leak through its track record either
    assert (await world.api["other"].data(BID, id=gid("Bid", world.bids[1].id)))["node"] is None


async def test_once_all_reviews_are_in_evaluators_see_them_and_bidders_still_do_not(
    world: World, sessionmaker: Sessionmaker
) -> None:
    await _finish_scoring(world, sessionmaker)
    ev = await _call(world, "evaluator")
    bids = _bids(ev)
    assert [len(b["reviews"]) for b in bids] == [3, 3]
    # fellow evaluators are stand-ins (评审专家 N), the evaluator's own review is named
    names = sorted(r["evaluator"]["displayName"] for r in bids[0]["reviews"])
    assert names == ["测试用户", "评审专家 2", "评审专家 3"]
    # 90, 80, 100: the trimmed mean keeps 90
    assert bids[0]["proposalScore"] == {
        "reviewCount": 3,
        "mean": 90.0,
        "trimmedMean": 90.0,
        "min": 80.0,
        "max": 100.0,
        "grade": "EXCELLENT",
    }
    assert [r["title"] for r in ev["ranking"]] == ["甲方案", "乙方案"]

    own = _bids(await _call(world, "bidder"))
    assert own[0]["reviews"] == []
    assert own[0]["proposalScore"] is None
    assert (await _call(world, "bidder"))["ranking"] == []


async def test_after_the_award_every_signed_in_user_sees_the_results(
    world: World, sessionmaker: Sessionmaker
) -> None:
    await _finish_scoring(world, sessionmaker)
    await award(sessionmaker, world.scene.coordinator, world.call.id, [world.bids[0].id])
    other = await _call(world, "other")
    assert other["status"] == "AWARDED"
    bids = _bids(other)
    assert [(b["title"], b["status"], b["amount"]) for b in bids] == [
        ("甲方案", "AWARDED", "120000.00"),
        ("乙方案", "NOT_AWARDED", "90000.00"),
    ]
    assert [b["bidder"]["name"] for b in bids] == ["投标机构1", "投标机构2"]  # blind lifted
    assert bids[1]["proposalScore"]["trimmedMean"] == 65.0  # 70, 60, 65
    assert {r["evaluator"]["displayName"] for r in bids[0]["reviews"]} == {
        "评审专家 1",
        "评审专家 2",
        "评审专家 3",
    }
    assert all(
        r["evaluator"]["id"] != gid("User", world.scene.evaluators[0].user_id)
        for r in bids[0]["reviews"]
    )
    assert [r["title"] for r in other["ranking"]] == ["甲方案", "乙方案"]
    own = _bids(await _call(world, "bidder"))
    assert len(own) == 2
    assert len(own[0]["reviews"]) == 3


async def test_the_score_sheet_downloads_with_the_same_visibility(
    world: World, client: httpx.AsyncClient, sessionmaker: Sessionmaker
) -> None:
    await _finish_scoring(world, sessionmaker)
    url = f"/exports/calls/{gid('ProcurementCall', world.call.id)}/scores.xlsx"

    async def sheet(who: str) -> list[tuple[Any, ...]]:
        r = await client.get(url, headers={"Authorization": f"Bearer {world.api[who].token}"})
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
        book = openpyxl.load_workbook(io.BytesIO(r.content))
        return [tuple(row) for row in book["评分表"].iter_rows(values_only=True)]

    rows = await sheet("coordinator")
    assert rows[2] == (
        "投标",
        "标题",
        "金额",
        "评审专家",
        "方案 (plan)",
        "团队 (team)",
        "预算 (cost)",
        "总分",
    )
    first = [r for r in rows if r[0] == "投标机构1"]
    assert [r[3] for r in first] == [
        "评审专家 1",
        "评审专家 2",
        "评审专家 3",
        "平均分",
        "去掉最高最低分后平均",
    ]
    assert first[0][4:8] == (45.0, 27.0, 18.0, 90.0)
    assert first[3][7] == 90.0
    assert first[4][7] == 90.0
    assert first[0][2] == 120000.0

    # an evaluator gets stand-ins in a blind review; a stranger gets no bid rows
    assert {r[0] for r in (await sheet("evaluator"))[3:] if r[0]} - {"评审专家签字:"} == {
        "投标人 A",
        "投标人 B",
    }
    assert [r for r in (await sheet("other"))[3:] if r[0] and r[0] != "评审专家签字:"] == []
    assert (await client.get(url)).status_code == 401
    missing = gid("ProcurementCall", 999)
    assert (
        await client.get(
            f"/exports/calls/{missing}/scores.xlsx",
            headers={"Authorization": f"Bearer {world.api['coordinator'].token}"},
        )
    ).status_code == 404


SUBMIT = """mutation($input: SubmitBidInput!) { submitBid(input: $input) {
  bid { amount status bidder { name } budgetLines { item amount } }
  userErrors { code field message } } }"""


async def test_submit_bid_over_graphql_keeps_money_exact(
    client: httpx.AsyncClient, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    sc = await make_scene(sessionmaker, bidders=1)
    call = await make_call(sessionmaker, sc.coordinator, issuer=sc.issuer, area=sc.street)
    org, member = sc.bidders[0]
    api = await _api(client, settings, member.user_id)
    base = {
        "callId": gid("ProcurementCall", call.id),
        "bidderId": gid("Organization", org.id),
        "title": "t",
        "summary": "s",
        "targetAreaIds": [gid("Area", sc.community.id)],
        "indicators": [{"name": "n", "unit": "人", "target": 10}],
    }
    over = await api(
        SUBMIT,
        input={**base, "budgetLines": [{"item": "a", "amount": "200000.01"}]},
    )
    assert over["data"]["submitBid"]["userErrors"][0]["code"] == "BUDGET_EXCEEDED"
    assert over["data"]["submitBid"]["bid"] is None
    done = await api(
        SUBMIT,
        input={
            **base,
            "budgetLines": [{"item": "a", "amount": "0.10"}, {"item": "b", "amount": "0.20"}],
        },
    )
    assert done["data"]["submitBid"]["userErrors"] == []
    assert done["data"]["submitBid"]["bid"]["amount"] == "0.30"
    assert done["data"]["submitBid"]["bid"]["bidder"]["name"] == "投标机构1"


async def test_assign_evaluators_reports_conflicts_in_the_payload(
    client: httpx.AsyncClient, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    from tests.procurement_factories import make_evaluator

    sc = await make_scene(sessionmaker, bidders=1)
    call = await make_call(sessionmaker, sc.coordinator, issuer=sc.issuer, area=sc.street)
    org, member = sc.bidders[0]
    bid = await make_bid(sessionmaker, member, bid_spec(call.id, org.id, sc.community.id))
    await close_call(sessionmaker, call.id)
    conflicted = await make_evaluator(sessionmaker, member_of=org)
    api = await _api(client, settings, sc.coordinator.user_id)
    body = await api.data(
        """mutation($input: AssignEvaluatorsInput!) { assignEvaluators(input: $input) {
          call { status } conflicts { bidId evaluatorId path } userErrors { code } } }""",
        input={
            "callId": gid("ProcurementCall", call.id),
            "evaluatorIds": [gid("User", e.user_id) for e in (conflicted, *sc.evaluators)],
        },
    )
    answer = body["assignEvaluators"]
    assert answer["userErrors"] == []
    assert answer["conflicts"] == [
        {
            "bidId": gid("Bid", bid.id),
            "evaluatorId": gid("User", conflicted.user_id),
            "path": "the evaluator belongs to «投标机构1», the bidder itself",
        }
    ]
