"""The bench's logical queries, as each implementation is asked them, and the sanity checks run on
the first answers (before any load)."""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from bench.readpath_lib.util import BenchError

Json = Any

GRIDWEAVE_DASHBOARD = """
query Dashboard($street: ID!) {
  node(id: $street) {
    ... on Area {
      id name
      children(first: 50) {
        totalCount
        edges { node {
          id name households
          organizations(first: 20) {
            totalCount
            edges { node {
              id name kind
              parent { id name }
              serviceAreas { area { id name } categories { code name } }
              links { kind source { id name } target { id name } }
            } }
          }
        } }
      }
    }
  }
}
"""

# PostGraphile: areas.id is a bigint (BigInt, a JSON string); no subtree relation, so the
# bench's computed column areas_organizations_below; service areas come one row per (area,
# category) instead of grouped by area; links come as two lists (as source, as target).
POSTGRAPHILE_DASHBOARD = """
query Dashboard($street: BigInt!) {
  areaById(id: $street) {
    id name
    areasByParentId(first: 50, orderBy: PRIMARY_KEY_ASC) {
      totalCount
      edges { node {
        id name households
        organizationsBelow(first: 20) {
          totalCount
          edges { node {
            id name kind
            organizationByParentId { id name }
            organizationServiceAreasByOrganizationId {
              nodes { areaByAreaId { id name } serviceCategoryByCategoryId { code name } }
            }
            organizationLinksBySourceId {
              nodes {
                kind organizationBySourceId { id name } organizationByTargetId { id name }
              }
            }
            organizationLinksByTargetId {
              nodes {
                kind organizationBySourceId { id name } organizationByTargetId { id name }
              }
            }
          } }
        }
      } }
    }
  }
}
"""

GRIDWEAVE_SEARCH = """
query Search($kind: OrganizationKind!, $search: String!, $first: Int!) {
  organizations(first: $first, kind: $kind, search: $search) {
    totalCount
    edges { node { id name kind creditCode area { id name } } }
  }
}
"""

POSTGRAPHILE_SEARCH = """
query Search($q: String!, $k: String!, $first: Int!) {
  searchOrganizations(q: $q, k: $k, first: $first) {
    totalCount
    edges { node { id name kind creditCode areaByAreaId { id name } } }
  }
}
"""

GRIDWEAVE_NETWORK = """
query Network($area: ID!) {
  network(areaId: $area) {
    nodes { id label type kind }
    edges { source target kind }
  }
}
"""

# A district's overview: its streets > their communities, a few scalars and the totals.
GRIDWEAVE_OVERVIEW = """
query Overview($district: ID!) {
  node(id: $district) {
    ... on Area {
      id name households population
      children(first: 50) {
        totalCount
        edges { node {
          id name code households population
          children(first: 50) {
            totalCount
            edges { node { id name code households population } }
          }
        } }
      }
    }
  }
}
"""

POSTGRAPHILE_OVERVIEW = """
query Overview($district: BigInt!) {
  areaById(id: $district) {
    id name households population
    areasByParentId(first: 50, orderBy: PRIMARY_KEY_ASC) {
      totalCount
      edges { node {
        id name code households population
        areasByParentId(first: 50, orderBy: PRIMARY_KEY_ASC) {
          totalCount
          edges { node { id name code households population } }
        }
      } }
    }
  }
}
"""

# The organizations of one kind in an area's subtree (a top-level list with two filters).
GRIDWEAVE_AREA_KIND = """
query AreaKind($area: ID!, $kind: OrganizationKind!, $first: Int!) {
  organizations(areaId: $area, kind: $kind, first: $first) {
    totalCount
    edges { node { id name kind creditCode area { id name } } }
  }
}
"""

POSTGRAPHILE_AREA_KIND = """
query AreaKind($area: BigInt!, $k: String!, $first: Int!) {
  organizationsInArea(area: $area, k: $k, first: $first) {
    totalCount
    edges { node { id name kind creditCode areaByAreaId { id name } } }
  }
}
"""

AREA_KIND = "SOCIAL_ORGANIZATION"
AREA_KIND_FIRST = 50


def by_id_query(count: int, *, postgraphile: bool) -> str:
    """``count`` organizations by id, one alias each (o1 ... oN): gridweave through
    ``node(id:)``, PostGraphile through ``organizationById``."""
    org = "{ id name kind area { name } }"
    if postgraphile:
        params = ", ".join(f"$a{i}: BigInt!" for i in range(1, count + 1))
        fields = "".join(
            f"  o{i}: organizationById(id: $a{i}) {{ id name kind areaByAreaId {{ name }} }}\n"
            for i in range(1, count + 1)
        )
    else:
        params = ", ".join(f"$a{i}: ID!" for i in range(1, count + 1))
        fields = "".join(
            f"  o{i}: node(id: $a{i}) {{ ... on Organization {org} }}\n"
            for i in range(1, count + 1)
        )
    return f"query ById({params}) {{\n{fields}}}\n"


SEARCH_KIND = "SOCIAL_ORGANIZATION"
SEARCH_TERM = "社"

# What the PostGraphile schema must offer for the queries above (checked by introspection).
POSTGRAPHILE_FIELDS: Mapping[str, tuple[str, ...]] = {
    "Query": ("areaById", "searchOrganizations", "organizationsInArea", "organizationById"),
    "Area": (
        "id",
        "name",
        "code",
        "households",
        "population",
        "areasByParentId",
        "organizationsBelow",
    ),
    "Organization": (
        "id",
        "name",
        "kind",
        "creditCode",
        "areaByAreaId",
        "organizationByParentId",
        "organizationServiceAreasByOrganizationId",
        "organizationLinksBySourceId",
        "organizationLinksByTargetId",
    ),
    "OrganizationServiceArea": ("areaByAreaId", "serviceCategoryByCategoryId"),
    "OrganizationLink": ("kind", "organizationBySourceId", "organizationByTargetId"),
}
INTROSPECTION = (
    "query Fields { "
    + " ".join(
        f'{name}: __type(name: "{name}") {{ fields {{ name }} }}' for name in POSTGRAPHILE_FIELDS
    )
    + " }"
)


def gid(type_name: str, pk: int) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


def pk_of(global_id: str) -> int:
    return int(base64.b64decode(global_id).decode().partition(":")[2])


def body(query: str, operation: str, variables: Mapping[str, Any]) -> bytes:
    return orjson.dumps({"query": query, "operationName": operation, "variables": variables})


@dataclass(frozen=True, slots=True)
class Query:
    """One logical query: the request body in gridweave's schema (also what the asyncpg endpoint
    answers) and, when PostGraphile answers it, in PostGraphile's schema."""

    name: str
    description: str
    gridweave: bytes
    postgraphile: bytes | None
    # (gridweave answer, PostGraphile answer) -> problems found; empty means consistent
    compare_postgraphile: Callable[[Json, Json], list[str]] | None


def build_queries(
    street_id: int,
    community_id: int,
    district_id: int,
    late_district_id: int,
    organization_ids: Sequence[int],
) -> list[Query]:
    by_id = len(organization_ids)
    aliases = {f"a{i}": pk for i, pk in enumerate(organization_ids, 1)}
    return [
        Query(
            name="dashboard",
            description=(
                f"street {street_id}: communities > organizations(first 20) > service areas, "
                "parents, links"
            ),
            gridweave=body(GRIDWEAVE_DASHBOARD, "Dashboard", {"street": gid("Area", street_id)}),
            postgraphile=body(POSTGRAPHILE_DASHBOARD, "Dashboard", {"street": str(street_id)}),
            compare_postgraphile=_compare_dashboard,
        ),
        Query(
            name="search",
            description=f'organizations(first 100, kind {SEARCH_KIND}, search "{SEARCH_TERM}")',
            gridweave=body(
                GRIDWEAVE_SEARCH,
                "Search",
                {"kind": SEARCH_KIND, "search": SEARCH_TERM, "first": 100},
            ),
            postgraphile=body(
                POSTGRAPHILE_SEARCH, "Search", {"q": SEARCH_TERM, "k": SEARCH_KIND, "first": 100}
            ),
            compare_postgraphile=_compare_search,
        ),
        Query(
            name="network",
            description=f"network(areaId: community {community_id})",
            gridweave=body(GRIDWEAVE_NETWORK, "Network", {"area": gid("Area", community_id)}),
            postgraphile=None,
            compare_postgraphile=None,
        ),
        Query(
            name="overview",
            description=f"district {district_id}: streets > communities, scalars and totals",
            gridweave=body(GRIDWEAVE_OVERVIEW, "Overview", {"district": gid("Area", district_id)}),
            postgraphile=body(POSTGRAPHILE_OVERVIEW, "Overview", {"district": str(district_id)}),
            compare_postgraphile=_compare_overview,
        ),
        Query(
            name="area_kind",
            description=(
                f"organizations(areaId: district {late_district_id}, kind {AREA_KIND}, "
                f"first {AREA_KIND_FIRST})"
            ),
            gridweave=body(
                GRIDWEAVE_AREA_KIND,
                "AreaKind",
                {
                    "area": gid("Area", late_district_id),
                    "kind": AREA_KIND,
                    "first": AREA_KIND_FIRST,
                },
            ),
            postgraphile=body(
                POSTGRAPHILE_AREA_KIND,
                "AreaKind",
                {"area": str(late_district_id), "k": AREA_KIND, "first": AREA_KIND_FIRST},
            ),
            compare_postgraphile=_compare_area_kind,
        ),
        Query(
            name="by_id",
            description=f"{by_id} organizations by id, one node(id:) alias each",
            gridweave=body(
                by_id_query(by_id, postgraphile=False),
                "ById",
                {k: gid("Organization", pk) for k, pk in aliases.items()},
            ),
            postgraphile=body(
                by_id_query(by_id, postgraphile=True),
                "ById",
                {k: str(pk) for k, pk in aliases.items()},
            ),
            compare_postgraphile=_compare_by_id,
        ),
    ]


# ---- sanity checks -------------------------------------------------------------------------------


def data_of(who: str, query: str, raw: bytes) -> Json:
    """The ``data`` of an answer; a BenchError for anything else (errors, nulls, not JSON)."""
    try:
        answer = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise BenchError(f"{who} answered {query} with something not JSON: {raw[:300]!r}") from e
    if not isinstance(answer, dict) or answer.get("errors") or not answer.get("data"):
        raise BenchError(f"{who} answered {query} with an error: {raw[:600]!r}")
    root = next(iter(answer["data"].values()))
    if root is None:
        raise BenchError(f"{who} answered {query} with null: {raw[:300]!r}")
    return answer["data"]


def comparable(query: str, data: Json) -> Json:
    """The answer as compared: the order of a network's edges is left out (gridweave lists them
    sorted by source, target and kind; older versions in networkx's insertion order)."""
    if query != "network":
        return data
    net = data["network"]
    edges = sorted(net["edges"], key=lambda e: (e["source"], e["target"], e["kind"]))
    return {"network": {"nodes": net["nodes"], "edges": edges}}


def first_difference(a: Json, b: Json, path: str = "data") -> str | None:
    """Where two parsed JSON values differ (lists in order, objects by key), or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            if key not in a or key not in b:
                return f"{path}.{key}: only in {'the first' if key in a else 'the second'}"
            found = first_difference(a[key], b[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            found = first_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None if len(a) == len(b) else f"{path}: {len(a)} vs {len(b)} items"
    return None if a == b and type(a) is type(b) else f"{path}: {a!r} vs {b!r}"


def _compare_dashboard(gw: Json, pg: Json) -> list[str]:
    problems: list[str] = []
    g_children = gw["node"]["children"]
    p_children = pg["areaById"]["areasByParentId"]
    if g_children["totalCount"] != p_children["totalCount"]:
        problems.append(
            f"communities: totalCount {g_children['totalCount']} vs {p_children['totalCount']}"
        )
    g_edges, p_edges = g_children["edges"], p_children["edges"]
    if len(g_edges) != len(p_edges):
        problems.append(f"communities: {len(g_edges)} vs {len(p_edges)} edges")
    for g, p in zip(g_edges, p_edges, strict=False):
        g_area, p_area = g["node"], p["node"]
        if pk_of(g_area["id"]) != int(p_area["id"]):
            problems.append(f"community {g_area['id']} vs {p_area['id']}")
            continue
        g_orgs, p_orgs = g_area["organizations"], p_area["organizationsBelow"]
        if g_orgs["totalCount"] != p_orgs["totalCount"]:
            problems.append(
                f"community {p_area['id']}: organizations totalCount {g_orgs['totalCount']} "
                f"vs {p_orgs['totalCount']}"
            )
        g_ids = [pk_of(e["node"]["id"]) for e in g_orgs["edges"]]
        p_ids = [int(e["node"]["id"]) for e in p_orgs["edges"]]
        if g_ids != p_ids:
            problems.append(f"community {p_area['id']}: organizations {g_ids} vs {p_ids}")
            continue
        for ge, pe in zip(g_orgs["edges"], p_orgs["edges"], strict=True):
            g_org, p_org = ge["node"], pe["node"]
            g_services = sum(len(s["categories"]) for s in g_org["serviceAreas"])
            p_services = len(p_org["organizationServiceAreasByOrganizationId"]["nodes"])
            g_links = len(g_org["links"])
            p_links = len(p_org["organizationLinksBySourceId"]["nodes"]) + len(
                p_org["organizationLinksByTargetId"]["nodes"]
            )
            if (g_services, g_links) != (p_services, p_links):
                problems.append(
                    f"organization {p_org['id']}: (service rows, links) ({g_services}, {g_links}) "
                    f"vs ({p_services}, {p_links})"
                )
    return problems


def _compare_search(gw: Json, pg: Json) -> list[str]:
    return _compare_page(gw["organizations"], pg["searchOrganizations"])


def _compare_page(g: Json, p: Json) -> list[str]:
    """The same total and the same organizations (ids, in order; names, kinds and areas)."""
    problems: list[str] = []
    if g["totalCount"] != p["totalCount"]:
        problems.append(f"totalCount {g['totalCount']} vs {p['totalCount']}")
    g_ids = [pk_of(e["node"]["id"]) for e in g["edges"]]
    p_ids = [int(e["node"]["id"]) for e in p["edges"]]
    if g_ids != p_ids:
        problems.append(f"organization ids differ: {g_ids[:5]}... vs {p_ids[:5]}...")
        return problems
    for ge, pe in zip(g["edges"], p["edges"], strict=True):
        go, po = ge["node"], pe["node"]
        mine = (go["name"], go["kind"], go["creditCode"], pk_of(go["area"]["id"]))
        theirs = (po["name"], po["kind"], po["creditCode"], int(po["areaByAreaId"]["id"]))
        if mine != theirs:
            problems.append(f"organization {po['id']}: {mine} vs {theirs}")
    return problems


def _compare_overview(gw: Json, pg: Json) -> list[str]:
    problems: list[str] = []

    def walk(path: str, g: Json, p: Json) -> None:
        if pk_of(g["id"]) != int(p["id"]):
            problems.append(f"{path}: area {g['id']} vs {p['id']}")
            return
        for f in ("name", "code", "households", "population"):
            if f in g and g[f] != p[f]:
                problems.append(f"{path}: {f} {g[f]!r} vs {p[f]!r}")
        if "children" not in g:
            return
        gc, pc = g["children"], p["areasByParentId"]
        if gc["totalCount"] != pc["totalCount"]:
            problems.append(f"{path}: totalCount {gc['totalCount']} vs {pc['totalCount']}")
        if len(gc["edges"]) != len(pc["edges"]):
            problems.append(f"{path}: {len(gc['edges'])} vs {len(pc['edges'])} children")
        for i, (ge, pe) in enumerate(zip(gc["edges"], pc["edges"], strict=False)):
            walk(f"{path}[{i}]", ge["node"], pe["node"])

    walk("district", gw["node"], pg["areaById"])
    return problems


def _compare_area_kind(gw: Json, pg: Json) -> list[str]:
    return _compare_page(gw["organizations"], pg["organizationsInArea"])


def _compare_by_id(gw: Json, pg: Json) -> list[str]:
    problems: list[str] = []
    if list(gw) != list(pg):
        problems.append(f"aliases {list(gw)[:5]}... vs {list(pg)[:5]}...")
    for alias, g in gw.items():
        p = pg.get(alias)
        if g is None or p is None:
            if (g is None) != (p is None):
                problems.append(f"{alias}: {g!r} vs {p!r}")
            continue
        mine = (pk_of(g["id"]), g["name"], g["kind"], g["area"]["name"])
        theirs = (int(p["id"]), p["name"], p["kind"], p["areaByAreaId"]["name"])
        if mine != theirs:
            problems.append(f"{alias}: {mine} vs {theirs}")
    return problems


def count_summary(query: str, data: Json) -> str:
    """A few counts of a gridweave-shaped answer, for the progress log."""
    if query == "dashboard":
        edges = data["node"]["children"]["edges"]
        orgs = sum(len(e["node"]["organizations"]["edges"]) for e in edges)
        return f"{len(edges)} communities, {orgs} organizations"
    if query in ("search", "area_kind"):
        org = data["organizations"]
        return f"{len(org['edges'])} of {org['totalCount']} organizations"
    if query == "overview":
        streets = data["node"]["children"]["edges"]
        communities = sum(len(e["node"]["children"]["edges"]) for e in streets)
        return f"{len(streets)} streets, {communities} communities"
    if query == "by_id":
        found = sum(1 for v in data.values() if v is not None)
        return f"{found} of {len(data)} organizations"
    net = data["network"]
    return f"{len(net['nodes'])} nodes, {len(net['edges'])} edges"
