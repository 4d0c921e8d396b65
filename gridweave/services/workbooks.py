"""Writing the template and the exports (xlsxwriter, with shared strings as Excel writes them):
the same sheets, headers and drop-down lists, so that an export can be edited and imported."""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import xlsxwriter

from gridweave.services.sheets import (
    KIND_LABELS,
    LEVEL_LABELS,
    SHEETS,
    SheetSpec,
)

LAST_ROW = 1_048_575  # Excel's last row (0-based)
OPTIONS = "选项"

INSTRUCTIONS = (
    ("gridweave 导入模板 / import template", True),
    ("", False),
    ("1. 每类数据一张表：区域、组织、服务区域。表头不要改；带 * 的列必填。", False),
    ("   One sheet per kind: areas, organizations, service areas. Keep the headers.", False),
    ("   Columns marked * are required.", False),
    ("2. 第 2 行是示例，导入前请替换或删除。Row 2 is an example: replace or delete it.", False),
    ("3. 区域按“区域编码”匹配：已有编码则更新名称和数量，否则新建。", False),
    (
        "   Areas match by code: an existing code is updated (name, counts), a new one is created.",
        False,
    ),
    ("4. 组织按统一社会信用代码匹配，没有代码时按“所在区域 + 组织名称”匹配。", False),
    ("   Organizations match by credit code, else by name within their home area.", False),
    ("5. 服务区域表列出的组织，其服务区域以本表为准；未列出的组织保持不变。", False),
    ("   An organization listed on the service sheet gets exactly the rows listed for it.", False),
    ("6. 空白单元格表示“不修改”。A blank cell leaves the stored value as it is.", False),
    ("7. 先试运行（--dry-run）：所有问题按表、行、列列出，一个问题都不写入。", False),
    (
        "   Dry-run first: every problem is listed by sheet, row and column; nothing is written.",
        False,
    ),
)


def _sheet(
    wb: Any,
    spec: SheetSpec,
    rows: Iterable[Sequence[Any]],
    choices: Mapping[str, str],
    formats: Mapping[str, Any],
) -> None:
    ws = wb.add_worksheet(spec.title)
    ws.freeze_panes(1, 0)
    for i, col in enumerate(spec.columns):
        header = col.header + (" *" if col.required else "")
        ws.write_string(0, i, header, formats["required" if col.required else "header"])
        ws.set_column(i, i, col.width, formats["text"])
        if col.choices:
            ws.data_validation(
                1,
                i,
                LAST_ROW,
                i,
                {
                    "validate": "list",
                    "source": choices[col.choices],  # a range of the hidden 选项 sheet
                    # several categories in one cell (养老服务、医疗健康) are accepted too
                    "error_type": "warning" if col.choices == "category" else "stop",
                    "error_message": "请从下拉列表中选择。Pick a value from the list.",
                },
            )
    for r, row in enumerate(rows, start=1):
        for i, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, int):
                ws.write_number(r, i, value)
            else:
                ws.write_string(r, i, str(value))


def write_workbook(
    *,
    categories: Sequence[str],
    rows: Mapping[str, Iterable[Sequence[Any]]] | None = None,
    example: bool = False,
) -> bytes:
    """The template (``example=True``: one example row per sheet) or an export (``rows`` per
    sheet kind; kinds without rows get their headers only)."""
    out = io.BytesIO()
    # Not constant_memory: that mode writes every string inline, which readers (openpyxl among
    # them) parse several times slower than the shared strings Excel itself writes.
    wb = xlsxwriter.Workbook(out, {"in_memory": False})
    formats = {
        "header": wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1}),
        "required": wb.add_format(
            {"bold": True, "bg_color": "#FCE4D6", "border": 1, "font_color": "#9C0006"}
        ),
        "text": wb.add_format({"num_format": "@"}),
    }
    lists = {
        "kind": list(KIND_LABELS.values()),
        "level": list(LEVEL_LABELS.values()),
        "category": list(categories),
    }
    # Lists in cells, not inline: Excel caps an inline list at 255 characters.
    choices = {
        key: f"={OPTIONS}!${chr(65 + i)}$2:${chr(65 + i)}${len(values) + 1}"
        for i, (key, values) in enumerate(lists.items())
    }
    for spec in SHEETS:
        sheet_rows: Iterable[Sequence[Any]] = (rows or {}).get(spec.kind, ())
        if example:
            sheet_rows = [spec.example]
        _sheet(wb, spec, sheet_rows, choices, formats)
    notes = wb.add_worksheet("说明")
    notes.set_column(0, 0, 100)
    bold = wb.add_format({"bold": True})
    for r, (line, strong) in enumerate(INSTRUCTIONS):
        notes.write_string(r, 0, line, bold if strong else None)
    options = wb.add_worksheet(OPTIONS)
    for i, key in enumerate(lists):
        options.write_string(0, i, key)
    for r in range(max(len(v) for v in lists.values())):
        for i, values in enumerate(lists.values()):
            if r < len(values):
                options.write_string(r + 1, i, values[r])
    options.hide()
    wb.close()
    return out.getvalue()
