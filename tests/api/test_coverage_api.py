"""Query.coverage over HTTP: the report a coordinator sees, refusals, and a report after a change
(made through the API) reflecting it although the loaded region is cached."""

from __future__ import annotations

import asyncio
from typing import Any

from gridweave.db import Sessionmaker
from gridweave.settings import Settings
from tests.coverage_town import make_town
from tests.factories import Api, gid, make_area, make_user, token_for

REPORT = """
query($area: ID!, $codes: [String!], $hops: Int) {
  coverage(areaId: $area, categoryCodes: $codes, maxHops: $hops) {
    area { name }
    asOf
    byCategory { category { code } areasTotal areasCovered householdsUncovered }
    gaps(first: 100) {
      kind severity message
      area { name } category { code } organization { name } suggestions { name }
    }
  }
}
"""
UPDATE = """
mutation($org: ID!, $g1: ID!, $g2: ID!, $g3: ID!) {
  updateOrganization(input: {id: $org, serviceAreas: [
    {areaId: $g1, categoryCodes: ["elderly_care"]},
    {areaId: $g2, categoryCodes: ["elderly_care"]}, {areaId: $g3, categoryCodes: ["elderly_care"]}
  ]}) { userErrors { code message } }
}
"""


async def test_a_coordinator_reads_the_report_and_a_change_shows_in_the_next_one(
    client: object, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    town = await make_town(sessionmaker)
    api = Api(
        client,
        token_for(settings, await make_user(sessionmaker, "COORDINATOR", area=town.community)),
    )  # type: ignore[arg-type]
    area = gid("Area", town.community.id)
    first = (await api.data(REPORT, area=area, codes=["elderly_care"], hops=0))["coverage"]
    assert first["area"]["name"] == town.community.name
    assert first["byCategory"] == [
        {
            "category": {"code": "elderly_care"},
            "areasTotal": 3,
            "areasCovered": 1,
            "householdsUncovered": 200,
        }
    ]
    no_provider = [g for g in first["gaps"] if g["kind"] == "NO_PROVIDER"]
    assert sorted(g["area"]["name"] for g in no_provider) == ["G2", "G3"]
    # suggestions: P serves elderly care one and two hops away
    assert {tuple(s["name"] for s in g["suggestions"]) for g in no_provider} == {("P",)}
    single = next(g for g in first["gaps"] if g["kind"] == "SINGLE_PROVIDER")
    assert (single["area"]["name"], single["organization"]["name"]) == ("G1", "P")
    kinds = {g["kind"] for g in first["gaps"]}
    assert {
        "NO_AGREEMENT",
        "UNENGAGED_UNIT",
        "NO_PARTY_GROUP",
        "OFFICE_SPACE_SHORT",
        "INSUFFICIENT_ACTIVITY",
    } <= kinds
    severities = [g["severity"] for g in first["gaps"]]
    assert severities == sorted(severities, reverse=True)

    # when P starts serving G2 and G3 as well as G1 (through the API)
    changed = await api.data(
        UPDATE,
        org=gid("Organization", town.provider.id),
        g1=gid("Area", town.grids[0].id),
        g2=gid("Area", town.grids[1].id),
        g3=gid("Area", town.grids[2].id),
    )
    assert changed["updateOrganization"]["userErrors"] == []
    # then the next report has no grid without a provider (the change event drops the cache)
    for _ in range(250):
        after = (await api.data(REPORT, area=area, codes=["elderly_care"], hops=0))["coverage"]
        if after["byCategory"][0]["areasCovered"] == 3:
            break
        await asyncio.sleep(0.02)
    assert after["byCategory"][0]["areasCovered"] == 3
    assert not [g for g in after["gaps"] if g["kind"] == "NO_PROVIDER"]


async def test_refusals(client: object, sessionmaker: Sessionmaker, settings: Settings) -> None:
    town = await make_town(sessionmaker)
    area = gid("Area", town.community.id)
    anonymous = await Api(client)(REPORT, area=area)  # type: ignore[arg-type]
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    elsewhere = await make_area(sessionmaker, level="COMMUNITY", parent=town.city)
    outsider = Api(
        client, token_for(settings, await make_user(sessionmaker, "COORDINATOR", area=elsewhere))
    )  # type: ignore[arg-type]
    refused = await outsider(REPORT, area=area)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert refused["data"] is None
    admin = Api(client, token_for(settings, await make_user(sessionmaker, "ADMIN")))  # type: ignore[arg-type]
    too_far = await admin(REPORT, area=area, hops=50)
    assert too_far["errors"][0]["extensions"] == {"code": "VALIDATION", "field": ["maxHops"]}
    unknown = await admin(REPORT, area=area, codes=["nope"])
    assert unknown["errors"][0]["extensions"] == {
        "code": "VALIDATION",
        "field": ["categoryCodes", "0"],
    }
    page = await admin(
        "query($a: ID!) { coverage(areaId: $a) { gaps(first: 101) { kind } } }", a=area
    )
    assert page["errors"][0]["extensions"]["code"] == "PAGE_TOO_LARGE"  # the page-size rule


async def test_the_map_is_served_for_a_bearer_token(
    client: object, sessionmaker: Sessionmaker, settings: Settings
) -> None:
    town = await make_town(sessionmaker)
    c: Any = client
    url = f"/maps/coverage/{gid('Area', town.community.id)}.svg?category=elderly_care&maxHops=0"
    assert (await c.get(url)).status_code == 401
    outsider = await make_user(
        sessionmaker,
        "COORDINATOR",
        area=await make_area(sessionmaker, level="COMMUNITY", parent=town.city),
    )
    refused = await c.get(url, headers={"Authorization": f"Bearer {token_for(settings, outsider)}"})
    assert refused.status_code == 403
    coordinator = await make_user(sessionmaker, "COORDINATOR", area=town.community)
    r = await c.get(url, headers={"Authorization": f"Bearer {token_for(settings, coordinator)}"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("image/svg+xml")
    svg = r.text
    assert svg.startswith("<svg")
    assert "缺口严重度" in svg
    # three grids without boundaries: tiles from the adjacency layout, G1 (served) in the
    # "no gap" colour apart from its single-provider and activity gaps
    assert svg.count("<rect x=") >= 3
    assert "G2: " in svg
    assert "G3: " in svg
    bad = await c.get(
        url.replace("maxHops=0", "maxHops=99"),
        headers={"Authorization": f"Bearer {token_for(settings, coordinator)}"},
    )
    assert bad.status_code == 400
