"""Workbooks and CSV files built the way a coordinator's Excel writes them, and an import run in a
unit of work of its own (committed only when it applied)."""

from __future__ import annotations

import csv
import io
from typing import Any

import openpyxl

from gridweave.db import Sessionmaker
from gridweave.services.access import Actor
from gridweave.services.import_plan import ImportResult
from gridweave.services.import_writes import run_import
from gridweave.services.sheets import SHEET_BY_KIND, read_file


def headers(kind: str) -> list[str]:
    return [c.header for c in SHEET_BY_KIND[kind].columns]


def xlsx(**sheets: list[list[Any]]) -> bytes:
    """A workbook with one sheet per keyword (areas, organizations, service_areas): the
    template's headers, then the rows."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for kind, rows in sheets.items():
        ws = wb.create_sheet(SHEET_BY_KIND[kind].title)
        ws.append(headers(kind))
        for row in rows:
            ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def csv_bytes(kind: str, rows: list[list[Any]], *, encoding: str = "utf-8-sig") -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(headers(kind))
    w.writerows(rows)
    return out.getvalue().encode(encoding)


async def import_file(
    sm: Sessionmaker,
    actor: Actor | None,
    data: bytes,
    *,
    dry_run: bool = False,
    area_code: str | None = None,
    name: str = "test.xlsx",
) -> ImportResult:
    book = read_file(data, name=name)
    async with sm() as session:
        result = await run_import(
            session, actor=actor, book=book, dry_run=dry_run, area_code=area_code
        )
        if result.status == "applied":
            await session.commit()
        else:
            await session.rollback()
    return result


def problems(result: ImportResult) -> list[tuple[str, int, str | None]]:
    return [(p.sheet, p.row, p.column) for p in result.problems]


def sheet_rows(data: bytes, title: str) -> list[tuple[Any, ...]]:
    wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    try:
        return [tuple(r) for r in wb[title].iter_rows(values_only=True)]
    finally:
        wb.close()
