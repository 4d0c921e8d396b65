"""A page of areas with their children, organizations and service areas costs the same number of
SQL statements for 5 areas as for 50: every relation is batched (DataLoaders on the strawberry
path, one statement on the compiled read path)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, text

from gridweave.app import create_app
from gridweave.db import Sessionmaker, unit_of_work
from gridweave.settings import Settings
from tests.api.helpers import serve
from tests.factories import Api, make_user, token_for

QUERY = """
{ areas(level: COMMUNITY, first: 50) { edges { node {
    name
    children { totalCount }
    organizations { edges { node { name serviceAreas { area { name } } } } }
} } } }
"""


async def make_communities(sm: Sessionmaker, n: int) -> None:
    """``n`` communities, each with two grids and two organizations (one in the community, one in
    its first grid), each organization serving both grids in two categories."""
    async with unit_of_work(sm) as s:
        street = await s.scalar(
            text(
                "INSERT INTO areas (id, name, level, path, households, population,"
                " elderly_living_alone, left_behind_children, disabled_households,"
                " hardship_households, mobile_population)"
                " SELECT id, '街道', 'STREET', '/' || id || '/', 0, 0, 0, 0, 0, 0, 0"
                " FROM (SELECT nextval('areas_id_seq') AS id) x RETURNING id"
            )
        )
        categories = (
            await s.scalars(text("SELECT id FROM service_categories ORDER BY id LIMIT 2"))
        ).all()
        for i in range(n):
            ids = []
            for level, parent, name in (
                ("COMMUNITY", street, f"社区{i}"),
                ("GRID", None, f"社区{i}一网格"),
                ("GRID", None, f"社区{i}二网格"),
            ):
                parent_id = parent if parent is not None else ids[0]
                parent_path = await s.scalar(
                    text("SELECT path FROM areas WHERE id = :p"), {"p": parent_id}
                )
                ids.append(
                    await s.scalar(
                        text(
                            "INSERT INTO areas (id, name, level, parent_id, path, households, population,"
                            " elderly_living_alone, left_behind_children, disabled_households,"
                            " hardship_households, mobile_population)"
                            " SELECT id, :name, :level, :parent, :ppath || id || '/', 10, 30, 0, 0, 0, 0, 0"
                            " FROM (SELECT nextval('areas_id_seq') AS id) x RETURNING id"
                        ),
                        {"name": name, "level": level, "parent": parent_id, "ppath": parent_path},
                    )
                )
            community, grid1, grid2 = ids
            for home in (community, grid1):
                org = await s.scalar(
                    text(
                        "INSERT INTO organizations (name, kind, area_id, area_path)"
                        " SELECT :name, 'SOCIAL_ORGANIZATION', id, path FROM areas WHERE id = :a"
                        " RETURNING id"
                    ),
                    {"name": f"组织{home}", "a": home},
                )
                for area in (grid1, grid2):
                    for category in categories:
                        await s.execute(
                            text("INSERT INTO organization_service_areas VALUES (:o, :a, :c)"),
                            {"o": org, "a": area, "c": category},
                        )


async def statements_for_query(
    settings: Settings, database_url: str, token: str, *, compiled: bool
) -> tuple[int, dict[str, Any]]:
    """Runs QUERY once to warm up, then again while counting the statements the app sends to
    PostgreSQL: through SQLAlchemy's engine, plus the one driver-level statement of each request
    the compiled read path answers."""
    app = create_app(
        settings.model_copy(update={"compiled_reads": compiled}), database_url=database_url
    )
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    async with serve(app) as c:
        api = Api(c, token)
        await api.data(QUERY)
        compiled_reads = getattr(app.state, "compiled_reads", None)
        answered_before = compiled_reads.answered if compiled_reads else 0
        engine = app.state.engine.sync_engine
        event.listen(engine, "before_cursor_execute", count)
        try:
            data = await api.data(QUERY)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        answered = (compiled_reads.answered if compiled_reads else 0) - answered_before
    assert answered == (1 if compiled else 0), "the request took an unexpected read path"
    return len(statements) + answered, data


@pytest.mark.parametrize("compiled", [False, True], ids=["strawberry", "compiled"])
async def test_statement_count_does_not_grow_with_the_page(
    sessionmaker: Sessionmaker, settings: Settings, database_url: str, compiled: bool
) -> None:
    user = await make_user(sessionmaker, "COORDINATOR")
    token = token_for(settings, user)

    # given 5 communities
    await make_communities(sessionmaker, 5)
    small, small_data = await statements_for_query(settings, database_url, token, compiled=compiled)

    # and then 45 more (50 in all)
    await make_communities(sessionmaker, 45)
    large, large_data = await statements_for_query(settings, database_url, token, compiled=compiled)

    # then both pages came back whole
    for data, n in ((small_data, 5), (large_data, 50)):
        nodes = [e["node"] for e in data["areas"]["edges"]]
        assert len(nodes) == n
        assert all(node["children"]["totalCount"] == 2 for node in nodes)
        orgs = [o["node"] for node in nodes for o in node["organizations"]["edges"]]
        assert len(orgs) == 2 * n
        assert all(len(o["serviceAreas"]) == 2 for o in orgs)
        assert all(sa["area"]["name"].endswith("网格") for o in orgs for sa in o["serviceAreas"])
    # and ten times the areas cost no more statements
    assert small == large, f"5 areas: {small} statements, 50 areas: {large} statements"
    assert large <= 8, f"5 areas: {small} statements, 50 areas: {large} statements"
