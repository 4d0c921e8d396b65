"""Small input checks shared by services."""

from __future__ import annotations

from gridweave.errors import ValidationFailed

CREDIT_CODE_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def no_control_characters(value: str, *, field: list[str]) -> str:
    if any((ord(c) < 32 and c not in "\t\n\r") or ord(c) == 127 for c in value):
        raise ValidationFailed("This text contains control characters.", field=field)
    return value


def clean_name(value: str, *, field: list[str], max_length: int = 200) -> str:
    name = " ".join(no_control_characters(value, field=field).split())
    if not name:
        raise ValidationFailed("The name cannot be empty.", field=field)
    if len(name) > max_length:
        raise ValidationFailed(f"The name is longer than {max_length} characters.", field=field)
    return name


def clean_code(value: str | None, *, field: list[str], max_length: int = 64) -> str | None:
    """An optional code: blank means none."""
    if value is None:
        return None
    code = no_control_characters(value, field=field).strip()
    if len(code) > max_length:
        raise ValidationFailed(f"The code is longer than {max_length} characters.", field=field)
    return code or None


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
