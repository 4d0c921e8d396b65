"""Downloads outside GraphQL: the review panel's score sheet of a call.

``GET /exports/calls/{callId}/scores.xlsx`` with the bearer token; ``callId`` is the call's
global id. The same visibility as the API (services/access.py): rows only for the bids and
reviews the caller may read, stand-ins for bidders in a blind review. One row per bid and
evaluator, criteria as columns, the total; then per bid its mean and trimmed mean."""

from __future__ import annotations

import io
from typing import Any

import anyio
import xlsxwriter
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gridweave.ids import decode_any
from gridweave.models import Aggregation
from gridweave.resolvers.procurement_loaders import CALL_COLS
from gridweave.security import bearer_token, user_id_from_token
from gridweave.services.access import (
    Actor,
    ReviewFacts,
    load_actor,
    may_identify_bidder,
    read_policy,
)
from gridweave.services.bids import BID_FACTS_SQL, bid_facts
from gridweave.services.procurement import ProcurementRules, call_status
from gridweave.services.reviews import REVIEW_SQL, letter
from gridweave.services.scoring import Criterion, aggregate

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _error(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)


async def call_scores(request: Request) -> Response:
    settings = request.app.state.settings
    token = bearer_token(request.headers.get("authorization"))
    user_id = user_id_from_token(settings, token) if token else None
    sm = request.app.state.sessionmaker
    async with sm() as session:
        actor = await load_actor(session, user_id) if user_id is not None else None
        if actor is None:
            return _error(401, "Sign in first: send the bearer token.")
        decoded = decode_any(str(request.path_params["call_id"]))
        if decoded is None or decoded[0] != "ProcurementCall":
            return _error(404, "No such call for bids.")
        call = (
            await session.execute(
                text(f"SELECT {CALL_COLS} FROM procurement_calls WHERE id = :id"),
                {"id": decoded[1]},
            )
        ).one_or_none()
        if call is None:
            return _error(404, "No such call for bids.")
        bids = (
            await session.execute(
                text(
                    f"{BID_FACTS_SQL} WHERE b.call_id = :c AND b.status <> 'WITHDRAWN'"
                    f" AND {read_policy('Bid').sql('CAST(:viewer AS bigint)', 'b')} ORDER BY b.seq"
                ),
                {"c": call.id, "viewer": actor.user_id},
            )
        ).all()
        reviews = (
            await session.execute(
                text(
                    f"{REVIEW_SQL} WHERE r.bid_id = ANY(:ids) AND r.stage = 'PROPOSAL'"
                    " ORDER BY r.bid_id, ce.position, r.id"
                ),
                {"ids": [b.id for b in bids]},
            )
        ).all()
        names = dict(
            (
                await session.execute(
                    text("SELECT id, name FROM organizations WHERE id = ANY(:ids)"),
                    {"ids": [b.bidder_id for b in bids]},
                )
            ).all()
        )
    rules = ProcurementRules.from_settings(settings)
    body = await anyio.to_thread.run_sync(
        lambda: score_sheet(actor, call, bids, reviews, names, rules)
    )
    return Response(
        body,
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="call-{call.id}-scores.xlsx"'},
    )


def score_sheet(
    actor: Actor,
    call: Any,
    bids: list[Any],
    reviews: list[Any],
    names: dict[int, str],
    rules: ProcurementRules,
) -> bytes:
    rubric = [Criterion.from_json(c) for c in call.proposal_rubric]
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = book.add_worksheet("评分表")
    bold = book.add_format({"bold": True})
    score = book.add_format({"num_format": "0.00"})
    sheet.write_row(0, 0, [call.title, call_status(call).value], bold)
    header = ["投标", "标题", "金额", "评审专家", *(f"{c.name} ({c.key})" for c in rubric), "总分"]
    sheet.write_row(2, 0, header, bold)
    by_bid: dict[int, list[Any]] = {}
    for r in reviews:
        by_bid.setdefault(r.bid_id, []).append(r)
    policy = read_policy("Review")
    score_policy = read_policy("AggregateScore")
    line = 3
    for b in bids:
        facts = bid_facts(b)
        who = (
            names.get(b.bidder_id, "")
            if may_identify_bidder(actor, blind_review=b.blind_review, bid=facts)
            else f"投标人 {letter(b.seq)}"
        )
        head = [who, b.title, float(b.amount)]
        complete = bool(b.proposal_complete)
        shown = [
            r
            for r in by_bid.get(b.id, [])
            if policy.may_read(actor, ReviewFacts(facts, "PROPOSAL", complete, r.evaluator_id))
        ]
        for r in shown:
            scores = {s["k"]: float(s["s"]) for s in r.scores}
            sheet.write_row(line, 0, [*head, f"评审专家 {r.position}"])
            for j, c in enumerate(rubric):
                sheet.write_number(line, 4 + j, scores.get(c.key, 0.0), score)
            sheet.write_number(line, 4 + len(rubric), float(r.total), score)
            line += 1
        agg = aggregate(
            [r.total for r in by_bid.get(b.id, [])],
            aggregation=Aggregation(b.aggregation),
            thresholds=rules.thresholds,
        )
        if agg is not None and score_policy.may_read(
            actor, ReviewFacts(facts, "PROPOSAL", complete)
        ):
            col = 4 + len(rubric)
            sheet.write_row(line, 0, [*head, "平均分"], bold)
            sheet.write_number(line, col, float(agg.mean), score)
            line += 1
            sheet.write_row(line, 0, [*head, "去掉最高最低分后平均"], bold)
            sheet.write_number(line, col, float(agg.trimmed_mean), score)
            line += 1
        line += 1
    sheet.write_row(line + 1, 0, ["评审专家签字:"], bold)
    book.close()
    return out.getvalue()
