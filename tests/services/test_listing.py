"""Name search: case-insensitive for Latin letters, and exact for Chinese names (where LIKE,
faster, matches what ILIKE would)."""

from __future__ import annotations

import pytest

from gridweave.db import Sessionmaker
from gridweave.services.listing import OrganizationFilter, list_organizations, uncased
from tests.factories import make_area, make_org


@pytest.mark.parametrize(
    ("term", "expected"),
    [("社区", True), ("2026", True), ("阳光2号", True), ("NGO", False), ("阳光ngo", False)],
)
def test_only_chinese_and_digits_count_as_uncased(term: str, expected: bool) -> None:
    assert uncased(term) is expected


async def test_search_ignores_case_in_latin_and_finds_chinese(sessionmaker: Sessionmaker) -> None:
    city = await make_area(sessionmaker, level="CITY")
    sunshine = await make_org(sessionmaker, area=city, name="Sunshine 阳光社工")
    await make_org(sessionmaker, area=city, name="青年志愿服务队")

    async with sessionmaker() as s:
        latin = await list_organizations(
            s, OrganizationFilter(search="sunSHINE"), after_id=0, limit=10
        )
        chinese = await list_organizations(
            s, OrganizationFilter(search="阳光"), after_id=0, limit=10
        )
        neither = await list_organizations(
            s, OrganizationFilter(search="党委"), after_id=0, limit=10
        )

    assert [r.id for r in latin] == [sunshine.id]
    assert [r.id for r in chinese] == [sunshine.id]
    assert neither == []
