"""Spreadsheet imports: check every row first, then write everything in the caller's transaction
(or nothing: one problem anywhere refuses the whole file).

Matching (what makes a second import of the same file change nothing):
- an area matches the stored area with the same code (codes are required on the area sheet);
- an organization matches by unified social credit code, else by name within its home area;
- an organization listed on the service sheet gets exactly the (area, category) pairs listed for
  it; one the sheet does not list keeps its own.
A blank cell leaves the stored value as it is. The checks are the services' own: names, codes and
counts through ``services/validation.py``, levels under parents through ``services/areas.py``,
parent and service-area reach through ``services/organizations.py``, scope through
``services/access.py``. The database is read in a few set-based queries, never once per row; the
checks between them are pure Python over every row and run in a worker thread, so that a server
importing a city's file goes on answering.

The checks of each sheet: ``import_areas``, ``import_orgs``, ``import_service``; what they work on
and produce: ``import_plan``; the writes: ``import_writes``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import anyio
from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.models import Role
from gridweave.services.access import Actor, require_role
from gridweave.services.import_areas import AreaChecks, area_codes, load_areas
from gridweave.services.import_orgs import load_orgs, load_stored_parents, org_refs
from gridweave.services.import_plan import Plan, Progress
from gridweave.services.import_service import ServiceChecks, load_categories, load_stored_pairs
from gridweave.services.sheets import AREAS, ORGANIZATIONS, SERVICE_AREAS, Book, Problem

T = TypeVar("T")


async def driver(session: AsyncSession) -> Any:
    """The session's asyncpg connection, for set-based reads and COPY."""
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    return raw.driver_connection


async def off_loop(fn: Callable[..., T], *args: Any) -> T:
    return await anyio.to_thread.run_sync(fn, *args)


class Checker(AreaChecks, ServiceChecks):
    """Every sheet's checks over one file, in the order they depend on each other."""

    def __init__(self, actor: Actor, book: Book, progress: Progress | None) -> None:
        super().__init__(actor, book)
        self.book = book
        self.progress = progress
        self.done = 0

    def tick(self, sheet: Any) -> None:
        self.done += len(sheet.rows)
        if self.progress:
            self.progress("check", self.done, self.book.row_count)

    def areas_then_refs(self) -> tuple[set[str], set[tuple[int, str]], set[str]]:
        """The area sheet, then what the file says about organizations (to load them)."""
        if (sheet := self.book.sheets.get(AREAS)) is not None:
            self.check_area_rows(sheet)
            self.tick(sheet)
        return org_refs(self, self.book)

    def organizations(self) -> list[int]:
        """The organization sheet but its loops; returns where the loop check starts."""
        sheet = self.book.sheets.get(ORGANIZATIONS)
        if sheet is None:
            return []
        self.check_parents(sheet, self.check_org_rows(sheet))
        return self.loop_starts()

    def loops(self, stored_parent: dict[int, int | None]) -> None:
        if (sheet := self.book.sheets.get(ORGANIZATIONS)) is not None:
            self.check_loops(sheet, stored_parent)
            self.tick(sheet)

    def service(self, categories: dict[str, int]) -> None:
        if (sheet := self.book.sheets.get(SERVICE_AREAS)) is not None:
            self.check_service_rows(sheet, categories)
            self.tick(sheet)

    def sort_problems(self) -> None:
        titles = [s.title for s in self.book.sheets.values()]
        order = {t: i for i, t in enumerate(titles)}
        self.problems.sort(key=lambda p: (order.get(p.sheet, -1), p.row))


async def check_book(
    session: AsyncSession,
    *,
    actor: Actor | None,
    book: Book,
    area_code: str | None = None,
    progress: Progress | None = None,
) -> Plan:
    """Every check of every row, reading the database in a few set-based queries; writes
    nothing. The plan's problems list is empty when the file may be written as it is."""
    actor = require_role(actor, Role.COORDINATOR)
    checker = Checker(actor, book, progress)
    plan = checker.plan
    plan.problems.extend(book.problems)
    apg = await driver(session)
    checker.areas.update(await load_areas(apg, await off_loop(area_codes, book, area_code)))
    if area_code:
        plan.scope = checker.areas.get(area_code)
        if plan.scope is None:
            plan.problems.append(Problem(book.name, 0, None, f"Unknown area code {area_code}."))
            return plan
        if not actor.coordinates(plan.scope.path):
            plan.problems.append(
                Problem(book.name, 0, None, f"You do not coordinate the area {area_code}.")
            )
            return plan
    codes, pairs, names = await off_loop(checker.areas_then_refs)
    checker.stored_orgs = await load_orgs(apg, codes, pairs, names)
    starts = await off_loop(checker.organizations)
    await off_loop(checker.loops, await load_stored_parents(apg, starts))
    if SERVICE_AREAS in book.sheets:
        await off_loop(checker.service, await load_categories(apg))
        await load_stored_pairs(apg, plan)
    await off_loop(checker.sort_problems)
    return plan
