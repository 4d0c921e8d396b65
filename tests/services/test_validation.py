"""The shared input checks: names, counts and unified social credit codes (GB 32100-2015)."""

from __future__ import annotations

import pytest

from gridweave.errors import ErrorCode, ValidationFailed
from gridweave.services.validation import (
    clean_name,
    credit_code_check_char,
    non_negative,
    valid_credit_code,
)

FIELD = ["input", "creditCode"]

# Published codes: the standard's own example, Tencent, Huawei and Alibaba.
PUBLISHED = ["91350100M000100Y43", "9144030071526726XG", "914403001922038216", "91330100799655058B"]


@pytest.mark.parametrize("code", PUBLISHED)
def test_check_character_of_published_codes(code: str) -> None:
    assert credit_code_check_char(code[:17]) == code[17]


@pytest.mark.parametrize("code", PUBLISHED)
def test_published_codes_are_accepted_and_normalised(code: str) -> None:
    assert valid_credit_code(f"  {code.lower()} ", field=FIELD) == code


@pytest.mark.parametrize("code", PUBLISHED)
def test_every_single_character_typo_in_the_body_is_caught(code: str) -> None:
    # given each position of the first 17 replaced by another allowed character
    for i in range(17):
        replacement = "1" if code[i] != "1" else "2"
        typo = code[:i] + replacement + code[i + 1 :]
        if not typo[2:8].isdigit():
            continue
        # then the check character no longer matches
        with pytest.raises(ValidationFailed) as caught:
            valid_credit_code(typo, field=FIELD)
        assert caught.value.field == FIELD


def test_wrong_check_character_is_refused_with_a_plain_message() -> None:
    with pytest.raises(ValidationFailed) as caught:
        valid_credit_code("91350100M000100Y44", field=FIELD)

    assert caught.value.code is ErrorCode.VALIDATION
    assert caught.value.field == FIELD
    assert "check character" in caught.value.message


@pytest.mark.parametrize(
    ("code", "says"),
    [
        ("91350100M000100Y4", "18 characters"),  # too short
        ("91350100M000100Y433", "18 characters"),  # too long
        ("91350100M00O100Y43", "18 characters"),  # the letter O is not allowed
        ("913501I0M000100Y43", "18 characters"),  # nor I
        ("9135A100M000100Y43", "region code"),  # characters 3-8 are digits
    ],
)
def test_malformed_codes_say_what_is_wrong(code: str, says: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        valid_credit_code(code, field=FIELD)

    assert says in caught.value.message
    assert caught.value.field == FIELD


def test_clean_name_collapses_whitespace() -> None:
    assert clean_name("  阳光\u3000 社区\n居委会 ", field=["input", "name"]) == "阳光 社区 居委会"


@pytest.mark.parametrize("blank", ["", "   ", "\t\n", "\u3000"])
def test_blank_name_is_refused(blank: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        clean_name(blank, field=["input", "name"])

    assert caught.value.field == ["input", "name"]


def test_overlong_name_is_refused_with_the_limit() -> None:
    assert clean_name("名" * 200, field=["x"]) == "名" * 200
    with pytest.raises(ValidationFailed) as caught:
        clean_name("名" * 201, field=["input", "name"])

    assert "200" in caught.value.message


def test_non_negative_passes_zero_and_none_and_refuses_below_zero() -> None:
    assert non_negative(0, field=["f"], label="Households") == 0
    assert non_negative(None, field=["f"], label="Households") is None
    with pytest.raises(ValidationFailed) as caught:
        non_negative(-1, field=["input", "households"], label="Households")

    assert caught.value.field == ["input", "households"]
    assert caught.value.message.startswith("Households")
