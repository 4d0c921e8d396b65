"""Small input checks shared by services."""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from gridweave.errors import ValidationFailed

#: Every date an input may carry lies in this range (asyncpg stores date.max as 'infinity').
MIN_DATE = date(1900, 1, 1)
MAX_DATE = date(2200, 12, 31)

#: Characters that reorder the text around them (Trojan Source, CVE-2021-42574) or mark its
#: direction invisibly: never part of a name, a code or a search.
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
#: Letters and symbols that render as nothing (Hangul fillers, the blank Braille pattern).
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")

CREDIT_CODE_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


#: C0 controls but tab and line breaks, DEL, and the C1 controls (U+0080-U+009F).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_BIDI = re.compile(f"[{''.join(sorted(BIDI_CONTROLS))}]")


def no_control_characters(value: str, *, field: list[str]) -> str:
    if _CONTROL.search(value):
        raise ValidationFailed("This text contains control characters.", field=field)
    if _BIDI.search(value):
        raise ValidationFailed(
            "This text contains a text-direction control character (such as U+202E), which "
            "would show it in another order than it is stored.",
            field=field,
        )
    return value


def visible(c: str) -> bool:
    """False for whitespace, format characters (zero-width space, BOM, word joiner), lone
    combining marks and blank letters."""
    if c.isspace() or c in _BLANK_LETTERS:
        return False
    return unicodedata.category(c) not in ("Cf", "Mn", "Me", "Cc", "Zs", "Zl", "Zp")


def clean_name(value: str, *, field: list[str], max_length: int = 200) -> str:
    """NFC-normalised (one spelling of each accented or composed character), whitespace
    collapsed, invisible characters trimmed from both ends; refused when nothing visible is left
    or when it holds control or text-direction characters."""
    text = unicodedata.normalize("NFC", no_control_characters(value, field=field))
    name = " ".join(text.split())
    if not name:
        raise ValidationFailed("The name cannot be empty.", field=field)
    if not any(visible(c) for c in name):
        raise ValidationFailed(
            "The name is made of invisible characters only: type a visible name.", field=field
        )
    start, end = 0, len(name)
    while unicodedata.category(name[start]) == "Cf":
        start += 1
    while unicodedata.category(name[end - 1]) == "Cf":
        end -= 1
    name = name[start:end].strip()
    if len(name) > max_length:
        raise ValidationFailed(f"The name is longer than {max_length} characters.", field=field)
    return name


def clean_code(value: str | None, *, field: list[str], max_length: int = 64) -> str | None:
    """An optional code: blank means none."""
    if value is None:
        return None
    code = unicodedata.normalize("NFC", no_control_characters(value, field=field)).strip()
    if len(code) > max_length:
        raise ValidationFailed(f"The code is longer than {max_length} characters.", field=field)
    return code or None


def sane_date(value: date | None, *, field: list[str]) -> date | None:
    """Refuses dates outside MIN_DATE..MAX_DATE (the Date scalar refuses them already; this is
    for services called from elsewhere)."""
    if value is not None and not MIN_DATE <= value <= MAX_DATE:
        raise ValidationFailed(
            f"Dates must lie between {MIN_DATE.isoformat()} and {MAX_DATE.isoformat()}.",
            field=field,
        )
    return value


def non_negative(value: int | None, *, field: list[str], label: str) -> int | None:
    if value is not None and value < 0:
        raise ValidationFailed(f"{label} cannot be negative.", field=field)
    return value


def credit_code_check_char(first17: str) -> str:
    """The 18th character of a unified social credit code (GB 32100-2015, mod 31)."""
    total = sum(
        CREDIT_CODE_CHARSET.index(c) * w for c, w in zip(first17, CREDIT_CODE_WEIGHTS, strict=True)
    )
    return CREDIT_CODE_CHARSET[(31 - total % 31) % 31]


def valid_credit_code(code: str, *, field: list[str]) -> str:
    """Normalise and check a unified social credit code; refuse one whose check character fails."""
    value = code.strip().upper()
    if len(value) != 18 or any(c not in CREDIT_CODE_CHARSET for c in value):
        raise ValidationFailed(
            "A unified social credit code has 18 characters: digits and capital letters "
            "other than I, O, S, V and Z.",
            field=field,
        )
    if not value[2:8].isdigit():
        raise ValidationFailed(
            "Characters 3 to 8 of a unified social credit code are the region code (digits).",
            field=field,
        )
    if credit_code_check_char(value[:17]) != value[17]:
        raise ValidationFailed(
            "This unified social credit code fails its check character: please re-check it.",
            field=field,
        )
    return value
