"""The ledger through GraphQL: every successful mutation appends exactly one entry and a refused
one none, concurrent mutations keep one chain, and only AUDITOR or ADMIN read it."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import func, select

from gridweave.db import Sessionmaker
from gridweave.models import AuditEntry
from gridweave.services.audit import verify_chain
from gridweave.settings import Settings
from tests.factories import (
    Api,
    edit_ledger_behind_its_back,
    gid,
    make_chain,
    make_user,
    token_for,
)

CREATE_AREA = (
    "mutation($i: CreateAreaInput!) { createArea(input: $i) { area { id } userErrors { code } } }"
)
AUDIT_LOG = (
    "query($e: ID, $first: Int, $after: String) { auditLog(entityId: $e, first: $first,"
    " after: $after) { totalCount pageInfo { hasNextPage hasPreviousPage endCursor }"
    " edges { cursor node { id at action entityId hash previousHash actor { id } } } } }"
)


async def entry_count(sm: Sessionmaker) -> int:
    async with sm() as s:
        return int(await s.scalar(select(func.count()).select_from(AuditEntry)) or 0)


async def create_city(api: Api, name: str) -> dict[str, Any]:
    data = await api.data(CREATE_AREA, i={"name": name, "level": "CITY"})
    payload: dict[str, Any] = data["createArea"]
    return payload


async def test_a_successful_mutation_appends_exactly_one_entry(
    client: httpx.AsyncClient, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    admin = await make_user(sessionmaker, "ADMIN")
    api = Api(client, token_for(settings, admin))

    payload = await create_city(api, "成都市")
    log = (await api.data(AUDIT_LOG))["auditLog"]

    assert payload["userErrors"] == []
    assert log["totalCount"] == 1
    node = log["edges"][0]["node"]
    assert (node["action"], node["entityId"]) == ("createArea", payload["area"]["id"])
    assert node["actor"] == {"id": gid("User", admin.id)}
    assert node["previousHash"] is None
    assert len(node["hash"]) == 64


async def test_a_refused_mutation_appends_nothing(
    client: httpx.AsyncClient, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    (city,) = await make_chain(sessionmaker, "CITY")
    coordinator = await make_user(sessionmaker, "COORDINATOR", area=city)
    before = await entry_count(sessionmaker)

    # a coordinator may not create a top-level area; an anonymous caller may create nothing
    as_coordinator = await create_city(Api(client, token_for(settings, coordinator)), "外市")
    anonymous = await create_city(Api(client), "匿名市")

    assert as_coordinator["userErrors"] == [{"code": "FORBIDDEN"}]
    assert anonymous["userErrors"] == [{"code": "UNAUTHENTICATED"}]
    assert await entry_count(sessionmaker) == before


async def test_concurrent_mutations_keep_one_valid_chain(
    client: httpx.AsyncClient, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    admin = await make_user(sessionmaker, "ADMIN")
    api = Api(client, token_for(settings, admin))

    payloads = await asyncio.gather(*(create_city(api, f"城市{i}") for i in range(10)))

    assert all(p["userErrors"] == [] for p in payloads)
    async with sessionmaker() as s:
        rows = (await s.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
        check = await verify_chain(s)
    assert len(rows) == 10
    assert [r.previous_hash for r in rows[1:]] == [r.hash for r in rows[:-1]]
    assert (check.valid, check.checked) == (True, 10)
    assert (await api.data("{ auditChainValid }"))["auditChainValid"] is True


async def test_audit_log_pages_newest_first_and_filters_by_entity(
    client: httpx.AsyncClient, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    admin = await make_user(sessionmaker, "ADMIN")
    api = Api(client, token_for(settings, admin))
    created = [await create_city(api, f"城市{i}") for i in range(5)]
    ids = [c["area"]["id"] for c in created]
    await api.data(
        "mutation($i: UpdateAreaInput!) { updateArea(input: $i) { userErrors { code } } }",
        i={"id": ids[0], "name": "改名市"},
    )

    first = (await api.data(AUDIT_LOG, first=4))["auditLog"]
    after = first["pageInfo"]["endCursor"]
    second = (await api.data(AUDIT_LOG, first=4, after=after))["auditLog"]
    one = (await api.data(AUDIT_LOG, e=ids[0]))["auditLog"]

    def actions(page: dict[str, Any]) -> list[tuple[str, str]]:
        return [(e["node"]["action"], e["node"]["entityId"]) for e in page["edges"]]

    assert actions(first) == [("updateArea", ids[0])] + [("createArea", i) for i in ids[4:1:-1]]
    assert first["pageInfo"] == {
        "hasNextPage": True,
        "hasPreviousPage": False,
        "endCursor": first["edges"][-1]["cursor"],
    }
    assert actions(second) == [("createArea", ids[1]), ("createArea", ids[0])]
    assert second["pageInfo"]["hasNextPage"] is False
    assert second["pageInfo"]["hasPreviousPage"] is True
    assert (first["totalCount"], second["totalCount"]) == (6, 6)
    assert actions(one) == [("updateArea", ids[0]), ("createArea", ids[0])]
    assert one["totalCount"] == 2


async def test_only_auditors_and_admins_read_the_ledger(
    client: httpx.AsyncClient, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    (city,) = await make_chain(sessionmaker, "CITY")
    admin = await make_user(sessionmaker, "ADMIN")
    auditor = await make_user(sessionmaker, "AUDITOR")
    coordinator = await make_user(sessionmaker, "COORDINATOR", area=city)
    await create_city(Api(client, token_for(settings, admin)), "成都市")

    as_auditor = await Api(client, token_for(settings, auditor)).data(AUDIT_LOG)
    as_coordinator = await Api(client, token_for(settings, coordinator))(AUDIT_LOG)
    anonymous = await Api(client)("{ auditChainValid }")

    # an auditor reads every entry and sees who made it: accountability needs the actor
    assert as_auditor["auditLog"]["totalCount"] == 1
    assert as_auditor["auditLog"]["edges"][0]["node"]["actor"] == {"id": gid("User", admin.id)}
    assert as_coordinator["data"] is None
    assert as_coordinator["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_audit_log_refuses_oversized_pages_and_bad_ids(
    client: httpx.AsyncClient, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    api = Api(client, token_for(settings, await make_user(sessionmaker, "AUDITOR")))

    too_many = await api(AUDIT_LOG, first=101)
    bad_entity = await api(AUDIT_LOG, e="%%%")
    bad_cursor = await api(AUDIT_LOG, after="nonsense")

    for body in (too_many, bad_entity, bad_cursor):
        assert body["data"] is None
        assert body["errors"][0]["extensions"]["code"] == "VALIDATION", body


async def test_audit_entry_node_is_for_ledger_readers_only(
    client: httpx.AsyncClient, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    admin = await make_user(sessionmaker, "ADMIN")
    auditor = await make_user(sessionmaker, "AUDITOR")
    evaluator = await make_user(sessionmaker, "EVALUATOR")
    await create_city(Api(client, token_for(settings, admin)), "成都市")
    async with sessionmaker() as s:
        entry_id = gid("AuditEntry", int(await s.scalar(select(func.max(AuditEntry.id))) or 0))
    query = "query($id: ID!) { node(id: $id) { ... on AuditEntry { id action actor { id } } } }"

    def seen_by(user: Any) -> Any:
        return Api(client, token_for(settings, user)).data(query, id=entry_id)

    assert (await seen_by(admin))["node"] == {
        "id": entry_id,
        "action": "createArea",
        "actor": {"id": gid("User", admin.id)},
    }
    assert (await seen_by(auditor))["node"]["actor"] == {"id": gid("User", admin.id)}
    assert (await seen_by(evaluator))["node"] is None


async def test_tampering_makes_the_chain_invalid(
    client: httpx.AsyncClient, sessionmaker: Sessionmaker, settings: Settings, database_url: str
) -> None:
    api = Api(client, token_for(settings, await make_user(sessionmaker, "ADMIN")))
    for i in range(3):
        await create_city(api, f"城市{i}")
    async with sessionmaker() as s:
        middle = (await s.scalars(select(AuditEntry.id).order_by(AuditEntry.id))).all()[1]

    await edit_ledger_behind_its_back(
        database_url,
        'UPDATE audit_log SET summary = summary || \'{"name": "伪造"}\' WHERE id = $1',
        middle,
    )

    async with sessionmaker() as s:
        check = await verify_chain(s)
    assert (check.valid, check.first_broken_id) == (False, middle)
    assert (await api.data("{ auditChainValid }"))["auditChainValid"] is False
