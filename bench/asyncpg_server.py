"""The hand-written baseline of ``bench/readpath``: a bare ASGI app (no framework) answering the
bench's queries with hand-written SQL over an asyncpg pool, serialised with orjson, in the
same JSON shape as gridweave.

It does not parse GraphQL: a POST to /graphql is dispatched on its ``operationName`` (Dashboard,
Search, Network, Overview, AreaKind, ById) and reads its arguments from ``variables``, so the
request bodies are the very bodies sent to gridweave. There is no authorization (no token is
checked). The SQL keeps gridweave's semantics (the subtree of the area at ``path`` =
``area_path LIKE path || '%'``, written as the index-friendly range ``area_path ~>=~ path AND
area_path ~<~ <path with its last '/' raised to '0'>``, which the text_pattern_ops indexes serve
even when ``path`` comes from another row; keyset pages ordered by id; totals without the page
limit), so that both answers can be compared once parsed.

Run it with ``READPATH_DSN=postgresql://... uvicorn bench.asyncpg_server:app`` (one process).
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import orjson

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Json = dict[str, Any]
Handler = Callable[[Any, Json], Awaitable[Json]]

MAX_PAGE = 100
MAX_NETWORK_NODES = 20_000
POOL_MIN = int(os.environ.get("READPATH_POOL_MIN", "10"))
POOL_MAX = int(os.environ.get("READPATH_POOL_MAX", "20"))  # gridweave: pool 20 + overflow 5


class BadRequest(Exception):
    """Answered as a GraphQL-shaped error."""


@functools.lru_cache(maxsize=1 << 16)
def gid(type_name: str, pk: int) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


def decode_gid(value: object, type_name: str) -> int:
    if not isinstance(value, str):
        raise BadRequest(f"expected the id of a {type_name}")
    try:
        kind, _, pk = base64.b64decode(value, validate=True).decode().partition(":")
        if kind == type_name:
            return int(pk)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise BadRequest(f"This is not the id of a {type_name}.")


def page_size(value: object, default: int = MAX_PAGE) -> int:
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_PAGE:
        raise BadRequest(f"first must be between 0 and {MAX_PAGE}")
    return value


def like_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# ---- 1. dashboard: a street's communities > organizations > service areas and links ---------

_AREA = "SELECT id, name FROM areas WHERE id = $1"
_CHILDREN = (
    "SELECT id, name, households, path, count(*) OVER () AS total FROM areas"
    " WHERE parent_id = $1 ORDER BY id LIMIT $2"
)
# the organizations at or below the area whose path is p.path (see the module docstring)
_BELOW = "area_path ~>=~ p.path AND area_path ~<~ (left(p.path, -1) || '0')"
_SUBTREE_ORGS = (
    "SELECT p.ord, c.total, o.id, o.name, o.kind, o.parent_id, po.name AS parent_name"
    " FROM unnest($1::text[]) WITH ORDINALITY AS p(path, ord)"
    f" CROSS JOIN LATERAL (SELECT count(*) AS total FROM organizations WHERE {_BELOW}) c"
    # OFFSET 0 keeps the planner from walking the primary key in id order and filtering
    # (thousands of rows per community): it reads the subtree by the path index, then sorts.
    " LEFT JOIN LATERAL (SELECT * FROM (SELECT id, name, kind, parent_id FROM organizations"
    f"   WHERE {_BELOW} OFFSET 0) s ORDER BY id LIMIT $2) o ON true"
    " LEFT JOIN organizations po ON po.id = o.parent_id"
    " ORDER BY p.ord, o.id"
)
_SERVICE_AREAS = (
    "SELECT s.organization_id, s.area_id, a.name AS area_name, c.code, c.name"
    " FROM organization_service_areas s JOIN areas a ON a.id = s.area_id"
    " JOIN service_categories c ON c.id = s.category_id"
    " WHERE s.organization_id = ANY($1::bigint[])"
    " ORDER BY s.organization_id, s.area_id, s.category_id"
)
_LINKS = (
    "SELECT k.id AS org_id, l.kind, l.source_id, so.name AS source_name, l.target_id,"
    " t.name AS target_name"
    " FROM unnest($1::bigint[]) AS k(id)"
    " JOIN organization_links l ON l.source_id = k.id OR l.target_id = k.id"
    " JOIN organizations so ON so.id = l.source_id JOIN organizations t ON t.id = l.target_id"
    " ORDER BY k.id, l.id"
)


async def dashboard(conn: Any, variables: Json) -> Json:
    street = decode_gid(variables.get("street"), "Area")
    area = await conn.fetchrow(_AREA, street)
    if area is None:
        return {"node": None}
    children = await conn.fetch(_CHILDREN, street, 50)
    rows = await conn.fetch(_SUBTREE_ORGS, [c["path"] for c in children], 20)
    org_ids = [r["id"] for r in rows if r["id"] is not None]
    services: dict[int, list[Json]] = {}
    for s in await conn.fetch(_SERVICE_AREAS, org_ids):
        groups = services.setdefault(s["organization_id"], [])
        if not groups or groups[-1]["_area"] != s["area_id"]:
            groups.append(
                {
                    "_area": s["area_id"],
                    "area": {"id": gid("Area", s["area_id"]), "name": s["area_name"]},
                    "categories": [],
                }
            )
        groups[-1]["categories"].append({"code": s["code"], "name": s["name"]})
    links: dict[int, list[Json]] = {}
    for ln in await conn.fetch(_LINKS, org_ids):
        links.setdefault(ln["org_id"], []).append(
            {
                "kind": ln["kind"],
                "source": {"id": gid("Organization", ln["source_id"]), "name": ln["source_name"]},
                "target": {"id": gid("Organization", ln["target_id"]), "name": ln["target_name"]},
            }
        )
    per_child: list[list[Json]] = [[] for _ in children]
    totals = [0] * len(children)
    for r in rows:
        i = r["ord"] - 1
        totals[i] = r["total"]
        if r["id"] is None:
            continue
        parent = (
            None
            if r["parent_id"] is None
            else {"id": gid("Organization", r["parent_id"]), "name": r["parent_name"]}
        )
        per_child[i].append(
            {
                "node": {
                    "id": gid("Organization", r["id"]),
                    "name": r["name"],
                    "kind": r["kind"],
                    "parent": parent,
                    "serviceAreas": [
                        {"area": g["area"], "categories": g["categories"]}
                        for g in services.get(r["id"], ())
                    ],
                    "links": links.get(r["id"], []),
                }
            }
        )
    edges = [
        {
            "node": {
                "id": gid("Area", c["id"]),
                "name": c["name"],
                "households": c["households"],
                "organizations": {"totalCount": totals[i], "edges": per_child[i]},
            }
        }
        for i, c in enumerate(children)
    ]
    total = children[0]["total"] if children else 0
    return {
        "node": {
            "id": gid("Area", area["id"]),
            "name": area["name"],
            "children": {"totalCount": total, "edges": edges},
        }
    }


# ---- 2. organizations of one kind whose name contains a term ----------------------------------

_SEARCH = (
    "SELECT o.id, o.name, o.kind, o.credit_code, o.area_id, a.name AS area_name"
    " FROM organizations o JOIN areas a ON a.id = o.area_id"
    " WHERE o.kind = $1 AND (o.name ILIKE $2 OR o.credit_code = $3) ORDER BY o.id LIMIT $4"
)
_SEARCH_COUNT = (
    "SELECT count(*) FROM organizations WHERE kind = $1 AND (name ILIKE $2 OR credit_code = $3)"
)


async def search(conn: Any, variables: Json) -> Json:
    kind, term = variables.get("kind"), variables.get("search")
    if not isinstance(kind, str) or not isinstance(term, str) or not term.strip():
        raise BadRequest("kind and search are required")
    limit = page_size(variables.get("first"))
    args = (kind, like_pattern(term.strip()), term.strip().upper())
    rows = await conn.fetch(_SEARCH, *args, limit)
    total = await conn.fetchval(_SEARCH_COUNT, *args)
    return {
        "organizations": {
            "totalCount": total,
            "edges": [
                {
                    "node": {
                        "id": gid("Organization", r["id"]),
                        "name": r["name"],
                        "kind": r["kind"],
                        "creditCode": r["credit_code"],
                        "area": {"id": gid("Area", r["area_id"]), "name": r["area_name"]},
                    }
                }
                for r in rows
            ],
        }
    }


# ---- 3. the organization network of one area's subtree ------------------------------------------

_ROOT = "SELECT path FROM areas WHERE id = $1"
# $1 is the root's path, $2 the same with its last '/' raised to '0' (the range's upper end)
_NET_AREAS = (
    "SELECT id, name, level, parent_id FROM areas WHERE path ~>=~ $1 AND path ~<~ $2 ORDER BY id"
)
_NET_ORGS = (
    "SELECT o.id, o.name, o.kind, o.area_id, o.parent_id,"
    " ARRAY(SELECT DISTINCT s.area_id FROM organization_service_areas s"
    "       WHERE s.organization_id = o.id ORDER BY 1) AS served"
    " FROM organizations o WHERE o.area_path ~>=~ $1 AND o.area_path ~<~ $2 ORDER BY o.id"
)
_NET_LINKS = (
    "SELECT l.kind, l.source_id, l.target_id FROM organizations s"
    " JOIN organization_links l ON l.source_id = s.id JOIN organizations t ON t.id = l.target_id"
    " WHERE s.area_path ~>=~ $1 AND s.area_path ~<~ $2"
    " AND t.area_path ~>=~ $1 AND t.area_path ~<~ $2 ORDER BY l.id"
)


async def network(conn: Any, variables: Json) -> Json:
    area_id = decode_gid(variables.get("area"), "Area")
    root = await conn.fetchval(_ROOT, area_id)
    if root is None:
        raise BadRequest("No such area.")
    bounds = (root, root[:-1] + "0")
    areas = await conn.fetch(_NET_AREAS, *bounds)
    orgs = await conn.fetch(_NET_ORGS, *bounds)
    if len(areas) + len(orgs) > MAX_NETWORK_NODES:
        raise BadRequest("This network has too many nodes for a dashboard.")
    links = await conn.fetch(_NET_LINKS, *bounds)
    # Nodes: areas, then organizations, each by id. Edges sorted by (source, target, kind), where
    # a node sorts as (0 for an area / 1 for an organization, id): gridweave's canonical order.
    AREA, ORG = 0, 1
    names = {AREA: "Area", ORG: "Organization"}
    nodes = [
        {"id": gid("Area", a["id"]), "label": a["name"], "type": "Area", "kind": a["level"]}
        for a in areas
    ]
    area_ids = {a["id"] for a in areas}
    kept = [o for o in orgs if o["area_id"] in area_ids]
    org_ids = {o["id"] for o in kept}
    nodes += [
        {
            "id": gid("Organization", o["id"]),
            "label": o["name"],
            "type": "Organization",
            "kind": o["kind"],
        }
        for o in kept
    ]
    found: list[tuple[tuple[int, int], tuple[int, int], str]] = [
        ((AREA, a["id"]), (AREA, a["parent_id"]), "PARENT")
        for a in areas
        if a["parent_id"] in area_ids
    ]
    for o in kept:
        me = (ORG, o["id"])
        found.append((me, (AREA, o["area_id"]), "LOCATED_IN"))
        if o["parent_id"] in org_ids:
            found.append((me, (ORG, o["parent_id"]), "PARENT"))
        found += [(me, (AREA, a), "SERVES") for a in o["served"] if a in area_ids]
    found += [
        ((ORG, ln["source_id"]), (ORG, ln["target_id"]), ln["kind"])
        for ln in links
        if ln["source_id"] in org_ids and ln["target_id"] in org_ids
    ]
    found.sort()
    edges = [
        {"source": gid(names[s[0]], s[1]), "target": gid(names[t[0]], t[1]), "kind": kind}
        for s, t, kind in found
    ]
    return {"network": {"nodes": nodes, "edges": edges}}


# ---- 4. a district's overview: streets > communities, scalars and totals ------------------------

_OVERVIEW_AREA = "SELECT id, name, households, population FROM areas WHERE id = $1"
# the children of each parent (first $2 by id) and each parent's count of children
_OVERVIEW_CHILDREN = (
    "SELECT p.id AS parent, c.id, c.name, c.code, c.households, c.population,"
    " count(*) OVER (PARTITION BY p.id) AS total, row_number() OVER (PARTITION BY p.id ORDER BY"
    " c.id) AS n FROM unnest($1::bigint[]) AS p(id) JOIN areas c ON c.parent_id = p.id"
)
_OVERVIEW_PAGE = f"SELECT * FROM ({_OVERVIEW_CHILDREN}) s WHERE n <= $2 ORDER BY parent, id"


def _area_fields(r: Any) -> Json:
    return {
        "id": gid("Area", r["id"]),
        "name": r["name"],
        "code": r["code"],
        "households": r["households"],
        "population": r["population"],
    }


async def overview(conn: Any, variables: Json) -> Json:
    district = decode_gid(variables.get("district"), "Area")
    area = await conn.fetchrow(_OVERVIEW_AREA, district)
    if area is None:
        return {"node": None}
    streets = await conn.fetch(_OVERVIEW_PAGE, [district], 50)
    communities: dict[int, list[Any]] = {}
    for c in await conn.fetch(_OVERVIEW_PAGE, [s["id"] for s in streets], 50):
        communities.setdefault(c["parent"], []).append(c)

    def connection(rows: list[Any], nested: bool) -> Json:
        edges = []
        for r in rows:
            node = _area_fields(r)
            if nested:
                node["children"] = connection(communities.get(r["id"], []), False)
            edges.append({"node": node})
        return {"totalCount": rows[0]["total"] if rows else 0, "edges": edges}

    return {
        "node": {
            "id": gid("Area", area["id"]),
            "name": area["name"],
            "households": area["households"],
            "population": area["population"],
            "children": connection(list(streets), True),
        }
    }


# ---- 5. the organizations of one kind in an area's subtree --------------------------------------

# OFFSET 0, as in the dashboard: once asyncpg's prepared statement has a generic plan, PostgreSQL
# would otherwise page by walking the primary key in id order and filtering every organization
# before the area's (~44,600 rows for the city's last district); fenced, it reads the subtree by
# the path and kind indexes and sorts.
_AREA_KIND = (
    "SELECT o.id, o.name, o.kind, o.credit_code, o.area_id, a.name AS area_name"
    " FROM (SELECT * FROM organizations"
    "   WHERE area_path ~>=~ $1 AND area_path ~<~ $2 AND kind = $3 OFFSET 0) o"
    " JOIN areas a ON a.id = o.area_id ORDER BY o.id LIMIT $4"
)
_AREA_KIND_COUNT = (
    "SELECT count(*) FROM organizations WHERE area_path ~>=~ $1 AND area_path ~<~ $2 AND kind = $3"
)


async def area_kind(conn: Any, variables: Json) -> Json:
    area_id = decode_gid(variables.get("area"), "Area")
    kind = variables.get("kind")
    if not isinstance(kind, str):
        raise BadRequest("kind is required")
    limit = page_size(variables.get("first"))
    root = await conn.fetchval(_ROOT, area_id)
    if root is None:
        raise BadRequest("No such area.")
    args = (root, root[:-1] + "0", kind)
    rows = await conn.fetch(_AREA_KIND, *args, limit)
    total = await conn.fetchval(_AREA_KIND_COUNT, *args)
    return {"organizations": {"totalCount": total, "edges": [_org_edge(r) for r in rows]}}


def _org_edge(r: Any) -> Json:
    return {
        "node": {
            "id": gid("Organization", r["id"]),
            "name": r["name"],
            "kind": r["kind"],
            "creditCode": r["credit_code"],
            "area": {"id": gid("Area", r["area_id"]), "name": r["area_name"]},
        }
    }


# ---- 6. organizations by id, one alias each (o1 ... oN) ------------------------------------------

MAX_ALIASES = 30
_BY_ID = (
    "SELECT k.n, o.id, o.name, o.kind, a.name AS area_name"
    " FROM unnest($1::bigint[]) WITH ORDINALITY AS k(id, n)"
    " JOIN organizations o ON o.id = k.id JOIN areas a ON a.id = o.area_id"
)


async def by_id(conn: Any, variables: Json) -> Json:
    if len(variables) > MAX_ALIASES:
        raise BadRequest(f"at most {MAX_ALIASES} aliases")
    aliases = [f"o{name[1:]}" for name in variables]  # $a1 -> o1
    ids = [decode_gid(v, "Organization") for v in variables.values()]
    found = {r["n"]: r for r in await conn.fetch(_BY_ID, ids)}
    out: Json = {}
    for n, alias in enumerate(aliases, 1):
        r = found.get(n)
        out[alias] = (
            None
            if r is None
            else {
                "id": gid("Organization", r["id"]),
                "name": r["name"],
                "kind": r["kind"],
                "area": {"name": r["area_name"]},
            }
        )
    return out


# ---- 7. bench/claims: a claim (conditional update, insert, nothing else) -------------------------
# On tables of the bench's own (bench_projects, bench_claims: no trigger, no ledger, no event), so
# that this is the least the work can cost: one conditional UPDATE, one INSERT, one commit.

_TAKE = (
    "UPDATE bench_projects SET claimed = claimed + 1 WHERE id = $1 AND claimed < slots"
    " RETURNING claimed"
)
_CLAIM = "INSERT INTO bench_claims (project_id, claimant_id) VALUES ($1, $2) RETURNING id"


async def claim(conn: Any, variables: Json) -> Json:
    project = decode_gid(variables.get("p"), "ServiceProject")
    claimant = decode_gid(variables.get("c"), "Organization")
    async with conn.transaction():
        taken = await conn.fetchval(_TAKE, project)
        if taken is None:
            return {
                "claimServiceProject": {"claim": None, "userErrors": [{"code": "NO_SLOTS_LEFT"}]}
            }
        claim_id = await conn.fetchval(_CLAIM, project, claimant)
    return {
        "claimServiceProject": {
            "claim": {"id": gid("Claim", claim_id)},
            "userErrors": [],
        }
    }


# ---- 8. bench/claims: a project board (serviceProjects(first: 50) with claims and claimants) ----

# The status as gridweave derives it (gridweave.models.projects.status_sql), written out here.
_TODAY = "(now() AT TIME ZONE 'Asia/Shanghai')::date"
_PAST = f"(p.deadline IS NOT NULL AND p.deadline < {_TODAY})"
_STATUS = (
    "CASE WHEN p.cancelled_at IS NOT NULL THEN 'CANCELLED'"
    f" WHEN (p.claimed_slots = p.slots OR {_PAST}) AND p.claimed_slots > 0"
    " AND p.active_claims = 0"
    " THEN CASE WHEN p.reported_claims = 0 THEN 'VERIFIED' ELSE 'COMPLETED' END"
    f" WHEN {_PAST} THEN 'EXPIRED' WHEN p.claimed_slots = p.slots THEN 'CLAIMED'"
    " WHEN p.claimed_slots > 0 THEN 'PARTIALLY_CLAIMED' ELSE 'OPEN' END"
)
_BOARD = (
    f"SELECT p.id, p.title, p.slots, p.claimed_slots, {_STATUS} AS status FROM service_projects p"
    " WHERE p.area_path ~>=~ $1 AND p.area_path ~<~ $2 ORDER BY p.id DESC LIMIT $3"
)
_BOARD_COUNT = "SELECT count(*) FROM service_projects WHERE area_path ~>=~ $1 AND area_path ~<~ $2"
_BOARD_CLAIMS = (
    "SELECT c.project_id, c.id, c.status, c.slots, c.claimant_id, o.name FROM claims c"
    " JOIN organizations o ON o.id = c.claimant_id WHERE c.project_id = ANY($1::bigint[])"
    " ORDER BY c.project_id, c.id"
)


async def board(conn: Any, variables: Json) -> Json:
    area_id = decode_gid(variables.get("area"), "Area")
    root = await conn.fetchval(_ROOT, area_id)
    if root is None:
        raise BadRequest("No such area.")
    bounds = (root, root[:-1] + "0")
    rows = await conn.fetch(_BOARD, *bounds, page_size(variables.get("first")))
    total = await conn.fetchval(_BOARD_COUNT, *bounds)
    claims: dict[int, list[Json]] = {}
    for c in await conn.fetch(_BOARD_CLAIMS, [r["id"] for r in rows]):
        claims.setdefault(c["project_id"], []).append(
            {
                "id": gid("Claim", c["id"]),
                "status": c["status"],
                "slots": c["slots"],
                "claimant": {"id": gid("Organization", c["claimant_id"]), "name": c["name"]},
            }
        )
    edges = [
        {
            "node": {
                "id": gid("ServiceProject", r["id"]),
                "title": r["title"],
                "status": r["status"],
                "slots": r["slots"],
                "claimedSlots": r["claimed_slots"],
                "claims": claims.get(r["id"], []),
            }
        }
        for r in rows
    ]
    return {"serviceProjects": {"totalCount": total, "edges": edges}}


HANDLERS: dict[str, Handler] = {
    "Dashboard": dashboard,
    "Search": search,
    "Network": network,
    "Overview": overview,
    "AreaKind": area_kind,
    "ById": by_id,
    "Claim": claim,
    "Board": board,
}


# ---- the ASGI app --------------------------------------------------------------------------------


async def _respond(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


class App:
    def __init__(self) -> None:
        self.pool: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self.pool = await asyncpg.create_pool(
                        os.environ["READPATH_DSN"], min_size=POOL_MIN, max_size=POOL_MAX
                    )
                except Exception as e:  # reported to uvicorn, which exits
                    await send({"type": "lifespan.startup.failed", "message": repr(e)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.pool is not None:
                    await self.pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/healthz":
            await _respond(send, 200, b'{"status":"ok"}')
            return
        if scope["path"] != "/graphql" or scope["method"] != "POST":
            await _respond(send, 404, b'{"errors":[{"message":"not found"}]}')
            return
        try:
            request = orjson.loads(await _read_body(receive))
            handler = HANDLERS.get(request.get("operationName"))
            if handler is None:
                raise BadRequest("unknown operationName")
            variables = request.get("variables") or {}
            async with self.pool.acquire() as conn:
                data = await handler(conn, variables)
            body = orjson.dumps({"data": data})
        except (BadRequest, orjson.JSONDecodeError, AttributeError) as e:
            body = orjson.dumps({"data": None, "errors": [{"message": str(e)}]})
        await _respond(send, 200, body)


app = App()
