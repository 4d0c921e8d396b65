"""``network(areaId, depth)`` as one SQL statement: the same nodes and edges as the networkx path
(graph/network.py), in the same order (areas before organizations, by id; edges by source, target
and kind)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gridweave.compiled.selection import Fallback, Selection, value_of
from gridweave.compiled.sqljson import json_object
from gridweave.compiled.walker import refused
from gridweave.ids import decode_id
from gridweave.services.calendar import today
from gridweave.services.network import check_depth
from gridweave.services.subtree import in_subtree_sql

if TYPE_CHECKING:
    from gridweave.compiled.walker import Compiler


def _slashes(column: str) -> str:
    return f"(length({column}) - length(replace({column}, '/', '')))"


def _members(area: str, depth: str) -> tuple[str, str, str, str]:
    """The root CTE and the areas, organizations and joint meetings of the subtree,
    depth-limited."""
    root = f"root AS (SELECT path, {_slashes('path')} AS slashes FROM areas WHERE id = {area})"
    keep = f"({depth} IS NULL OR {{slashes}} <= root.slashes + {depth}::bigint)"
    areas = (
        "na AS (SELECT x.id, x.name, x.level, x.parent_id FROM areas x, root"
        f" WHERE {in_subtree_sql('x.path', 'root.path')}"
        f" AND {keep.format(slashes=_slashes('x.path'))})"
    )
    orgs = (
        "no AS (SELECT x.id, x.name, x.kind, x.area_id, x.parent_id FROM organizations x, root"
        f" WHERE {in_subtree_sql('x.area_path', 'root.path')}"
        f" AND {keep.format(slashes=_slashes('x.area_path'))})"
    )
    meetings = (
        "nm AS (SELECT x.id, x.name, x.area_id FROM joint_meetings x, root"
        f" WHERE {in_subtree_sql('x.area_path', 'root.path')}"
        f" AND {keep.format(slashes=_slashes('x.area_path'))})"
    )
    return root, areas, orgs, meetings


# Service areas and links are probed per organization (OFFSET 0 keeps the planner from turning
# the probes into hash joins over the whole tables: 200,000 service-area rows at city scale).
EDGES = (
    "ne AS ("
    "SELECT 0 AS s_org, id AS s, 0 AS t_org, parent_id AS t, 'PARENT' AS kind FROM na"
    " WHERE parent_id IN (SELECT id FROM na)"
    " UNION ALL SELECT 1, id, 0, area_id, 'LOCATED_IN' FROM no"
    " UNION ALL SELECT 1, id, 1, parent_id, 'PARENT' FROM no WHERE parent_id IN (SELECT id FROM no)"
    " UNION ALL SELECT 1, no.id, 0, sa.area_id, 'SERVES' FROM no CROSS JOIN LATERAL"
    " (SELECT DISTINCT area_id FROM organization_service_areas"
    "  WHERE organization_id = no.id OFFSET 0) sa WHERE sa.area_id IN (SELECT id FROM na)"
    " UNION ALL SELECT 1, no.id, 1, l.target_id, l.kind FROM no CROSS JOIN LATERAL"
    " (SELECT target_id, kind FROM organization_links WHERE source_id = no.id OFFSET 0) l"
    " WHERE l.target_id IN (SELECT id FROM no)"
    " UNION ALL SELECT 2, id, 0, area_id, 'LOCATED_IN' FROM nm"
    " UNION ALL SELECT 1, j.organization_id, 2, j.meeting_id, 'MEMBER_OF' FROM nm"
    " JOIN joint_meeting_members j ON j.meeting_id = nm.id AND j.left_on IS NULL"
    " WHERE j.organization_id IN (SELECT id FROM no)"
    " UNION ALL SELECT 0, a.community_id, 1, a.partner_id, 'AGREEMENT' FROM agreements a, root"
    f" WHERE {in_subtree_sql('a.community_path', 'root.path')}"
    " AND a.starts_on <= {today} AND a.ends_on >= {today} AND a.terminated_on IS NULL"
    " AND a.community_id IN (SELECT id FROM na) AND a.partner_id IN (SELECT id FROM no))"
)


def _gid_by_flag(flag: str, pk: str) -> str:
    type_name = f"CASE {flag} WHEN 0 THEN 'Area' WHEN 1 THEN 'Organization' ELSE 'JointMeeting' END"
    return f"encode(convert_to({type_name} || ':' || {pk}, 'UTF8'), 'base64')"


def _object(c: Compiler, s: Selection, type_name: str, values: dict[str, str]) -> str:
    pairs = []
    for f in c.fields(s, type_name):
        if f.name == "__typename":
            pairs.append((f.key, f"'{type_name}'"))
        elif f.name in values:
            pairs.append((f.key, values[f.name]))
        else:
            raise Fallback(f"{type_name}.{f.name}")
    return json_object(pairs)


def network_sql(c: Compiler, s: Selection) -> str:
    area_node, depth_node = s.arguments.get("areaId"), s.arguments.get("depth")
    area = c.param(
        refused(lambda v: decode_id(str(value_of(area_node, v)), "Area", field=["areaId"])),
        "bigint",
    )
    depth = c.param(refused(lambda v: check_depth(value_of(depth_node, v))), "int")
    root, areas, orgs, meetings = _members(area, depth)
    day = c.param(lambda _variables: today(), "date")
    c.guards.append(f"EXISTS (SELECT 1 FROM areas WHERE id = {area})")
    size = "(SELECT count(*) FROM na) + (SELECT count(*) FROM no) + (SELECT count(*) FROM nm)"
    members = f"{root}, {areas}, {orgs}, {meetings}"
    c.guards.append(f"(WITH {members} SELECT {size}) <= {c.max_network_nodes}")
    parts = []
    for f in c.fields(s, "Network"):
        if f.name == "nodes":
            node = _object(
                c,
                f,
                "NetworkNode",
                {
                    "id": _gid_by_flag("n.t", "n.id"),
                    "label": "n.label",
                    "type": "n.type",
                    "kind": "n.kind",
                },
            )
            parts.append(
                (
                    f.key,
                    (
                        f"(SELECT coalesce(json_agg({node} ORDER BY n.t, n.id), '[]'::json) FROM ("
                        "SELECT 0 AS t, id, name AS label, 'Area' AS type, level AS kind FROM na"
                        " UNION ALL SELECT 1, id, name, 'Organization', kind FROM no"
                        " UNION ALL SELECT 2, id, name, 'JointMeeting', NULL FROM nm) n)"
                    ),
                )
            )
        elif f.name == "edges":
            edge = _object(
                c,
                f,
                "NetworkEdge",
                {
                    "source": _gid_by_flag("e.s_org", "e.s"),
                    "target": _gid_by_flag("e.t_org", "e.t"),
                    "kind": "e.kind",
                },
            )
            parts.append(
                (
                    f.key,
                    (
                        f"(SELECT coalesce(json_agg({edge} ORDER BY e.s_org, e.s, e.t_org, e.t,"
                        " e.kind COLLATE \"C\"), '[]'::json) FROM ne e)"
                    ),
                )
            )
        elif f.name == "__typename":
            parts.append((f.key, "'Network'"))
        else:
            raise Fallback(f"Network.{f.name}")
    edges = EDGES.replace("{today}", day)
    return f"(WITH {members}, {edges} SELECT {json_object(parts)})"
