"""Reading workbooks: the row numbers and column letters Excel shows, and every cell's text as
openpyxl has always given it (calamine reads the workbook; a workbook with error values is read by
openpyxl, which keeps them as text). No database."""

from __future__ import annotations

import io
import zipfile
from datetime import date

import openpyxl
import xlsxwriter

from gridweave.services.sheets import (
    ORGANIZATION_SHEET,
    Book,
    _openpyxl_sheets,
    _read_sheets,
    read_file,
)

HEADERS = [c.header for c in ORGANIZATION_SHEET.columns]


def messy_workbook() -> bytes:
    """Headers from column B, blank rows, merged cells, cells of every type Excel keeps (text
    with leading zeros, numbers, numbers stored as text, dates, booleans, a formula's value),
    and a chart sheet whose title names a kind too."""
    out = io.BytesIO()
    wb = xlsxwriter.Workbook(out)
    wb.add_worksheet("说明")
    chart = wb.add_chart({"type": "column"})
    chart.add_series({"values": "=组织!$C$5:$C$5"})
    wb.add_chartsheet("Organizations").set_chart(chart)
    ws = wb.add_worksheet("组织")
    ws.write_row(0, 1, [f"{h} *" if i < 2 else h for i, h in enumerate(HEADERS)])
    day = wb.add_format({"num_format": "yyyy-mm-dd"})
    ws.write_row(2, 1, ["  阳光社区党委 ", "党组织", "0012", "510115001001", None, "007"])
    ws.write_number(3, 1, 12.0)
    ws.write_number(3, 2, 1.5)
    ws.write_number(3, 4, 510115001001)
    ws.write_boolean(3, 5, True)
    ws.write_datetime(3, 6, date(2024, 1, 2), day)
    ws.merge_range(5, 1, 5, 3, "合并单元格")
    ws.write_formula(6, 4, "=1+1", None, 2)
    wb.close()
    return out.getvalue()


def test_rows_and_columns_are_numbered_as_excel_shows_them() -> None:
    book = read_file(messy_workbook(), name="x.xlsx")

    assert book.problems == []
    sheet = book.sheets["organizations"]
    assert sheet.letters == ("B", "C", "D", "E", "F", "G")
    assert sheet.cell("area_code") == "E 所在区域编码"
    assert sheet.rows == [
        (3, ("阳光社区党委", "党组织", "0012", "510115001001", None, "007")),
        (4, ("12", "1.5", None, "510115001001", "1", "2024-01-02 00:00:00")),
        (6, ("合并单元格", None, None, None, None, None)),
        (7, (None, None, None, "2", None, None)),
    ]


def test_calamine_reads_every_cell_as_openpyxl_did() -> None:
    data = messy_workbook()
    by_openpyxl = Book("x.xlsx")
    _read_sheets(by_openpyxl, _openpyxl_sheets(data), None)

    book = read_file(data, name="x.xlsx")

    assert book.sheets["organizations"].rows == by_openpyxl.sheets["organizations"].rows
    assert book.sheets["organizations"].letters == by_openpyxl.sheets["organizations"].letters


def test_error_values_are_read_as_their_text_not_as_blanks() -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "组织"
    ws.append(HEADERS)
    ws.append(["阳光社区党委", "党组织", "CODE", "S1", "PARENT"])
    out = io.BytesIO()
    wb.save(out)
    data = _with_cells(out.getvalue(), {"C2": "#N/A", "E2": "#REF!"})

    book = read_file(data, name="x.xlsx")

    assert book.sheets["organizations"].rows == [
        (2, ("阳光社区党委", "党组织", "#N/A", "S1", "#REF!", None))
    ]


def test_a_broken_workbook_is_one_problem() -> None:
    good = messy_workbook()
    broken = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as src, zipfile.ZipFile(broken, "w") as dst:
        for item in src.infolist():
            if item.filename != "xl/workbook.xml":
                dst.writestr(item, src.read(item.filename))

    book = read_file(broken.getvalue(), name="x.xlsx")

    assert book.sheets == {}
    assert [(p.sheet, p.row) for p in book.problems] == [("x.xlsx", 0)]
    assert "not a readable .xlsx" in book.problems[0].message


def test_a_date_alone_reads_as_midnight() -> None:
    out = io.BytesIO()
    wb = xlsxwriter.Workbook(out)
    ws = wb.add_worksheet("组织")
    ws.write_row(0, 0, HEADERS)
    ws.write_datetime(1, 0, date(2025, 3, 4), wb.add_format({"num_format": "yyyy年m月d日"}))
    wb.close()

    book = read_file(out.getvalue(), name="x.xlsx")

    assert book.sheets["organizations"].rows[0][1][0] == "2025-03-04 00:00:00"


def _with_cells(data: bytes, errors: dict[str, str]) -> bytes:
    """The workbook with those cells of its first sheet turned into Excel error values."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            body = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                text = body.decode()
                for ref, value in errors.items():
                    start = text.index(f'<c r="{ref}"')
                    end = text.index("</c>", start) + len("</c>")
                    text = text[:start] + f'<c r="{ref}" t="e"><v>{value}</v></c>' + text[end:]
                body = text.encode()
            dst.writestr(item, body)
    return out.getvalue()


def test_the_headers_are_row_1_even_below_a_blank_one() -> None:
    """Row numbers stay Excel's: a blank first row is not skipped to find the headers."""
    out = io.BytesIO()
    wb = xlsxwriter.Workbook(out)
    ws = wb.add_worksheet("组织")
    ws.write_row(1, 0, HEADERS)
    ws.write_row(2, 0, ["阳光社区党委", "党组织", None, "S1"])
    wb.close()
    by_openpyxl = Book("x.xlsx")
    _read_sheets(by_openpyxl, _openpyxl_sheets(out.getvalue()), None)

    book = read_file(out.getvalue(), name="x.xlsx")

    assert [(p.sheet, p.row, p.column) for p in book.problems] == [("组织", 1, None)]
    assert "Missing column" in book.problems[0].message
    assert book.problems == by_openpyxl.problems
