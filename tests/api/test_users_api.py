"""Sign-in, tokens, ``me``, user management and user visibility, through GraphQL over HTTP (and
the WebSocket handshake). Every refusal is a userError and writes nothing."""

from __future__ import annotations

import json
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import httpx
import pytest
from sqlalchemy import func, select

from gridweave.app import create_app
from gridweave.db import Sessionmaker
from gridweave.models import AuditEntry, RoleGrant, SignInThrottle, User
from gridweave.security import issue_token
from gridweave.services.throttle import account_key
from gridweave.settings import Settings
from tests.factories import (
    PASSWORD,
    Api,
    gid,
    make_area,
    make_chain,
    make_org,
    make_user,
    token_for,
)

LOGIN = (
    "mutation($e: String!, $p: String!) { login(input: {email: $e, password: $p}) {"
    " token user { id email roles { role } } userErrors { field code message } } }"
)
ME = "{ me { id email displayName roles { role area { id } organization { id } } } }"
CREATE_USER = (
    "mutation($i: CreateUserInput!) { createUser(input: $i) {"
    " user { id email displayName roles { role area { id } organization { id } } }"
    " userErrors { field code message } } }"
)
GRANT_ROLE = (
    "mutation($i: GrantRoleInput!) { grantRole(input: $i) {"
    " user { id roles { role area { id } } } userErrors { field code message } } }"
)
NODE_USER = "query($id: ID!) { node(id: $id) { ... on User { id email } } }"


async def counts(sm: Sessionmaker) -> list[int]:
    """Rows in users, role_grants and audit_log."""
    async with sm() as s:
        return [
            int(await s.scalar(select(func.count()).select_from(m)) or 0)
            for m in (User, RoleGrant, AuditEntry)
        ]


def new_user_input(**roles: Any) -> dict[str, Any]:
    return {
        "email": "new@example.org",
        "displayName": "新用户",
        "password": "a long enough password",
        "roles": [roles],
    }


# ---------------------------------------------------------------- login and tokens


async def test_login_returns_a_token_that_signs_in(
    client: httpx.AsyncClient, sessionmaker: Sessionmaker
) -> None:
    user = await make_user(sessionmaker, "AUDITOR", email="ann@example.org")

    data = (await Api(client).data(LOGIN, e="Ann@Example.org", p=PASSWORD))["login"]
    me = (await Api(client, data["token"]).data(ME))["me"]

    assert data["userErrors"] == []
    assert data["user"] == {
        "id": gid("User", user.id),
        "email": "ann@example.org",
        "roles": [{"role": "AUDITOR"}],
    }
    assert me["id"] == gid("User", user.id)
    assert me["roles"] == [{"role": "AUDITOR", "area": None, "organization": None}]


async def test_wrong_password_and_unknown_email_get_identical_answers(
    client: httpx.AsyncClient, sessionmaker: Sessionmaker
) -> None:
    await make_user(sessionmaker, "AUDITOR", email="ann@example.org")
    api = Api(client)

    wrong = await api(LOGIN, e="ann@example.org", p="wrong password")
    unknown = await api(LOGIN, e="nobody@example.org", p="wrong password")

    assert wrong == unknown
    assert wrong["data"]["login"] == {
        "token": None,
        "user": None,
        "userErrors": [
            {"field": None, "code": "UNAUTHENTICATED", "message": "Wrong email or password."}
        ],
    }


async def test_lockout_after_repeated_failures_reveals_nothing(
    client: httpx.AsyncClient, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    # given a user, and the configured number of failures allowed
    user = await make_user(sessionmaker, "AUDITOR", email="ann@example.org")
    api = Api(client)
    n = settings.login_max_failures

    # when someone fails n times and then tries the right password, against a known email and
    # against an unknown one
    known = [await api(LOGIN, e="ann@example.org", p="wrong password") for _ in range(n)]
    known.append(await api(LOGIN, e="ann@example.org", p=PASSWORD))
    unknown = [await api(LOGIN, e="nobody@example.org", p="wrong password") for _ in range(n)]
    unknown.append(await api(LOGIN, e="nobody@example.org", p=PASSWORD))

    # then the account is locked from this address (in the database: a failed sign-in still
    # commits its counter), even the right password is refused, and both sequences read alike
    assert known == unknown
    assert known[-1]["data"]["login"]["token"] is None
    assert [e["code"] for e in known[-1]["data"]["login"]["userErrors"]] == ["TRY_AGAIN"]
    async with sessionmaker() as s:
        lock = await s.scalar(
            select(SignInThrottle.locked_until).where(
                SignInThrottle.key == f"{account_key(user.email)}@127.0.0.1"
            )
        )
    assert lock is not None
    assert lock > datetime.now(UTC) + timedelta(seconds=settings.login_lockout_seconds - 30)


async def test_anonymous_me_is_null(client: httpx.AsyncClient) -> None:
    assert (await Api(client).data(ME))["me"] is None


async def test_expired_and_tampered_tokens_are_anonymous(
    client: httpx.AsyncClient, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    user = await make_user(sessionmaker, "ADMIN")
    valid = token_for(settings, user)
    long_ago = datetime.now(UTC) - timedelta(seconds=settings.token_ttl_seconds + 60)
    expired = issue_token(settings, user.id, now=long_ago)
    head, body, signature = valid.split(".")
    tampered = f"{head}.{body}.{signature[::-1]}"
    other_key = issue_token(settings.model_copy(update={"secret_key": "x" * 48}), user.id)

    assert (await Api(client, valid).data(ME))["me"]["id"] == gid("User", user.id)
    for token in (expired, tampered, other_key, "not-a-token"):
        assert (await Api(client, token).data(ME))["me"] is None, token
        body_ = await Api(client, token)("{ areas(first: 1) { totalCount } }")
        assert body_["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


# ---------------------------------------------------------------- createUser


async def test_admin_creates_a_user(client: httpx.AsyncClient, sessionmaker: Sessionmaker) -> None:
    (city,) = await make_chain(sessionmaker, "CITY")
    admin = await make_user(sessionmaker, "ADMIN")

    data = await Api(client, await _token(client, admin)).data(
        CREATE_USER, i=new_user_input(role="COORDINATOR", areaId=gid("Area", city.id))
    )

    payload = data["createUser"]
    assert payload["userErrors"] == []
    assert payload["user"]["email"] == "new@example.org"
    assert payload["user"]["roles"] == [
        {"role": "COORDINATOR", "area": {"id": gid("Area", city.id)}, "organization": None}
    ]


async def _token(client: httpx.AsyncClient, user: User) -> str:
    """Sign in through the API, as a real client would."""
    data = await Api(client).data(LOGIN, e=user.email, p=PASSWORD)
    token: str = data["login"]["token"]
    return token


@pytest.mark.parametrize(
    ("grant", "field"),
    [
        ({"role": "ADMIN"}, ["input", "roles", "0", "role"]),
        ({"role": "EVALUATOR"}, ["input", "roles", "0", "areaId"]),
        ({"role": "COORDINATOR", "areaId": "city"}, ["input", "roles", "0", "areaId"]),
        ({"role": "AUDITOR", "areaId": "sibling"}, ["input", "roles", "0", "role"]),
    ],
)
async def test_coordinator_cannot_grant_wider_than_their_own(
    client: httpx.AsyncClient,
    sessionmaker: Sessionmaker,
    settings: Settings,
    grant: dict[str, str],
    field: list[str],
) -> None:
    city, district = await make_chain(sessionmaker, "CITY", "DISTRICT")
    sibling = (await make_chain(sessionmaker, "CITY", "DISTRICT"))[1]
    coordinator = await make_user(sessionmaker, "COORDINATOR", area=district)
    areas = {"city": gid("Area", city.id), "sibling": gid("Area", sibling.id)}
    if "areaId" in grant:
        grant = {**grant, "areaId": areas[grant["areaId"]]}
    before = await counts(sessionmaker)

    data = await Api(client, token_for(settings, coordinator)).data(
        CREATE_USER, i=new_user_input(**grant)
    )

    assert data["createUser"]["userErrors"][0]["code"] == "FORBIDDEN"
    assert data["createUser"]["userErrors"][0]["field"] == field
    assert await counts(sessionmaker) == before


async def test_coordinator_creates_a_member_of_an_organization_in_their_area(
    client: httpx.AsyncClient, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    _, district, street = await make_chain(sessionmaker, "CITY", "DISTRICT", "STREET")
    org = await make_org(sessionmaker, area=street)
    coordinator = await make_user(sessionmaker, "COORDINATOR", area=district)

    data = await Api(client, token_for(settings, coordinator)).data(
        CREATE_USER,
        i=new_user_input(role="ORGANIZATION_MEMBER", organizationId=gid("Organization", org.id)),
    )

    assert data["createUser"]["userErrors"] == []
    assert data["createUser"]["user"]["roles"] == [
        {
            "role": "ORGANIZATION_MEMBER",
            "area": None,
            "organization": {"id": gid("Organization", org.id)},
        }
    ]


async def test_create_user_with_a_bad_id_is_a_user_error(
    client: httpx.AsyncClient, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    admin = await make_user(sessionmaker, "ADMIN")

    data = await Api(client, token_for(settings, admin)).data(
        CREATE_USER, i=new_user_input(role="EVALUATOR", areaId=gid("Organization", 1))
    )

    assert data["createUser"]["userErrors"][0]["code"] == "VALIDATION"
    assert data["createUser"]["userErrors"][0]["field"] == ["input", "roles", "0", "areaId"]


# ---------------------------------------------------------------- grantRole


async def test_coordinator_grants_a_role_inside_their_subtree(
    client: httpx.AsyncClient, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    _, district, street = await make_chain(sessionmaker, "CITY", "DISTRICT", "STREET")
    coordinator = await make_user(sessionmaker, "COORDINATOR", area=district)
    target = await make_user(sessionmaker, "EVALUATOR", area=street)
    before = await counts(sessionmaker)

    data = await Api(client, token_for(settings, coordinator)).data(
        GRANT_ROLE,
        i={
            "userId": gid("User", target.id),
            "grant": {"role": "COORDINATOR", "areaId": gid("Area", street.id)},
        },
    )

    assert data["grantRole"]["userErrors"] == []
    assert {r["role"] for r in data["grantRole"]["user"]["roles"]} == {"EVALUATOR", "COORDINATOR"}
    assert await counts(sessionmaker) == [before[0], before[1] + 1, before[2] + 1]


# ---------------------------------------------------------------- refused callers, both mutations


@pytest.mark.parametrize(
    ("mutation", "role", "code"),
    [
        ("createUser", None, "UNAUTHENTICATED"),
        ("createUser", "EVALUATOR", "FORBIDDEN"),
        ("grantRole", None, "UNAUTHENTICATED"),
        ("grantRole", "AUDITOR", "FORBIDDEN"),
    ],
)
async def test_a_refused_caller_writes_nothing(
    client: httpx.AsyncClient,
    sessionmaker: Sessionmaker,
    settings: Settings,
    mutation: str,
    role: str | None,
    code: str,
) -> None:
    # given an evaluator in a city, and a caller with ``role`` there (or nobody signed in)
    (city,) = await make_chain(sessionmaker, "CITY")
    target = await make_user(sessionmaker, "EVALUATOR", area=city)
    caller = await make_user(sessionmaker, role, area=city) if role else None
    api = Api(client, token_for(settings, caller) if caller else None)
    requests = {
        "createUser": (CREATE_USER, new_user_input(role="AUDITOR", areaId=gid("Area", city.id))),
        "grantRole": (GRANT_ROLE, {"userId": gid("User", target.id), "grant": {"role": "AUDITOR"}}),
    }
    document, input = requests[mutation]
    before = await counts(sessionmaker)

    # when the caller asks for a new user, or for a role for the evaluator
    data = await api.data(document, i=input)

    # then it is refused, and no row is written
    assert data[mutation]["user"] is None
    assert [e["code"] for e in data[mutation]["userErrors"]] == [code]
    assert await counts(sessionmaker) == before


# ---------------------------------------------------------------- node(id) for users


async def test_user_node_visibility(
    client: httpx.AsyncClient, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    _, district, street = await make_chain(sessionmaker, "CITY", "DISTRICT", "STREET")
    _, other = await make_chain(sessionmaker, "CITY", "DISTRICT")
    target = await make_user(sessionmaker, "EVALUATOR", area=street)
    coordinator = await make_user(sessionmaker, "COORDINATOR", area=district)
    stranger = await make_user(sessionmaker, "COORDINATOR", area=other)
    admin = await make_user(sessionmaker, "ADMIN")
    target_id = gid("User", target.id)

    async def seen_by(user: User) -> Any:
        data = await Api(client, token_for(settings, user)).data(NODE_USER, id=target_id)
        return data["node"]

    assert (await seen_by(target))["id"] == target_id
    assert (await seen_by(admin))["id"] == target_id
    assert (await seen_by(coordinator))["id"] == target_id
    assert await seen_by(stranger) is None
    missing = await Api(client, token_for(settings, admin)).data(NODE_USER, id=gid("User", 99999))
    assert missing["node"] is None


# ---------------------------------------------------------------- WebSocket handshake


def _handshake(app: Any, token: str) -> dict[str, Any]:
    """connection_init with a bearer token; the server's first answer (or its close code)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette's notice that its test client prefers httpx2
        from starlette.testclient import TestClient

    with (
        TestClient(app) as tc,
        tc.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws,
    ):
        ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        message = ws.receive()
    if message["type"] == "websocket.close":
        return {"closed": message["code"]}
    answer: dict[str, Any] = json.loads(message["text"])
    return answer


def _query_over_websocket(app: Any, token: str) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    mutation = 'mutation { createArea(input: {name: "新城", level: CITY}) { area { id } } }'
    with (
        TestClient(app) as tc,
        tc.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws,
    ):
        ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        ws.receive_json()
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": mutation}})
        answer: dict[str, Any] = ws.receive_json()
    return answer


async def test_websocket_authenticates_from_connection_init(
    database_url: str, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    user = await make_user(sessionmaker, "AUDITOR")
    app = create_app(settings, database_url=database_url)

    accepted = await anyio.to_thread.run_sync(_handshake, app, token_for(settings, user))
    refused = await anyio.to_thread.run_sync(_handshake, app, "not-a-token")

    assert accepted == {"type": "connection_ack"}
    assert refused == {"closed": 4403}


async def test_websockets_carry_no_queries_or_mutations(
    database_url: str, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    """An open socket authenticated once must not keep changing data after a grant is revoked:
    queries and mutations go over HTTP, where roles are read on every request."""
    admin = await make_user(sessionmaker, "ADMIN")
    app = create_app(settings, database_url=database_url)

    answer = await anyio.to_thread.run_sync(_query_over_websocket, app, token_for(settings, admin))

    assert answer["type"] == "error"
    assert answer["payload"][0]["extensions"]["code"] == "FORBIDDEN"
    async with sessionmaker() as s:
        assert await s.scalar(select(func.count()).select_from(AuditEntry)) == 0


async def test_a_token_of_a_deleted_user_signs_in_nobody(
    client: httpx.AsyncClient, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    user = await make_user(sessionmaker, "ADMIN")
    api = Api(client, token_for(settings, user))
    async with sessionmaker() as s, s.begin():
        await s.execute(RoleGrant.__table__.delete().where(RoleGrant.user_id == user.id))
        await s.execute(User.__table__.delete().where(User.id == user.id))

    me = await api.data("{ me { id } }")
    areas = await api("{ areas(first: 1) { totalCount } }")

    assert me["me"] is None
    assert areas["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_create_user_tells_only_that_an_email_is_not_free_and_only_to_who_could_create(
    client: httpx.AsyncClient, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    # given a coordinator of community A, and emails held inside A and in another district
    city, district_a, a = await make_chain(sessionmaker, "CITY", "DISTRICT", "COMMUNITY")
    district_b = await make_area(sessionmaker, level="DISTRICT", parent=city)
    org_a = await make_org(sessionmaker, area=a)
    await make_user(sessionmaker, "ORGANIZATION_MEMBER", organization=org_a, email="in@a.cn")
    await make_user(sessionmaker, "COORDINATOR", area=district_b, email="far@b.cn")
    coordinator = Api(
        client, token_for(settings, await make_user(sessionmaker, "COORDINATOR", area=a))
    )
    member = Api(
        client,
        token_for(
            settings, await make_user(sessionmaker, "ORGANIZATION_MEMBER", organization=org_a)
        ),
    )
    in_a = {"role": "EVALUATOR", "areaId": gid("Area", a.id)}
    in_b = {"role": "EVALUATOR", "areaId": gid("Area", district_b.id)}

    async def errors(
        api: Api,
        email: str,
        *,
        password: str = "a long enough password",
        grant: dict[str, Any] = in_a,
    ) -> list[Any]:
        i = {**new_user_input(**grant), "email": email, "password": password}
        body = await api.data(CREATE_USER, i=i)
        result: list[Any] = body["createUser"]["userErrors"]
        return result

    # when the coordinator uses either taken email, then the answers are the same, and say only
    # that the email cannot be used
    near, far = await errors(coordinator, "in@a.cn"), await errors(coordinator, "FAR@b.cn")
    assert near == far
    assert [(e["code"], e["field"]) for e in near] == [("CONFLICT", ["input", "email"])]
    assert "exist" not in near[0]["message"]

    # and whoever could not create the account learns nothing from the email: a member, a
    # grant out of the coordinator's reach, an invalid password all answer as for a free email
    for api, kw in (
        (member, {}),
        (coordinator, {"grant": in_b}),
        (coordinator, {"password": "short"}),
    ):
        taken, free = await errors(api, "in@a.cn", **kw), await errors(api, "free@a.cn", **kw)
        assert taken == free, kw
        assert taken[0]["code"] != "CONFLICT", kw
