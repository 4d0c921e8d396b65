"""The write half of a spreadsheet import: a checked plan written set-based (ids from the
sequences, new rows by COPY, changed rows by one UPDATE ... FROM unnest per table), then one
ledger entry for the batch. Nothing here commits: the caller's unit of work does, or rolls back."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gridweave.models import Role
from gridweave.services import audit
from gridweave.services.access import Actor, Grant
from gridweave.services.import_plan import (
    COUNT_KEYS,
    AreaNode,
    ImportResult,
    OrgNode,
    Outcome,
    Plan,
    Progress,
)
from gridweave.services.imports import check_book, driver, off_loop
from gridweave.services.organizations import HIERARCHY_LOCK
from gridweave.services.sheets import AREA_SHEET, ORGANIZATION_SHEET, SERVICE_SHEET, Book

# The command line without --user: whoever may open the database may change all of it. The
# ledger records such a batch without a user (``"via": "command line"``).
OPERATOR = Actor(user_id=0, grants=(Grant(Role.ADMIN),))
CHUNK = 50_000


async def run_import(
    session: AsyncSession,
    *,
    actor: Actor | None,
    book: Book,
    dry_run: bool,
    area_code: str | None = None,
    progress: Progress | None = None,
) -> ImportResult:
    """Check the whole file; unless it is a dry run and when nothing is wrong, write it all."""
    plan = await check_book(session, actor=actor, book=book, area_code=area_code, progress=progress)
    pairs = await off_loop(_service_changes, plan)
    if plan.problems:
        status = "refused"
    elif dry_run:
        status = "checked"
    else:
        status = "applied"
        await _write(session, plan, pairs, progress)
        await _record(session, actor, plan, pairs)
    outcomes, counts = await off_loop(_outcomes, plan, pairs)
    return ImportResult(book.name, dry_run, status, plan.problems, outcomes, counts)


Pairs = dict[OrgNode, tuple[set[tuple[AreaNode, int]], set[tuple[int, int]]]]


def _service_changes(plan: Plan) -> Pairs:
    """Per organization on the service sheet: the pairs to add and the stored pairs to remove."""
    out: Pairs = {}
    for org, wanted in plan.service.items():
        stored = plan.stored_pairs.get(org.id, set()) if org.id is not None else set()
        if not stored:
            out[org] = (set(wanted), set())
            continue
        keep = {(a.id, c) for a, c in wanted if a.id is not None}
        add = {(a, c) for a, c in wanted if a.id is None or (a.id, c) not in stored}
        out[org] = (add, stored - keep)
    return out


async def _ids(apg: Any, table: str, n: int) -> list[int]:
    if n == 0:
        return []
    rows = await apg.fetch(
        "SELECT nextval(pg_get_serial_sequence($1, 'id')) FROM generate_series(1, $2)", table, n
    )
    return sorted(int(r[0]) for r in rows)


async def _copy(
    apg: Any, table: str, columns: Sequence[str], records: list[tuple[Any, ...]]
) -> None:
    for i in range(0, len(records), CHUNK):
        await apg.copy_records_to_table(table, records=records[i : i + CHUNK], columns=columns)


def _parents_first(nodes: Iterable[Any]) -> list[Any]:
    """New nodes ordered so that a new parent comes before its children."""
    ordered: list[Any] = []
    done: set[int] = set()
    for node in nodes:
        chain = []
        current = node
        while current is not None and current.new and id(current) not in done:
            chain.append(current)
            done.add(id(current))
            current = current.parent
        ordered.extend(reversed(chain))
    return ordered


async def _write(
    session: AsyncSession, plan: Plan, pairs: Pairs, progress: Progress | None
) -> None:
    apg = await driver(session)
    total = len(plan.areas) + len(plan.orgs) + sum(len(a) + len(r) for a, r in pairs.values())
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress("write", done, total)

    if any(o.parent is not None for o in plan.orgs):
        await apg.execute("SELECT pg_advisory_xact_lock($1)", HIERARCHY_LOCK)
    await _write_areas(apg, plan.areas)
    tick(len(plan.areas))
    await _write_orgs(apg, plan.orgs)
    tick(len(plan.orgs))
    tick(await _write_service(apg, pairs))


async def _write_areas(apg: Any, areas: list[AreaNode]) -> None:
    new = _parents_first(a for a in areas if a.new)
    for node, new_id in zip(new, await _ids(apg, "areas", len(new)), strict=True):
        node.id, node.created = new_id, True
        node.path = f"{node.parent.path if node.parent else '/'}{new_id}/"
    records = [
        (
            a.id,
            a.name,
            a.code,
            a.level.value if a.level else None,
            a.parent.id if a.parent else None,
            a.path,
            *(a.counts.get(k, 0) for k in COUNT_KEYS),
        )
        for a in new
    ]
    columns = ("id", "name", "code", "level", "parent_id", "path", *COUNT_KEYS)
    await _copy(apg, "areas", columns, records)
    changed = [a for a in areas if not a.new and a.changes]
    if changed:
        sets = ", ".join(f"{k} = coalesce(t.{k}, a.{k})" for k in ("name", *COUNT_KEYS))
        await apg.execute(
            f"UPDATE areas a SET {sets} FROM unnest($1::bigint[], $2::text[], "
            + ", ".join(f"${i + 3}::int[]" for i in range(len(COUNT_KEYS)))
            + f") AS t(id, name, {', '.join(COUNT_KEYS)}) WHERE a.id = t.id",
            [a.id for a in changed],
            [a.changes.get("name") for a in changed],
            *([a.changes.get(k) for a in changed] for k in COUNT_KEYS),
        )


async def _write_orgs(apg: Any, orgs: list[OrgNode]) -> None:
    new = await off_loop(_parents_first, (o for o in orgs if o.new))
    for org, new_id in zip(new, await _ids(apg, "organizations", len(new)), strict=True):
        org.id, org.created = new_id, True
    records = await off_loop(_org_records, new)
    columns = ("id", "name", "kind", "credit_code", "area_id", "area_path", "parent_id")
    await _copy(apg, "organizations", columns, records)
    changed = [o for o in orgs if not o.new and o.changes]
    if changed:
        await apg.execute(
            "UPDATE organizations o SET name = coalesce(t.name, o.name),"
            " kind = coalesce(t.kind, o.kind),"
            " credit_code = coalesce(t.credit_code, o.credit_code),"
            " parent_id = coalesce(t.parent_id, o.parent_id)"
            " FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[])"
            " AS t(id, name, kind, credit_code, parent_id) WHERE o.id = t.id",
            [o.id for o in changed],
            [o.changes.get("name") for o in changed],
            [o.changes.get("kind") for o in changed],
            [o.changes.get("credit_code") for o in changed],
            [_id(o.changes.get("parent_id")) for o in changed],
        )


def _org_records(new: list[OrgNode]) -> list[tuple[Any, ...]]:
    return [
        (o.id, o.name, o.kind, o.credit_code, o.area.id, o.area.path, _id(o.parent)) for o in new
    ]


async def _write_service(apg: Any, pairs: Pairs) -> int:
    """Removes and adds (area, category) rows; returns how many."""
    removed, added = await off_loop(_pair_records, pairs)
    if removed:
        await apg.execute(
            "DELETE FROM organization_service_areas s"
            " USING unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS t(o, a, c)"
            " WHERE s.organization_id = t.o AND s.area_id = t.a AND s.category_id = t.c",
            [r[0] for r in removed],
            [r[1] for r in removed],
            [r[2] for r in removed],
        )
    columns = ("organization_id", "area_id", "category_id")
    await _copy(apg, "organization_service_areas", columns, added)
    return len(added) + len(removed)


def _pair_records(pairs: Pairs) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    removed = [(o.id, a, c) for o, (_, gone) in pairs.items() for a, c in gone]
    added = [(o.id, a.id, c) for o, (add, _) in pairs.items() for a, c in add]
    return removed, added


def _id(node: OrgNode | None) -> int | None:
    return node.id if node is not None else None


def _common_path(paths: Iterable[str]) -> str | None:
    """The deepest area path above every one of ``paths`` (None: nothing, or several roots)."""
    common: list[str] | None = None
    for path in paths:
        parts = path.strip("/").split("/")
        if common is None:
            common = parts
        else:
            n = 0
            while n < min(len(common), len(parts)) and common[n] == parts[n]:
                n += 1
            common = common[:n]
    return "/" + "/".join(common) + "/" if common else None


async def _record(session: AsyncSession, actor: Actor | None, plan: Plan, pairs: Pairs) -> None:
    """One ledger entry for the batch: counts, and the ids of every row created or changed."""
    summary, area_path = await off_loop(_summary, plan, pairs)
    if summary is None:
        return  # a second import of the same file: nothing changed, nothing to record
    if actor is OPERATOR:
        summary["via"] = "command line"
    await audit.record(
        session,
        None if actor is OPERATOR else actor,
        "importSpreadsheet",
        None,
        summary,
        area_path=area_path,
    )


def _summary(plan: Plan, pairs: Pairs) -> tuple[dict[str, Any] | None, str | None]:
    """The ledger entry's summary (None when nothing changed) and the area it is filed under."""
    summary: dict[str, Any] = {"file": plan.book.name}
    touched: list[str] = []
    for key, nodes in (("areas", plan.areas), ("organizations", plan.orgs)):
        created = [n for n in nodes if _was_new(n)]
        updated = [n for n in nodes if not _was_new(n) and n.changes]
        summary[key] = {
            "created": len(created),
            "updated": len(updated),
            "created_ids": [n.id for n in created],
            "updated_ids": [n.id for n in updated],
        }
        touched += [n.path if isinstance(n, AreaNode) else n.area.path for n in created + updated]
    changed = {o: v for o, v in pairs.items() if v[0] or v[1]}
    summary["service_areas"] = {
        "organizations": len(changed),
        "added": sum(len(a) for a, _ in changed.values()),
        "removed": sum(len(r) for _, r in changed.values()),
        "organization_ids": [o.id for o in changed],
    }
    touched += [o.area.path for o in changed]
    if not touched:
        return None, None
    return summary, plan.scope.path if plan.scope else _common_path(touched)


def _was_new(node: AreaNode | OrgNode) -> bool:
    return node.created or node.new


def _outcomes(plan: Plan, pairs: Pairs) -> tuple[list[Outcome], dict[str, dict[str, int]]]:
    outcomes: list[Outcome] = []
    counts: dict[str, dict[str, int]] = {}
    for spec, type_name, nodes in (
        (AREA_SHEET, "Area", plan.areas),
        (ORGANIZATION_SHEET, "Organization", plan.orgs),
    ):
        sheet = plan.book.sheets.get(spec.kind)
        tally = {"created": 0, "updated": 0, "unchanged": 0}
        for node in nodes:
            service = pairs.get(node) if isinstance(node, OrgNode) else None
            if _was_new(node):
                what = "created"
            elif node.changes or (service and (service[0] or service[1])):
                what = "updated"
            else:
                what = "unchanged"
            tally[what] += 1
            entity = f"{type_name}:{node.id}" if node.id is not None else None
            outcomes.append(
                Outcome(sheet.title if sheet else spec.title, node.line or 0, what, entity)
            )
        if sheet is not None:
            counts[spec.kind] = tally
    sheet = plan.book.sheets.get(SERVICE_SHEET.kind)
    if sheet is not None:
        tally = {"organizations": 0, "changed": 0, "added": 0, "removed": 0}
        for org, (add, gone) in pairs.items():
            tally["organizations"] += 1
            tally["added"] += len(add)
            tally["removed"] += len(gone)
            what = "updated" if add or gone else "unchanged"
            tally["changed"] += what == "updated"
            entity = f"Organization:{org.id}" if org.id is not None else None
            outcomes.append(Outcome(sheet.title, plan.service_lines.get(org, 0), what, entity))
        counts[SERVICE_SHEET.kind] = tally
    titles = [s.title for s in plan.book.sheets.values()]
    outcomes.sort(
        key=lambda o: (titles.index(o.sheet) if o.sheet in titles else len(titles), o.row)
    )
    return outcomes, counts
