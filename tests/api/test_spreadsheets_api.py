"""Spreadsheets over HTTP: the template, POST /imports with its paged report, the exports (an
export imports again unchanged), who may do what, and ``gridweave import`` on the command line."""

from __future__ import annotations

import io
import os
import sys
import threading
from pathlib import Path
from typing import Any

import anyio
import httpx
import openpyxl
import pytest
from sqlalchemy import select

from gridweave.db import Sessionmaker
from gridweave.models import Area, AuditEntry, Organization
from gridweave.services.import_areas import AreaChecks
from gridweave.settings import Settings
from tests.factories import gid, make_area, make_org, make_user, token_for
from tests.snapshot import snapshot_of
from tests.spreadsheets import headers, sheet_rows, xlsx

TABLES = ("areas", "organizations", "organization_service_areas", "audit_log")


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def post(
    client: httpx.AsyncClient, token: str | None, data: bytes, **params: Any
) -> httpx.Response:
    return await client.post(
        "/imports",
        content=data,
        params={k: str(v) for k, v in params.items()},
        headers=auth(token) if token else {},
    )


@pytest.fixture
async def street(sessionmaker: Sessionmaker) -> Area:
    city = await make_area(sessionmaker, level="CITY", code="C1")
    district = await make_area(sessionmaker, level="DISTRICT", parent=city, code="D1")
    return await make_area(sessionmaker, level="STREET", parent=district, code="S1")


@pytest.fixture
async def coordinator(sessionmaker: Sessionmaker, settings: Settings, street: Area) -> str:
    return token_for(settings, await make_user(sessionmaker, "COORDINATOR", area=street))


async def test_the_template_has_chinese_headers_lists_and_an_example_row(
    client: httpx.AsyncClient, coordinator: str
) -> None:
    r = await client.get("/imports/template.xlsx", headers=auth(coordinator))

    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    wb = openpyxl.load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames[:3] == ["区域", "组织", "服务区域"]
    areas = wb["区域"]
    assert [c.value.rstrip(" *") for c in areas[1]] == headers("areas")
    assert areas["C2"].value == "社区"  # the example row
    assert wb["组织"]["B2"].value == "志愿服务队"
    lists = {
        str(dv.sqref).split(":")[0]: dv.formula1 for dv in areas.data_validations.dataValidation
    }
    assert "C2" in lists
    assert lists["C2"].startswith("选项!")
    options = wb["选项"]
    assert options.sheet_state == "hidden"
    assert "网格" in [c.value for c in options["B"]]
    assert "养老服务" in [c.value for c in options["C"]]
    assert "党组织" in [c.value for c in options["A"]]


async def test_import_dry_run_then_real_run_with_a_paged_report(
    client: httpx.AsyncClient, coordinator: str, sessionmaker: Sessionmaker
) -> None:
    rows = [[f"S1-C{i:02d}", f"社区{i}", "社区", "S1", i] for i in range(1, 8)]
    bad = xlsx(
        areas=[*rows, ["S1-BAD", "坏社区", "网格", "S1"], ["S1-NEG", "负", "社区", "S1", -1]]
    )
    before = await snapshot_of(sessionmaker, TABLES)

    refused = await post(client, coordinator, bad, dryRun="true", name="社区.xlsx")

    assert refused.status_code == 422
    body = refused.json()
    assert body["status"] == "refused"
    assert body["dryRun"] is True
    assert body["summary"]["problems"] == 2
    problems = [
        (x["sheet"], x["row"], x["column"]) for x in body["lines"] if x["outcome"] == "problem"
    ]
    assert problems == [("区域", 9, "C 层级"), ("区域", 10, "E 户数")]
    assert await snapshot_of(sessionmaker, TABLES) == before

    good = xlsx(areas=rows)
    applied = await post(client, coordinator, good, name="社区.xlsx")
    assert applied.status_code == 200, applied.text
    report = applied.json()
    assert report["status"] == "applied"
    assert report["summary"]["counts"]["areas"] == {"created": 7, "updated": 0, "unchanged": 0}
    # paging: three lines at a time, following "next"
    seen: list[dict[str, Any]] = []
    url: str | None = f"/imports/{report['id']}?first=3"
    while url:
        page = (await client.get(url, headers=auth(coordinator))).json()
        assert len(page["lines"]) <= 3
        seen += page["lines"]
        url = page["next"]
    assert [x["row"] for x in seen] == list(range(2, 9))
    assert {x["outcome"] for x in seen} == {"created"}
    async with sessionmaker() as s:
        ids = {gid("Area", a.id) for a in (await s.scalars(select(Area))).all()}
        entries = (await s.scalars(select(AuditEntry))).all()
    assert {x["entityId"] for x in seen} <= ids
    assert [e.action for e in entries] == ["importSpreadsheet"]


async def test_the_server_answers_other_requests_while_an_import_is_checked(
    client: httpx.AsyncClient, coordinator: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A city's file takes seconds of checks: they must not hold the event loop. The area checks
    wait here until another request has been answered, which only a worker thread allows."""
    checking, answered = threading.Event(), threading.Event()
    check_area_rows = AreaChecks.check_area_rows

    def held(self: AreaChecks, sheet: Any) -> None:
        checking.set()
        assert answered.wait(10), "no other request was answered while the checks ran"
        check_area_rows(self, sheet)

    monkeypatch.setattr(AreaChecks, "check_area_rows", held)
    imported: list[httpx.Response] = []

    async def run_import() -> None:
        imported.append(
            await post(client, coordinator, xlsx(areas=[["S1-C01", "社区", "社区", "S1"]]))
        )

    async with anyio.create_task_group() as tg:
        tg.start_soon(run_import)
        assert await anyio.to_thread.run_sync(checking.wait, 10)
        other = await client.get("/imports/template.xlsx", headers=auth(coordinator))
        answered.set()

    assert other.status_code == 200
    assert imported[0].status_code == 200, imported[0].text
    assert imported[0].json()["summary"]["counts"]["areas"]["created"] == 1


async def test_who_may_import_and_read_reports(
    client: httpx.AsyncClient,
    coordinator: str,
    sessionmaker: Sessionmaker,
    settings: Settings,
    street: Area,
) -> None:
    org = await make_org(sessionmaker, area=street)
    member = token_for(
        settings, await make_user(sessionmaker, "ORGANIZATION_MEMBER", organization=org)
    )
    other = token_for(settings, await make_user(sessionmaker, "COORDINATOR", area=street))
    data = xlsx(areas=[["S1-C01", "社区", "社区", "S1"]])

    anonymous = await post(client, None, data, dryRun=1)
    as_member = await post(client, member, data, dryRun=1)
    mine = await post(client, coordinator, data, dryRun=1)

    assert anonymous.status_code == 401
    assert anonymous.json()["errors"][0]["code"] == "UNAUTHENTICATED"
    assert as_member.status_code == 403
    assert mine.status_code == 200
    report = f"/imports/{mine.json()['id']}"
    assert (await client.get(report, headers=auth(coordinator))).status_code == 200
    assert (await client.get(report, headers=auth(other))).status_code == 404
    assert (await client.get(report)).status_code == 401
    assert (await client.get("/exports/areas.xlsx")).status_code == 401
    assert (await client.get("/imports/template.xlsx")).status_code == 401


async def test_an_export_imports_again_unchanged(
    client: httpx.AsyncClient, coordinator: str, sessionmaker: Sessionmaker, street: Area
) -> None:
    from tests.services.test_import_service import good_book

    first = await post(client, coordinator, good_book())
    assert first.status_code == 200, first.text
    # an organization made outside any import, in a community without a credit code parent
    community = await _area(sessionmaker, "S1-C01")
    await make_org(
        sessionmaker, area=community, name="居民议事会", kind="SELF_GOVERNANCE_ORGANIZATION"
    )
    area_param = {"areaId": gid("Area", street.id)}

    orgs = await client.get(
        "/exports/organizations.xlsx", params=area_param, headers=auth(coordinator)
    )
    areas = await client.get("/exports/areas.xlsx", params=area_param, headers=auth(coordinator))

    assert orgs.status_code == 200
    assert areas.status_code == 200
    assert [r[0] for r in sheet_rows(areas.content, "区域")[1:]] == [
        "S1",
        "S1-C01",
        "S1-C01-G01",
        "S1-C01-G02",
    ]
    org_rows = sheet_rows(orgs.content, "组织")[1:]
    assert ("第一网格党支部", "党组织", None, "S1-C01-G01", "阳光社区党委", "S1-C01") in org_rows
    assert len(org_rows) == 5
    assert len(sheet_rows(orgs.content, "服务区域")) == 1 + 4
    before = await snapshot_of(sessionmaker, TABLES)

    again_areas = await post(client, coordinator, areas.content)
    again_orgs = await post(client, coordinator, orgs.content)

    for r in (again_areas, again_orgs):
        assert r.status_code == 200, r.text
        counts = r.json()["summary"]["counts"]
        assert all(
            c.get("created", 0) == 0 and c.get("updated", c.get("changed", 0)) == 0
            for c in counts.values()
        ), counts
    assert await snapshot_of(sessionmaker, TABLES) == before


async def _area(sm: Sessionmaker, code: str) -> Area:
    async with sm() as s:
        area = await s.scalar(select(Area).where(Area.code == code))
    assert area is not None
    return area


async def test_the_command_line_writes_the_template_and_imports(
    sessionmaker: Sessionmaker, database_url: str, street: Area, tmp_path: Path
) -> None:
    env = {**os.environ, "DATABASE_URL": database_url}
    cli = [sys.executable, "-c", "from gridweave.cli import main; main()", "import"]
    template = tmp_path / "模板.xlsx"
    made = await anyio.run_process([*cli, "--template", str(template)], env=env, check=False)
    assert made.returncode == 0, made.stderr.decode()
    assert openpyxl.load_workbook(template).sheetnames[:3] == ["区域", "组织", "服务区域"]
    data = tmp_path / "orgs.xlsx"
    data.write_bytes(xlsx(organizations=[["华阳街道志愿服务队", "志愿服务队", None, None]]))

    dry = await anyio.run_process(
        [*cli, str(data), "--dry-run", "--area", "S1"], env=env, check=False
    )
    real = await anyio.run_process([*cli, str(data), "--area", "S1"], env=env, check=False)
    bad = await anyio.run_process([*cli, str(data)], env=env, check=False)

    assert dry.returncode == 0, dry.stderr.decode()
    assert real.returncode == 0, real.stderr.decode()
    assert bad.returncode == 1
    assert "home area code is required" in bad.stderr.decode()
    async with sessionmaker() as s:
        orgs = (await s.scalars(select(Organization))).all()
        entry = await s.scalar(select(AuditEntry))
    assert [(o.name, o.area_id) for o in orgs] == [("华阳街道志愿服务队", street.id)]
    assert entry is not None
    assert entry.actor_id is None
    assert entry.summary["via"] == "command line"
