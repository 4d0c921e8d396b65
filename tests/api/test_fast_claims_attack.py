"""Hostile and odd claim requests sent to both apps of one database (the claim's fast path on, and
off): the HTTP status and the JSON body must be the same, but for request ids and the new claim's
own id and time, and both must write the same (one claim, or nothing).

Each request is sent twice over: once to the fast app for one organization, once to strawberry
for a second organization of the same standing, so that a successful claim on one side does not
change the other side's answer. A test that fails here names a request the fast path answers
differently from strawberry."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import jwt
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import func, select

from gridweave.app import create_app
from gridweave.db import Sessionmaker, asyncpg_dsn, unit_of_work
from gridweave.ids import decode_any
from gridweave.models import Area, Claim, ServiceProject
from gridweave.security import issue_token
from gridweave.settings import Settings
from tests.api.conftest import Two
from tests.factories import (
    gid,
    make_chain,
    make_org,
    make_project,
    make_user,
    token_for,
)

# --------------------------------------------------------------------------------------------
# Plumbing
# --------------------------------------------------------------------------------------------


@dataclass
class Side:
    """One claimant organization and the member who acts for it."""

    org_pk: int
    org: str
    token: str
    user_id: int


@dataclass
class World:
    project_pk: int
    project: str
    fast: Side
    slow: Side


async def side(sm: Sessionmaker, settings: Settings, area: Any) -> Side:
    org = await make_org(sm, area=area)
    user = await make_user(sm, "ORGANIZATION_MEMBER", organization=org)
    return Side(org.id, gid("Organization", org.id), token_for(settings, user), user.id)


async def world(sm: Sessionmaker, settings: Settings, slots: int = 10) -> World:
    _, community = await make_chain(sm, "STREET", "COMMUNITY")
    poster = await make_org(sm, area=community, kind="SELF_GOVERNANCE_ORGANIZATION")
    project = await make_project(sm, area=community, poster=poster, slots=slots)
    return World(
        project.id,
        gid("ServiceProject", project.id),
        await side(sm, settings, community),
        await side(sm, settings, community),
    )


async def claims_of(sm: Sessionmaker, org_pk: int) -> int:
    async with sm() as s:
        n = await s.scalar(
            select(func.count()).select_from(Claim).where(Claim.claimant_id == org_pk)
        )
    return int(n or 0)


_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")
_RID = re.compile(r"[0-9a-f]{32}")


def normal(value: Any) -> Any:
    """The answer without what may differ: claim ids, times, request ids."""
    if isinstance(value, dict):
        return {k: normal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normal(v) for v in value]
    if isinstance(value, str):
        decoded = decode_any(value)
        if decoded is not None and decoded[0] == "Claim":
            return "<claim id>"
        if _TIME.match(value):
            return "<time>"
        return _RID.sub("<rid>", value)
    return value


@dataclass
class Answer:
    status: int
    body: Any

    @classmethod
    def of(cls, r: httpx.Response) -> Answer:
        try:
            body = r.json()
        except ValueError:
            body = r.text
        return cls(r.status_code, normal(body))


# A request: given the project's id, the claimant's id and the member's token, the keyword
# arguments of httpx's ``request`` (json= or content=, headers=, method).
Build = Callable[[str, str, str], dict[str, Any]]


def gql(
    query: str,
    given: Any = None,
    /,
    *,
    omit_variables: bool = False,
    **extra: Any,
) -> Build:
    """A JSON POST of ``query``; ``{P}``/``{C}`` in the query and variables (strings) stand for
    the project's and the claimant's ids."""

    def fill(v: Any, p: str, c: str) -> Any:
        if isinstance(v, str):
            return v.replace("{P}", p).replace("{C}", c)
        if isinstance(v, dict):
            return {k: fill(x, p, c) for k, x in v.items()}
        if isinstance(v, list):
            return [fill(x, p, c) for x in v]
        return v

    def build(p: str, c: str, token: str) -> dict[str, Any]:
        body: dict[str, Any] = {"query": fill(query, p, c)}
        if not omit_variables:
            body["variables"] = fill(given if given is not None else {}, p, c)
        body.update(fill(extra, p, c))
        return {
            "method": "POST",
            "json": body,
            "headers": {"Authorization": f"Bearer {token}"},
        }

    return build


async def both(two: Two, sm: Sessionmaker, w: World, build: Build) -> tuple[Answer, Answer]:
    """The same request on both paths (each for its own side); also: both wrote alike."""
    answers = []
    for client, s in ((two.fast, w.fast), (two.slow, w.slow)):
        kw = build(w.project, s.org, s.token)
        r = await client.request(url="/graphql", **kw)
        answers.append(Answer.of(r))
    made = [await claims_of(sm, s.org_pk) for s in (w.fast, w.slow)]
    assert made[0] == made[1], ("one path claimed, the other did not", made, answers)
    return answers[0], answers[1]


V = {"p": "{P}", "c": "{C}"}
HEAD = "mutation($p: ID!, $c: ID!) { claimServiceProject(input: {projectId: $p, claimantId: $c})"
LITERAL = 'mutation { claimServiceProject(input: {projectId: "{P}", claimantId: "{C}"})'
ALL = " { __typename claim { id slots status claimedAt rating __typename }"
ALL += " userErrors { field code message __typename } }"

# --------------------------------------------------------------------------------------------
# Documents and bodies: each must be answered alike
# --------------------------------------------------------------------------------------------

CASES: dict[str, Build] = {
    "plain": gql(HEAD + ALL + " }", V),
    "literal input": gql(LITERAL + ALL + " }"),
    "literal input, no variables key": gql(LITERAL + ALL + " }", omit_variables=True),
    "variables null": gql(LITERAL + ALL + " }", None, omit_variables=True, variables=None),
    "root alias": gql(
        "mutation($p: ID!, $c: ID!) { claimServiceProject: claimServiceProject"
        "(input: {projectId: $p, claimantId: $c}) { claim { id } } }",
        V,
    ),
    "aliases swapping names": gql(
        HEAD + " { claim: userErrors { code: message message: code } userErrors: claim"
        " { slots: id id: slots status: __typename } __typename: claim { claimedAt } } }",
        V,
    ),
    "typename twice and aliased": gql(
        HEAD + " { __typename t: __typename __typename claim { __typename __typename } } }", V
    ),
    "duplicate fields merged": gql(
        HEAD + " { claim { id } userErrors { code } claim { slots id } claim { status }"
        " userErrors { code field } } }",
        V,
    ),
    "fragments on payload, claim, user error": gql(
        HEAD + " { ...P } } fragment P on ClaimPayload { claim { ...C } userErrors { ...E }"
        " ...P2 } fragment P2 on ClaimPayload { __typename claim { ...C id } }"
        " fragment C on Claim { id slots } fragment E on UserError { code }",
        V,
    ),
    "inline fragments with and without type condition": gql(
        HEAD + " { ... { claim { ... on Claim { id } ... { slots } } }"
        " ... on ClaimPayload { userErrors { ... on UserError { code } } } } }",
        V,
    ),
    # Claim implements the Node interface: a fragment on Node applies to a claim
    "inline fragment on the Node interface": gql(
        HEAD + " { claim { ... on Node { id } slots } } }", V
    ),
    "named fragment on the Node interface": gql(
        HEAD + " { claim { ...N slots } } } fragment N on Node { id __typename }", V
    ),
    "fragment on the wrong type": gql(HEAD + " { ...W } } fragment W on Claim { id }", V),
    "fragment spread twice": gql(
        HEAD + " { claim { ...C ...C } ...P ...P } }"
        " fragment C on Claim { id } fragment P on ClaimPayload { userErrors { code } }",
        V,
    ),
    "typename at the mutation root": gql(
        "mutation($p: ID!, $c: ID!) { __typename claimServiceProject(input:"
        " {projectId: $p, claimantId: $c}) { claim { id } } }",
        V,
    ),
    "nested variables in a literal object": gql(
        'mutation($c: ID!, $n: Int = 2) { claimServiceProject(input: {projectId: "{P}",'
        " claimantId: $c, slots: $n}) { claim { id slots } userErrors { code field } } }",
        {"c": "{C}"},
    ),
    "slots null literal": gql(
        'mutation($c: ID!) { claimServiceProject(input: {projectId: "{P}", claimantId: $c,'
        " slots: null}) { claim { slots } userErrors { code } } }",
        {"c": "{C}"},
    ),
    "slots null variable": gql(
        "mutation($p: ID!, $c: ID!, $n: Int) { claimServiceProject(input: {projectId: $p,"
        " claimantId: $c, slots: $n}) { claim { slots } userErrors { code } } }",
        {**V, "n": None},
    ),
    "slots missing optional variable": gql(
        "mutation($p: ID!, $c: ID!, $n: Int) { claimServiceProject(input: {projectId: $p,"
        " claimantId: $c, slots: $n}) { claim { slots } userErrors { code } } }",
        V,
    ),
    "huge slots": gql(
        "mutation($p: ID!, $c: ID!, $n: Int) { claimServiceProject(input: {projectId: $p,"
        " claimantId: $c, slots: $n}) { claim { slots } userErrors { code } } }",
        {**V, "n": 2**40},
    ),
    "slots as a float": gql(
        "mutation($p: ID!, $c: ID!, $n: Int) { claimServiceProject(input: {projectId: $p,"
        " claimantId: $c, slots: $n}) { claim { slots } userErrors { code } } }",
        {**V, "n": 2.0},
    ),
    "slots as a string": gql(
        "mutation($p: ID!, $c: ID!, $n: Int) { claimServiceProject(input: {projectId: $p,"
        " claimantId: $c, slots: $n}) { claim { slots } userErrors { code } } }",
        {**V, "n": "2"},
    ),
    "slots literal huge": gql(
        'mutation { claimServiceProject(input: {projectId: "{P}", claimantId: "{C}",'
        " slots: 99999999999}) { claim { slots } } }"
    ),
    "slots literal negative": gql(
        'mutation { claimServiceProject(input: {projectId: "{P}", claimantId: "{C}",'
        " slots: -1}) { claim { slots } userErrors { code field message } } }"
    ),
    "id as a number": gql(HEAD + ALL + " }", {"p": 12345, "c": "{C}"}),
    "id huge number": gql(HEAD + ALL + " }", {"p": 10**30, "c": "{C}"}),
    "id as a float": gql(HEAD + ALL + " }", {"p": 1.0, "c": "{C}"}),
    "id as a bool": gql(HEAD + ALL + " }", {"p": True, "c": "{C}"}),
    "id as an object": gql(HEAD + ALL + " }", {"p": {"id": "{P}"}, "c": "{C}"}),
    "id not base64": gql(HEAD + ALL + " }", {"p": "!!!not base64!!!", "c": "{C}"}),
    "id too long": gql(HEAD + ALL + " }", {"p": "A" * 6000, "c": "{C}"}),
    "id literal too long": gql(
        'mutation($c: ID!) { claimServiceProject(input: {projectId: "' + "A" * 6000 + '",'
        " claimantId: $c}) { claim { id } userErrors { code } } }",
        {"c": "{C}"},
    ),
    "id empty": gql(HEAD + ALL + " }", {"p": "", "c": "{C}"}),
    "id with padding removed": gql(HEAD + ALL + " }", {"p": "U2VydmljZVByb2plY3Q6MQ", "c": "{C}"}),
    "id of a claimant swapped": gql(HEAD + ALL + " }", {"p": "{C}", "c": "{P}"}),
    "required variable null": gql(HEAD + ALL + " }", {"p": None, "c": "{C}"}),
    "required variable missing": gql(HEAD + ALL + " }", {"c": "{C}"}),
    "extra variables": gql(HEAD + ALL + " }", {**V, "zzz": [1, 2], "n": 3}),
    "variable with a default in a non-null place, given null": gql(
        'mutation($p: ID = "{P}", $c: ID!) { claimServiceProject(input: {projectId: $p,'
        " claimantId: $c}) { claim { id } userErrors { code } } }",
        {**V, "p": None},
    ),
    "variable with a default in a non-null place, not given": gql(
        'mutation($p: ID = "{P}", $c: ID!) { claimServiceProject(input: {projectId: $p,'
        " claimantId: $c}) { claim { id } userErrors { code } } }",
        {"c": "{C}"},
    ),
    "whole input as a variable": gql(
        "mutation($i: ClaimServiceProjectInput!) { claimServiceProject(input: $i)"
        " { claim { id } userErrors { code } } }",
        {"i": {"projectId": "{P}", "claimantId": "{C}"}},
    ),
    "input with an unknown field": gql(
        'mutation { claimServiceProject(input: {projectId: "x", claimantId: "y", x: 1})'
        " { claim { id } } }"
    ),
    "operationName given": gql(
        HEAD.replace("mutation(", "mutation Go(") + ALL + " }", V, operationName="Go"
    ),
    "operationName mismatched": gql(
        HEAD.replace("mutation(", "mutation Go(") + ALL + " }", V, operationName="Other"
    ),
    "operationName empty": gql(
        HEAD.replace("mutation(", "mutation Go(") + ALL + " }", V, operationName=""
    ),
    "operationName for an anonymous operation": gql(HEAD + ALL + " }", V, operationName="Go"),
    "two mutations, one named": gql(
        HEAD.replace("mutation(", "mutation A(") + ALL + " }" + " mutation B { __typename }",
        V,
        operationName="A",
    ),
    "two mutations, no name": gql(
        HEAD.replace("mutation(", "mutation A(") + ALL + " }" + " mutation B { __typename }", V
    ),
    "a query and a mutation, the mutation named": gql(
        "query Q { __typename } " + HEAD.replace("mutation(", "mutation M(") + ALL + " }",
        V,
        operationName="M",
    ),
    "a query and a mutation, the query named": gql(
        "query Q { __typename } " + HEAD.replace("mutation(", "mutation M(") + ALL + " }",
        V,
        operationName="Q",
    ),
    "operationName not a string": gql(HEAD + ALL + " }", V, operationName=5),
    "skip on a payload field": gql(HEAD + " { claim @skip(if: false) { id } } }", V),
    "include false on the root": gql(
        "mutation($p: ID!, $c: ID!) { claimServiceProject(input: {projectId: $p, claimantId: $c})"
        " @include(if: false) { claim { id } } }",
        V,
    ),
    "too many aliases": gql(
        HEAD + " { " + " ".join(f"a{i}: __typename" for i in range(40)) + " } }", V
    ),
    "too many tokens": gql(HEAD + " { " + " ".join("__typename" for _ in range(2100)) + " } }", V),
    "unknown field": gql(HEAD + " { claim { nope } } }", V),
    "syntax error": gql(HEAD + " { claim { id } ", V),
    "comments and odd whitespace": gql(
        "\ufeff# a comment\n" + HEAD.replace(" ", "\t,\n ") + "{claim{id}userErrors{code}}}", V
    ),
    # strawberry refuses a non-object ``variables``/``extensions`` with a 400; the fast path reads
    # ``request.get("variables") or {}`` (falsy values become {}) and never looks at extensions
    "variables an empty list": gql(LITERAL + ALL + " }", [], omit_variables=False),
    "variables an empty string": gql(LITERAL + ALL + " }", "", omit_variables=False),
    "variables false": gql(LITERAL + ALL + " }", False, omit_variables=False),
    "variables zero": gql(LITERAL + ALL + " }", 0, omit_variables=False),
    "variables a non-empty list": gql(LITERAL + ALL + " }", [1], omit_variables=False),
    "variables a JSON string": gql(HEAD + ALL + " }", '{"p": "{P}", "c": "{C}"}'),
    "extensions a number": gql(HEAD + ALL + " }", V, extensions=5),
    "extensions a list": gql(HEAD + ALL + " }", V, extensions=[]),
    "extensions a string": gql(HEAD + ALL + " }", V, extensions="x"),
    "extensions an object": gql(HEAD + ALL + " }", V, extensions={"persistedQuery": 1}),
    "query null": gql("", V, query=None),
    "query a number": gql("", V, query=5),
}


@pytest.mark.parametrize("name", list(CASES))
async def test_odd_requests_are_answered_alike(
    name: str, two: Two, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    w = await world(sessionmaker, settings)
    fast, slow = await both(two, sessionmaker, w, CASES[name])
    assert (fast.status, fast.body) == (slow.status, slow.body), (name, fast, slow)


# --------------------------------------------------------------------------------------------
# Raw bodies and methods
# --------------------------------------------------------------------------------------------


def raw(content: bytes | str, content_type: str = "application/json") -> Build:
    def build(p: str, c: str, token: str) -> dict[str, Any]:
        text = (
            content
            if isinstance(content, bytes)
            else content.replace("{P}", p).replace("{C}", c).encode()
        )
        return {
            "method": "POST",
            "content": text,
            "headers": {"Authorization": f"Bearer {token}", "Content-Type": content_type},
        }

    return build


_DOC = (LITERAL + " { claim { id } userErrors { code } } }").replace('"', '\\"')
RAW: dict[str, Build] = {
    "batched list": raw('[{"query": "' + _DOC + '"}]'),
    "empty list": raw("[]"),
    "null body": raw("null"),
    "a number": raw("5"),
    "not JSON": raw("query=mutation"),
    "invalid UTF-8": raw(b'{"query": "\xff"}'),
    "duplicate query keys": raw('{"query": "{ __typename }", "query": "' + _DOC + '"}'),
    "charset parameter": raw('{"query": "' + _DOC + '"}', "application/json; charset=utf-8"),
    "text/plain": raw('{"query": "' + _DOC + '"}', "text/plain"),
    "a huge int in the variables": raw(
        '{"query": "' + _DOC + '", "variables": {"n": 1' + "0" * 30 + "}}"
    ),
}


@pytest.mark.parametrize("name", list(RAW))
async def test_odd_bodies_are_answered_alike(
    name: str, two: Two, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    w = await world(sessionmaker, settings)
    fast, slow = await both(two, sessionmaker, w, RAW[name])
    assert (fast.status, fast.body) == (slow.status, slow.body), (name, fast, slow)


async def test_a_get_request_is_answered_alike(
    two: Two, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    w = await world(sessionmaker, settings)

    def build(p: str, c: str, token: str) -> dict[str, Any]:
        doc = LITERAL.replace("{P}", p).replace("{C}", c) + " { claim { id } } }"
        return {
            "method": "GET",
            "params": {"query": doc},
            "headers": {"Authorization": f"Bearer {token}", "Accept": "application/json"},
        }

    fast, slow = await both(two, sessionmaker, w, build)
    assert (fast.status, fast.body) == (slow.status, slow.body)


# --------------------------------------------------------------------------------------------
# Who asks
# --------------------------------------------------------------------------------------------


def with_headers(headers: Callable[[str], list[tuple[str, str]]]) -> Build:
    def build(p: str, c: str, token: str) -> dict[str, Any]:
        doc = LITERAL.replace("{P}", p).replace("{C}", c) + ALL + " }"
        return {
            "method": "POST",
            "json": {"query": doc},
            "headers": [("Content-Type", "application/json"), *headers(token)],
        }

    return build


def _expired(settings: Settings, token: str) -> str:
    user_id = int(jwt.decode(token, options={"verify_signature": False})["sub"])
    past = datetime.now(UTC) - timedelta(seconds=settings.token_ttl_seconds + 3600)
    return issue_token(settings, user_id, now=past)


def who_cases(settings: Settings) -> dict[str, Build]:
    return {
        "no token": with_headers(lambda t: []),
        "malformed token": with_headers(lambda t: [("Authorization", "Bearer not.a.token")]),
        "token without the scheme": with_headers(lambda t: [("Authorization", t)]),
        "lowercase scheme": with_headers(lambda t: [("Authorization", f"bearer {t}")]),
        "token with a bad signature": with_headers(
            lambda t: [("Authorization", f"Bearer {t[:-4]}AAAA")]
        ),
        "expired token": with_headers(
            lambda t: [("Authorization", f"Bearer {_expired(settings, t)}")]
        ),
        # strawberry reads the first Authorization header (starlette's Headers.get); the fast
        # path reads the last (dict(scope["headers"]))
        "a bad token, then the member's": with_headers(
            lambda t: [("Authorization", "Bearer garbage"), ("Authorization", f"Bearer {t}")]
        ),
        "the member's token, then a bad one": with_headers(
            lambda t: [("Authorization", f"Bearer {t}"), ("Authorization", "Bearer garbage")]
        ),
    }


@pytest.mark.parametrize(
    "name",
    [
        "no token",
        "malformed token",
        "token without the scheme",
        "lowercase scheme",
        "token with a bad signature",
        "expired token",
        "a bad token, then the member's",
        "the member's token, then a bad one",
    ],
)
async def test_who_asks_is_read_alike(
    name: str, two: Two, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    w = await world(sessionmaker, settings)
    fast, slow = await both(two, sessionmaker, w, who_cases(settings)[name])
    assert (fast.status, fast.body) == (slow.status, slow.body), (name, fast, slow)


async def test_two_tokens_act_as_the_same_user_on_both_paths(
    two: Two, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    """Two valid Authorization headers: strawberry acts as the first, and so must the fast
    path (else one path claims for the organization and the other refuses FORBIDDEN)."""
    w = await world(sessionmaker, settings)
    _, community = await make_chain(sessionmaker, "STREET", "COMMUNITY")
    stranger = await side(sessionmaker, settings, community)  # a member of another organization
    answers = []
    for client, s in ((two.fast, w.fast), (two.slow, w.slow)):
        doc = LITERAL.replace("{P}", w.project).replace("{C}", s.org) + ALL + " }"
        r = await client.post(
            "/graphql",
            json={"query": doc},
            headers=[
                ("Authorization", f"Bearer {s.token}"),
                ("Authorization", f"Bearer {stranger.token}"),
            ],
        )
        answers.append(Answer.of(r))
    assert answers[0] == answers[1]
    assert [await claims_of(sessionmaker, s.org_pk) for s in (w.fast, w.slow)] == [1, 1]


async def test_a_deleted_user_and_a_user_without_a_role_are_refused_alike(
    two: Two, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    w = await world(sessionmaker, settings)
    nobody = token_for(settings, await make_user(sessionmaker, None))
    gone = await make_user(sessionmaker, "COORDINATOR")
    gone_token = token_for(settings, gone)
    async with unit_of_work(sessionmaker) as s:
        await s.delete(await s.merge(gone))
    for token in (nobody, gone_token):

        def as_token(p: str, c: str, _own: str, tok: str = token) -> dict[str, Any]:
            return gql(LITERAL + ALL + " }")(p, c, tok)

        fast, slow = await both(two, sessionmaker, w, as_token)
        assert fast == slow
        assert fast.status == 200
        assert fast.body["data"]["claimServiceProject"]["claim"] is None


# --------------------------------------------------------------------------------------------
# Races and faults
# --------------------------------------------------------------------------------------------


async def test_the_last_place_is_claimed_once_whichever_path_asks(
    two: Two, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    w = await world(sessionmaker, settings, slots=1)
    async with sessionmaker() as s:  # members of organizations of the project's own area
        project = await s.get(ServiceProject, w.project_pk)
        assert project is not None
        area = await s.get(Area, project.area_id)
    sides = [await side(sessionmaker, settings, area) for _ in range(16)]
    doc = HEAD + ALL + " }"

    async def claim(i: int, s: Side) -> Answer:
        client = two.fast if i % 2 else two.slow
        r = await client.post(
            "/graphql",
            json={"query": doc, "variables": {"p": w.project, "c": s.org}},
            headers={"Authorization": f"Bearer {s.token}"},
        )
        return Answer.of(r)

    answers = await asyncio.gather(*(claim(i, s) for i, s in enumerate(sides)))
    assert all(a.status == 200 for a in answers), answers
    made = [a for a in answers if a.body["data"]["claimServiceProject"]["claim"] is not None]
    codes = sorted(
        e["code"] for a in answers for e in a.body["data"]["claimServiceProject"]["userErrors"]
    )
    assert len(made) == 1, answers
    assert set(codes) <= {"NO_SLOTS_LEFT", "CONFLICT"}, codes
    assert len(codes) == 15
    assert sum([await claims_of(sessionmaker, s.org_pk) for s in sides]) == 1


async def _gridweave_backends(dsn: str) -> list[int]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name = 'gridweave' AND wait_event_type = 'Lock'"
        )
        return [r["pid"] for r in rows]
    finally:
        await conn.close()


async def test_a_connection_killed_mid_claim_is_answered_alike(
    two: Two, sessionmaker: Sessionmaker, settings: Settings, database_url: str
) -> None:
    """The claim's statement waits on the project's row (locked by another session) when its
    backend is terminated: both paths answer the same masked error, and nothing is written."""
    w = await world(sessionmaker, settings)
    dsn = asyncpg_dsn(database_url)
    # an odd layout and an alias: the masked error's location and path are compared too
    doc = (
        "\ufeff\r\n# first\r\n\r\n"
        + HEAD.replace("{ claimServiceProject(", "{\r\n\t  taken :\r\n claimServiceProject(")
        + ALL
        + " }"
    )
    answers = []
    for client, s in ((two.fast, w.fast), (two.slow, w.slow)):
        locker = await asyncpg.connect(dsn)
        try:
            tx = locker.transaction()
            await tx.start()
            await locker.execute(
                "SELECT 1 FROM service_projects WHERE id = $1 FOR UPDATE", w.project_pk
            )
            request = asyncio.create_task(
                client.post(
                    "/graphql",
                    json={"query": doc, "variables": {"p": w.project, "c": s.org}},
                    headers={"Authorization": f"Bearer {s.token}"},
                )
            )
            for _ in range(200):
                waiting = await _gridweave_backends(dsn)
                if waiting:
                    break
                await asyncio.sleep(0.02)
            assert waiting, "the claim never waited on the lock"
            await locker.execute(
                "SELECT pg_terminate_backend(pid, 10000) FROM unnest($1::int[]) AS pid", waiting
            )
            await tx.rollback()
        finally:
            await locker.close()
        answers.append(Answer.of(await request))
    assert answers[0] == answers[1], answers
    assert answers[0].body["errors"][0]["path"] == ["taken"]
    assert [await claims_of(sessionmaker, s.org_pk) for s in (w.fast, w.slow)] == [0, 0]
    # and afterwards both paths claim again
    fast, slow = await both(two, sessionmaker, w, gql(HEAD + ALL + " }", V))
    assert fast == slow
    assert fast.body["data"]["claimServiceProject"]["userErrors"] == []


async def test_the_first_claim_after_every_connection_was_killed_is_answered_alike(
    two: Two, sessionmaker: Sessionmaker, settings: Settings, database_url: str
) -> None:
    """Idle pooled connections of both apps killed before each claim: both paths claim."""
    dsn = asyncpg_dsn(database_url)
    for _ in range(4):
        w = await world(sessionmaker, settings)
        for client, s in ((two.fast, w.fast), (two.slow, w.slow)):
            warm = await asyncio.gather(
                *(
                    client.post(
                        "/graphql",
                        json={"query": "{ __typename }"},
                        headers={"Authorization": f"Bearer {s.token}"},
                    )
                    for _ in range(4)
                )
            )
            assert all(r.status_code == 200 for r in warm)
        killer = await asyncpg.connect(dsn)
        try:
            await killer.fetchval(
                "SELECT count(pg_terminate_backend(pid, 10000)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = 'gridweave'"
            )
        finally:
            await killer.close()
        fast, slow = await both(two, sessionmaker, w, gql(HEAD + ALL + " }", V))
        assert fast == slow
        assert fast.status == 200
        assert fast.body["data"]["claimServiceProject"]["userErrors"] == []


@pytest.mark.parametrize("where", ["a closed port", "a missing socket"])
async def test_a_database_that_is_down_is_answered_alike(
    where: str, settings: Settings, sessionmaker: Sessionmaker, database_url: str, tmp_path: Any
) -> None:
    """No server at the database's address (it is down, restarting): strawberry's sign-in
    lookup meets the connection error before any GraphQL runs (a closed port: the 503 "try
    again" of DatabaseUnavailable); the fast path reads the actor inside its claim, whose
    ``except Exception`` answers a masked unexpected error with status 200 instead."""
    import socket

    from sqlalchemy.engine import make_url

    w = await world(sessionmaker, settings)
    if where == "a closed port":
        with socket.socket() as sock:  # a port nobody listens on
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        down = make_url(database_url).set(host="127.0.0.1", port=port, query={})
    else:
        down = make_url(database_url).set(query={"host": str(tmp_path / "nowhere")})
    url = down.render_as_string(hide_password=False)
    answers = []
    for fast_claims, s in ((True, w.fast), (False, w.slow)):
        app = create_app(settings.model_copy(update={"fast_claims": fast_claims}), database_url=url)
        async with LifespanManager(app) as manager:
            # an exception escaping the app is the server's bare 500, not raised into the test
            transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                r = await client.post(
                    "/graphql",
                    json={"query": HEAD + ALL + " }", "variables": {"p": w.project, "c": s.org}},
                    headers={"Authorization": f"Bearer {s.token}"},
                )
        answers.append(Answer.of(r))
    assert answers[0] == answers[1], answers
