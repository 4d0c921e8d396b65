"""The GraphiQL page and its assets ship in the package: pinned files matching their manifest,
a licence for each package, served from /static/ in development and not at all in production."""

from __future__ import annotations

import hashlib
import re

import httpx

from gridweave.app import create_app
from gridweave.ops.graphiql import STATIC
from gridweave.settings import Settings
from tests.api.helpers import serve

ASSETS = STATIC / "graphiql"


def manifest() -> list[tuple[str, str, str]]:
    lines = (ASSETS / "MANIFEST").read_text().splitlines()
    rows = [line.split() for line in lines if line and not line.startswith("#")]
    return [(name, digest, spec) for name, digest, spec in rows]


def test_every_asset_matches_its_manifest_and_has_a_licence() -> None:
    entries = manifest()
    assert {name for name, _, _ in entries} == {
        p.name for p in ASSETS.iterdir() if p.suffix in {".js", ".css"}
    }
    for name, digest, spec in entries:
        assert hashlib.sha256((ASSETS / name).read_bytes()).hexdigest() == digest, name
        assert re.fullmatch(r"(@[\w-]+/)?[\w-]+@\d+\.\d+\.\d+", spec), spec
        package = spec.rsplit("@", 1)[0].lstrip("@").replace("/", "_")
        assert (ASSETS / "licenses" / f"{package}.LICENSE").read_text().strip(), package
    assert "graphiql@" in (ASSETS / "NOTICE").read_text()


async def test_the_page_uses_only_this_servers_files(client: httpx.AsyncClient) -> None:
    page = await client.get("/graphql", headers={"accept": "text/html"})

    assert page.status_code == 200
    assert "unpkg" not in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert urls
    for url in urls:
        if url.startswith("data:"):
            continue
        assert url.startswith("/static/"), url
        r = await client.get(url)
        assert r.status_code == 200, url
        assert len(r.content) > 100, url


async def test_production_serves_neither_the_page_nor_its_assets(
    settings: Settings, database_url: str
) -> None:
    prod = settings.model_copy(update={"environment": "production"})
    async with serve(create_app(prod, database_url=database_url)) as c:
        page = await c.get("/graphql", headers={"accept": "text/html"})
        asset = await c.get("/static/graphiql/graphiql.min.js")

    assert "GraphiQL" not in page.text
    assert asset.status_code == 404
