"""The spreadsheet layout shared by the template, the exports and the import: one sheet per kind,
Chinese headers, Chinese labels for kinds and levels; and reading .xlsx and .csv files into rows.

Pure: no database. Reading yields every cell as stripped text (or None), with the row number Excel
shows, so that every problem can be reported at the cell a coordinator will look at."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from python_calamine import CalamineError, CalamineWorkbook, SheetTypeEnum

from gridweave.models import AreaLevel, OrganizationKind

AREAS, ORGANIZATIONS, SERVICE_AREAS = "areas", "organizations", "service_areas"
MAX_ROWS = 1_000_000  # per file: a workbook is read row by row, but its rows are kept
MAX_COLUMNS = 30

KIND_LABELS: dict[OrganizationKind, str] = {
    OrganizationKind.PARTY_ORGANIZATION: "党组织",
    OrganizationKind.MASS_ORGANIZATION: "群团组织",
    OrganizationKind.SOCIAL_ORGANIZATION: "社会组织",
    OrganizationKind.VOLUNTEER_TEAM: "志愿服务队",
    OrganizationKind.CO_RESIDENT_UNIT: "驻区单位",
    OrganizationKind.SELF_GOVERNANCE_ORGANIZATION: "自治组织",
    OrganizationKind.ECONOMIC_ORGANIZATION: "经济组织",
    OrganizationKind.SERVICE_CENTER: "服务中心",
    OrganizationKind.GOVERNMENT_DEPARTMENT: "政府部门",
}
KIND_ALIASES = {
    "共驻单位": OrganizationKind.CO_RESIDENT_UNIT,
    "志愿者队伍": OrganizationKind.VOLUNTEER_TEAM,
}

LEVEL_LABELS: dict[AreaLevel, str] = {
    AreaLevel.CITY: "市",
    AreaLevel.DISTRICT: "区县",
    AreaLevel.STREET: "街道",
    AreaLevel.COMMUNITY: "社区",
    AreaLevel.GRID: "网格",
    AreaLevel.COURTYARD: "院落",
    AreaLevel.BUILDING: "楼栋",
}
LEVEL_ALIASES = {
    "区": AreaLevel.DISTRICT,
    "县": AreaLevel.DISTRICT,
    "区/县": AreaLevel.DISTRICT,
    "乡镇": AreaLevel.STREET,
    "乡": AreaLevel.STREET,
    "镇": AreaLevel.STREET,
    "街道/乡镇": AreaLevel.STREET,
    "村": AreaLevel.COMMUNITY,
    "社区/村": AreaLevel.COMMUNITY,
    "小区": AreaLevel.COURTYARD,
    "院落/小区": AreaLevel.COURTYARD,
    "楼": AreaLevel.BUILDING,
}
CATEGORY_SEPARATORS = "、,，;；/|"


def parse_kind(value: str) -> OrganizationKind | None:
    for kind, label in KIND_LABELS.items():
        if value == label:
            return kind
    return KIND_ALIASES.get(value) or OrganizationKind.__members__.get(value.upper())


def parse_level(value: str) -> AreaLevel | None:
    for level, label in LEVEL_LABELS.items():
        if value == label:
            return level
    return LEVEL_ALIASES.get(value) or AreaLevel.__members__.get(value.upper())


def split_categories(value: str) -> list[str]:
    for sep in CATEGORY_SEPARATORS:
        value = value.replace(sep, " ")
    return value.split()


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    header: str
    english: str
    required: bool = False
    choices: str | None = None  # "kind", "level" or "category": a drop-down list in the template
    width: int = 14
    note: str = ""


@dataclass(frozen=True, slots=True)
class SheetSpec:
    kind: str
    title: str
    english: str
    columns: tuple[Column, ...]
    example: tuple[str | int | None, ...]

    def index(self, key: str) -> int:
        return next(i for i, c in enumerate(self.columns) if c.key == key)


COUNT_COLUMNS = (
    ("households", "户数", "Households"),
    ("population", "人口", "Population"),
    ("elderly_living_alone", "独居老人", "Elderly living alone"),
    ("left_behind_children", "留守儿童", "Left-behind children"),
    ("disabled_households", "残疾家庭", "Disabled households"),
    ("hardship_households", "困难群众", "Hardship households"),
    ("mobile_population", "流动人口", "Mobile population"),
)

AREA_SHEET = SheetSpec(
    AREAS,
    "区域",
    "Areas",
    (
        Column("code", "区域编码", "Code", True, width=22, note="matches an existing area"),
        Column("name", "区域名称", "Name", True, width=24),
        Column("level", "层级", "Level", True, "level", width=10),
        Column("parent_code", "上级区域编码", "Parent code", width=22, note="blank: top level"),
        *(Column(key, header, english, width=10) for key, header, english in COUNT_COLUMNS),
    ),
    ("510115001001", "示例社区", "社区", "510115001", 1200, 3500, 35, 12, 8, 20, 300),
)
ORGANIZATION_SHEET = SheetSpec(
    ORGANIZATIONS,
    "组织",
    "Organizations",
    (
        Column("name", "组织名称", "Name", True, width=30),
        Column("kind", "组织类型", "Kind", True, "kind", width=14),
        Column("credit_code", "统一社会信用代码", "Credit code", width=22),
        Column("area_code", "所在区域编码", "Home area code", True, width=22),
        Column("parent", "上级组织", "Parent", width=30, note="name or credit code"),
        Column("parent_area_code", "上级组织所在区域编码", "Parent home area code", width=22),
    ),
    ("示例社区志愿服务队", "志愿服务队", None, "510115001001", "示例社区党委", "510115001001"),
)
SERVICE_SHEET = SheetSpec(
    SERVICE_AREAS,
    "服务区域",
    "Service areas",
    (
        Column("name", "组织名称", "Name", True, width=30),
        Column("area_code", "所在区域编码", "Home area code", width=22),
        Column("credit_code", "统一社会信用代码", "Credit code", width=22),
        Column("served_code", "服务区域编码", "Served area code", True, width=22),
        Column("categories", "服务类别", "Categories", True, "category", width=16),
    ),
    ("示例社区志愿服务队", "510115001001", None, "510115001001", "养老服务"),
)
SHEETS = (AREA_SHEET, ORGANIZATION_SHEET, SERVICE_SHEET)
SHEET_BY_KIND = {s.kind: s for s in SHEETS}


def column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


@dataclass(frozen=True, slots=True)
class Problem:
    sheet: str
    row: int
    column: str | None  # "C 层级": the letter Excel shows and the header
    message: str


@dataclass(slots=True)
class SheetRows:
    """One sheet's data rows; each row is (Excel row number, one value per spec column)."""

    spec: SheetSpec
    title: str
    rows: list[tuple[int, tuple[str | None, ...]]] = field(default_factory=list)
    letters: tuple[str | None, ...] = ()  # where each spec column is in the file (None: absent)

    def cell(self, key: str) -> str:
        i = self.spec.index(key)
        letter = self.letters[i] if self.letters else None
        return f"{letter or '?'} {self.spec.columns[i].header}"


@dataclass(slots=True)
class Book:
    name: str
    sheets: dict[str, SheetRows] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def row_count(self) -> int:
        return sum(len(s.rows) for s in self.sheets.values())


Progress = Callable[[str, int], None]  # (what, rows done so far)


def _norm_header(value: Any) -> str:
    text = "" if value is None else str(value)
    for mark in ("*", "＊", "（必填）", "(必填)"):
        text = text.replace(mark, "")
    return "".join(text.split()).lower()


def _cell_text(value: Any) -> str | None:
    if type(value) is str:
        return value.strip() or None
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if type(value) is date:  # calamine's date alone, as openpyxl's datetime at midnight
        return f"{value.isoformat()} 00:00:00"
    text = str(value).strip()
    return text or None


def _sheet_for_title(title: str) -> SheetSpec | None:
    key = _norm_header(title)
    for spec in SHEETS:
        if key in (_norm_header(spec.title), _norm_header(spec.english), spec.kind):
            return spec
    return None


def _sheet_for_headers(headers: Sequence[Any]) -> SheetSpec | None:
    names = {_norm_header(h) for h in headers}
    for spec in (SERVICE_SHEET, ORGANIZATION_SHEET, AREA_SHEET):
        required = {c for c in spec.columns if c.required}
        if all(
            _norm_header(c.header) in names or _norm_header(c.english) in names for c in required
        ):
            return spec
    return None


def _read_rows(
    book: Book,
    spec: SheetSpec,
    title: str,
    rows: Iterator[Sequence[Any]],
    progress: Progress | None,
) -> None:
    header = next(rows, None)
    if header is None:
        return
    positions: dict[str, int] = {}
    for i, h in enumerate(header[:MAX_COLUMNS]):
        name = _norm_header(h)
        for c in spec.columns:
            if name in (_norm_header(c.header), _norm_header(c.english), c.key):
                positions.setdefault(c.key, i)
    sheet = SheetRows(spec, title)
    sheet.letters = tuple(
        column_letter(positions[c.key]) if c.key in positions else None for c in spec.columns
    )
    missing = [c.header for c in spec.columns if c.required and c.key not in positions]
    if missing:
        book.problems.append(
            Problem(title, 1, None, f"Missing column(s): {', '.join(missing)} (缺少必填列).")
        )
        return
    book.sheets[spec.kind] = sheet
    take = [positions.get(c.key, MAX_COLUMNS) for c in spec.columns]  # MAX_COLUMNS: absent
    pad = (None,) * (MAX_COLUMNS + 1)
    room = MAX_ROWS - book.row_count
    texts: dict[str, str] = {}
    for n, raw in enumerate(rows, start=2):
        padded = (*raw, *pad)
        # Text cells (nearly all) are stripped inline, and one object is kept per distinct text
        # (as openpyxl's shared strings do): a city's file has over a million cells.
        values = tuple(
            [
                (texts.setdefault(t, t) if (t := v.strip()) else None)
                if type(v := padded[i]) is str
                else _cell_text(v)
                for i in take
            ]
        )
        if not any(values):
            continue
        if len(sheet.rows) >= room:
            book.problems.append(
                Problem(title, n, None, f"More than {MAX_ROWS:,} rows: split the file.")
            )
            return
        sheet.rows.append((n, values))
        if progress and n % 2_000 == 0:
            progress(title, n - 1)
    if progress:
        progress(title, len(sheet.rows))


def read_xlsx(data: bytes, *, name: str, progress: Progress | None = None) -> Book:
    """Every worksheet whose title names a kind (区域, 组织, 服务区域, or the English titles)."""
    book = Book(name)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if "xl/workbook.xml" not in archive.namelist():
                raise zipfile.BadZipFile("no xl/workbook.xml")
            errors = _has_error_cells(archive)
        _read_sheets(book, _openpyxl_sheets(data) if errors else _calamine_sheets(data), progress)
    except (zipfile.BadZipFile, KeyError, IndexError, OSError, ValueError, CalamineError) as e:
        book.sheets.clear()
        book.problems.append(Problem(name, 0, None, f"This is not a readable .xlsx file ({e})."))
        return book
    if not book.sheets and not book.problems:
        titles = "、".join(s.title for s in SHEETS)
        book.problems.append(Problem(name, 0, None, f"No sheet named {titles} in this workbook."))
    return book


Sheets = Iterator[tuple[str, Iterator[Sequence[Any]]]]  # (title, its rows from row 1)


def _read_sheets(book: Book, sheets: Sheets, progress: Progress | None) -> None:
    for title, rows in sheets:
        spec = _sheet_for_title(title)
        if spec is not None and spec.kind not in book.sheets:
            _read_rows(book, spec, title, rows, progress)


_ERROR_MARKS = (b't="e"', b"t='e'")


def _has_error_cells(archive: zipfile.ZipFile) -> bool:
    """Whether a worksheet holds an error value (#N/A, #DIV/0!...). calamine reads those as empty
    cells, which would let a failed lookup pass for a blank; openpyxl reads them as their text."""
    for info in archive.infolist():
        if not (info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml")):
            continue
        tail = b""
        with archive.open(info) as f:
            while chunk := f.read(1 << 20):
                window = tail + chunk
                if any(mark in window for mark in _ERROR_MARKS):
                    return True
                tail = window[-8:]
    return False


def _calamine_sheets(data: bytes) -> Sheets:
    """The worksheets through calamine (Rust; ~8x faster than openpyxl's read-only mode)."""
    book = CalamineWorkbook.from_filelike(io.BytesIO(data))
    try:
        for meta in book.sheets_metadata:
            if meta.typ == SheetTypeEnum.WorkSheet:
                yield meta.name, _calamine_rows(book, meta.name)
    finally:
        book.close()


def _calamine_rows(book: CalamineWorkbook, title: str) -> Iterator[Sequence[Any]]:
    """Row by row from row 1, each padded from column A (calamine's rows start at the first
    column holding a value), so that every row number and column letter is the one Excel shows;
    tests/services/test_sheet_reading.py holds calamine to both."""
    sheet = book.get_sheet_by_name(title)
    pad = [""] * sheet.start[1] if sheet.start else []
    for row in sheet.iter_rows():
        yield pad + row if pad else row


def _openpyxl_sheets(data: bytes) -> Sheets:
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        for ws in book.worksheets:
            yield ws.title, ws.iter_rows(values_only=True, max_col=MAX_COLUMNS)
    finally:
        book.close()


def decode_csv(data: bytes) -> str:
    """UTF-8 (with or without the BOM Excel writes), UTF-16 with a BOM, else GB18030: the
    superset of GBK and GB2312 that Chinese Excel uses for "CSV (逗号分隔)"."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("gb18030", errors="replace")


def read_csv(data: bytes, *, name: str, progress: Progress | None = None) -> Book:
    """One sheet, its kind told by its headers."""
    book = Book(name)
    text = decode_csv(data)
    try:
        dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",\t;")
    except csv.Error:
        dialect = csv.excel
    rows = csv.reader(io.StringIO(text, newline=""), dialect)
    first = next(rows, None)
    if first is None:
        book.problems.append(Problem(name, 0, None, "The file is empty."))
        return book
    spec = _sheet_for_headers(first)
    if spec is None:
        book.problems.append(
            Problem(name, 1, None, "The headers match none of the template's sheets.")
        )
        return book

    def all_rows() -> Iterator[Sequence[Any]]:
        yield first
        yield from rows

    _read_rows(book, spec, spec.title, all_rows(), progress)
    return book


def read_file(data: bytes, *, name: str, progress: Progress | None = None) -> Book:
    """An .xlsx workbook (told by its zip signature, whatever its name) or a CSV file."""
    if data[:4] == b"PK\x03\x04":
        return read_xlsx(data, name=name, progress=progress)
    return read_csv(data, name=name, progress=progress)
