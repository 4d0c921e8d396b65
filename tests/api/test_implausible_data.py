"""Data that should have been refused: dates outside 1900..2200, names that are invisible or
reorder themselves, counts that contradict each other, and a building (or community, grid,
courtyard) at the top of the tree. Each refusal writes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from gridweave.db import Sessionmaker
from gridweave.models import Area
from gridweave.settings import Settings
from tests.api.helpers import Refusal, assert_refused, call
from tests.factories import Api, gid, make_area, make_org, make_user, token_for

LINK = "mutation($i: LinkOrganizationsInput!) { linkOrganizations(input: $i) { link { since } userErrors { code } } }"


@pytest.fixture
async def admin(client: Any, sessionmaker: Sessionmaker, settings: Settings) -> Api:
    return Api(client, token_for(settings, await make_user(sessionmaker, "ADMIN")))


@pytest.mark.parametrize("since", ["9999-12-31", "0001-01-01", "1899-12-31", "2201-01-01"])
async def test_dates_outside_1900_to_2200_are_refused(
    admin: Api, sessionmaker: Sessionmaker, since: str
) -> None:
    city = await make_area(sessionmaker, level="CITY")
    a, b = await make_org(sessionmaker, area=city), await make_org(sessionmaker, area=city)
    link = {
        "kind": "PARTNERS",
        "sourceId": gid("Organization", a.id),
        "targetId": gid("Organization", b.id),
    }

    as_variable = await admin(LINK, i={**link, "since": since})
    as_literal = await admin(
        "mutation { linkOrganizations(input: {kind: PARTNERS, "
        f'sourceId: "{link["sourceId"]}", targetId: "{link["targetId"]}", since: "{since}"}})'
        " { link { since } } }"
    )
    kept = await admin.data(LINK, i={**link, "since": "2200-12-31"})

    for body in (as_variable, as_literal):
        assert body["data"] is None
        assert "Dates must lie between 1900-01-01 and 2200-12-31" in body["errors"][0]["message"]
    assert kept["linkOrganizations"]["link"] == {"since": "2200-12-31"}


AREA = "area { id name households population }"


@pytest.mark.parametrize(
    "name",
    [
        "\u200b\ufeff\u2060",
        "\u3164",
        "阳光\u202e社区",
        "阳光\u2066社区",
        "阳光\u0085社区",
        "\u200f",
    ],
    ids=["zero-width", "hangul-filler", "bidi-override", "bidi-isolate", "c1-control", "rtl-mark"],
)
async def test_invisible_names_and_direction_controls_are_refused(
    admin: Api, sessionmaker: Sessionmaker, name: str
) -> None:
    city = await make_area(sessionmaker, level="CITY")
    grid_input = {"name": name, "level": "DISTRICT", "parentId": gid("Area", city.id)}

    await assert_refused(
        sessionmaker,
        "createArea",
        "CreateAreaInput",
        "area",
        Refusal(admin, grid_input, "VALIDATION", ["input", "name"]),
    )
    await assert_refused(
        sessionmaker,
        "updateArea",
        "UpdateAreaInput",
        "area",
        Refusal(admin, {"id": gid("Area", city.id), "name": name}, "VALIDATION", ["input", "name"]),
    )


async def test_names_are_stored_in_nfc_without_invisible_edges(
    admin: Api, sessionmaker: Sessionmaker
) -> None:
    city = await make_area(sessionmaker, level="CITY")

    created = await call(
        admin,
        "createArea",
        "CreateAreaInput",
        AREA,
        name="\ufeffCafe\u0301 社区\u200b",
        level="DISTRICT",
        parentId=gid("Area", city.id),
    )

    assert created["area"]["name"] == "Café 社区"
    assert len(created["area"]["name"]) == 7


@pytest.mark.parametrize(
    ("counts", "field"),
    [
        ({"households": 2_147_483_647, "population": 0}, ["input", "households"]),
        ({"households": 10, "population": 100_000_001}, ["input", "population"]),
        (
            {
                "households": 10,
                "population": 30,
                "vulnerableGroups": [
                    {"group": "LEFT_BEHIND_CHILDREN", "count": 3},
                    {"group": "ELDERLY_LIVING_ALONE", "count": 11},
                ],
            },
            ["input", "vulnerableGroups", "1", "count"],
        ),
        (
            {
                "households": 10,
                "population": 30,
                "vulnerableGroups": [{"group": "MOBILE_POPULATION", "count": 31}],
            },
            ["input", "vulnerableGroups", "0", "count"],
        ),
        (
            {
                "households": 10,
                "population": 30,
                "vulnerableGroups": [{"group": "HARDSHIP_HOUSEHOLDS", "count": 11}],
            },
            ["input", "vulnerableGroups", "0", "count"],
        ),
    ],
    ids=[
        "households-over-population",
        "population-huge",
        "elderly-over-households",
        "mobile-over-population",
        "hardship-over-households",
    ],
)
async def test_counts_must_be_plausible_against_each_other(
    admin: Api, sessionmaker: Sessionmaker, counts: dict[str, Any], field: list[str]
) -> None:
    city = await make_area(sessionmaker, level="CITY")
    new = {"name": "新区", "level": "DISTRICT", "parentId": gid("Area", city.id), **counts}

    await assert_refused(
        sessionmaker,
        "createArea",
        "CreateAreaInput",
        "area",
        Refusal(admin, new, "VALIDATION", field),
    )


async def test_an_update_is_checked_against_the_counts_it_leaves_alone(
    admin: Api, sessionmaker: Sessionmaker
) -> None:
    city = await make_area(sessionmaker, level="CITY", households=100)  # population 300

    await assert_refused(
        sessionmaker,
        "updateArea",
        "UpdateAreaInput",
        "area",
        Refusal(
            admin,
            {"id": gid("Area", city.id), "population": 99},
            "VALIDATION",
            ["input", "population"],
        ),
        Refusal(
            admin,
            {"id": gid("Area", city.id), "households": 301},
            "VALIDATION",
            ["input", "households"],
        ),
    )
    fine = await call(
        admin, "updateArea", "UpdateAreaInput", AREA, id=gid("Area", city.id), households=300
    )
    assert fine["area"]["households"] == 300


@pytest.mark.parametrize("level", ["COMMUNITY", "GRID", "COURTYARD", "BUILDING"])
async def test_only_a_city_district_or_street_may_be_a_root(
    admin: Api, sessionmaker: Sessionmaker, level: str
) -> None:
    await assert_refused(
        sessionmaker,
        "createArea",
        "CreateAreaInput",
        "area",
        Refusal(admin, {"name": "孤楼", "level": level}, "VALIDATION", ["input", "parentId"]),
    )


async def test_a_street_may_be_a_root(admin: Api, sessionmaker: Sessionmaker) -> None:
    created = await call(
        admin,
        "createArea",
        "CreateAreaInput",
        "area { level parent { id } }",
        name="华阳街道",
        level="STREET",
    )

    assert created["area"] == {"level": "STREET", "parent": None}
    async with sessionmaker() as s:
        assert await s.get(Area, 1) is not None
