"""Async factories: committed rows for tests, made through the ORM (not through the API), and the
Actor of a new user, as the services see their caller."""

from __future__ import annotations

import itertools
from typing import Any

import asyncpg
import httpx
from sqlalchemy import select, text

from gridweave.db import Sessionmaker, asyncpg_dsn, unit_of_work
from gridweave.ids import encode_id
from gridweave.models import Area, Organization, Role, RoleGrant, ServiceCategory, User
from gridweave.security import hash_password, issue_token
from gridweave.services.access import Actor, Grant
from gridweave.settings import Settings

_seq = itertools.count(1)
PASSWORD = "correct horse battery staple"
_HASH = hash_password(PASSWORD)

NEXT_LEVEL = {
    "CITY": "DISTRICT",
    "DISTRICT": "STREET",
    "STREET": "COMMUNITY",
    "COMMUNITY": "GRID",
    "GRID": "COURTYARD",
    "COURTYARD": "BUILDING",
}


async def make_area(
    sm: Sessionmaker,
    *,
    level: str = "CITY",
    parent: Area | None = None,
    name: str | None = None,
    households: int = 100,
    **extra: Any,
) -> Area:
    async with unit_of_work(sm) as s:
        new_id = int(await s.scalar(text("SELECT nextval('areas_id_seq')")) or 0)
        area = Area(
            id=new_id,
            name=name or f"区域{next(_seq)}",
            level=level,
            parent_id=parent.id if parent else None,
            path=f"{parent.path if parent else '/'}{new_id}/",
            households=households,
            population=households * 3,
            elderly_living_alone=0,
            left_behind_children=0,
            disabled_households=0,
            hardship_households=0,
            mobile_population=0,
            **extra,
        )
        s.add(area)
    return area


async def make_chain(sm: Sessionmaker, *levels: str) -> list[Area]:
    """A branch of the tree, e.g. make_chain(sm, "CITY", "DISTRICT", "STREET")."""
    chain: list[Area] = []
    for level in levels:
        chain.append(await make_area(sm, level=level, parent=chain[-1] if chain else None))
    return chain


async def make_org(
    sm: Sessionmaker,
    *,
    area: Area,
    kind: str = "SOCIAL_ORGANIZATION",
    name: str | None = None,
    parent: Organization | None = None,
    serves: dict[int, list[str]] | None = None,
) -> Organization:
    async with unit_of_work(sm) as s:
        org = Organization(
            name=name or f"组织{next(_seq)}",
            kind=kind,
            area_id=area.id,
            area_path=area.path,
            parent_id=parent.id if parent else None,
        )
        s.add(org)
        await s.flush()
        for area_id, codes in (serves or {}).items():
            for code in codes:
                cat = await s.scalar(select(ServiceCategory.id).where(ServiceCategory.code == code))
                await s.execute(
                    text("INSERT INTO organization_service_areas VALUES (:o, :a, :c)"),
                    {"o": org.id, "a": area_id, "c": cat},
                )
    return org


async def make_user(
    sm: Sessionmaker,
    role: str | None = "ADMIN",
    *,
    area: Area | None = None,
    organization: Organization | None = None,
    email: str | None = None,
) -> User:
    """A user holding ``role`` (limited to ``area`` or ``organization``); no grant at all when
    ``role`` is None."""
    async with unit_of_work(sm) as s:
        user = User(
            email=email or f"user{next(_seq)}@example.org",
            display_name="测试用户",
            password_hash=_HASH,
        )
        s.add(user)
        await s.flush()
        if role is None:
            return user
        s.add(
            RoleGrant(
                user_id=user.id,
                role=Role(role).value,
                area_id=area.id if area else None,
                organization_id=organization.id if organization else None,
            )
        )
    return user


async def admin_actor(sm: Sessionmaker) -> Actor:
    """A new ADMIN, as the services see them."""
    user = await make_user(sm, "ADMIN")
    return Actor(user.id, (Grant(Role.ADMIN),))


async def coordinator_of(sm: Sessionmaker, area: Area) -> Actor:
    """A new COORDINATOR of ``area`` (and all below it), as the services see them."""
    user = await make_user(sm, "COORDINATOR", area=area)
    return Actor(user.id, (Grant(Role.COORDINATOR, area.id, area.path),))


async def member_of(sm: Sessionmaker, org: Organization) -> Actor:
    """A new ORGANIZATION_MEMBER of ``org``, as the services see them."""
    user = await make_user(sm, "ORGANIZATION_MEMBER", organization=org)
    return Actor(user.id, (Grant(Role.ORGANIZATION_MEMBER, organization_id=org.id),))


async def edit_ledger_behind_its_back(database_url: str, statement: str, *args: Any) -> None:
    """Runs ``statement`` on audit_log straight through the driver, with the trigger that keeps the
    ledger append-only switched off for it: the tampering the hash chain is there to reveal."""
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        await conn.execute(statement, *args)
        await conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
    finally:
        await conn.close()


def token_for(settings: Settings, user: User) -> str:
    return issue_token(settings, user.id)


def gid(type_name: str, pk: int) -> str:
    return encode_id(type_name, pk)


class Api:
    """Posts GraphQL over HTTP as one user (or anonymously)."""

    def __init__(self, client: httpx.AsyncClient, token: str | None = None) -> None:
        self.client = client
        self.token = token

    async def __call__(self, query: str, **variables: Any) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        r = await self.client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    async def data(self, query: str, **variables: Any) -> dict[str, Any]:
        body = await self(query, **variables)
        assert "errors" not in body, body["errors"]
        result: dict[str, Any] = body["data"]
        return result
