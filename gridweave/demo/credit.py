"""Unified social credit codes (统一社会信用代码, GB 32100-2015) for demo organizations.

Layout: registration department and organization type (2 characters), the administrative
division code (6 digits), the organization code (8 characters and its GB 11714 check
character), and the GB 32100 check character.
"""

from __future__ import annotations

import random

from gridweave.services.validation import CREDIT_CODE_CHARSET, credit_code_check_char

ORG_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
LETTERS = "ABCDEFGHJKLMNPQRTUWXY"


def org_code_check_char(body: str) -> str:
    """The 9th character of an organization code (GB 11714-1997, mod 11)."""
    total = sum(int(c, 36) * w for c, w in zip(body, ORG_CODE_WEIGHTS, strict=True))
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


class CreditCodes:
    """Draws distinct valid codes from one random stream."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._issued: set[str] = set()

    def _body(self, kind: str) -> str:
        rng = self._rng
        if kind[0] == "9":  # market entities registered since 2015 carry an 'MA' code
            return "MA" + "".join(rng.choice("0123456789" + LETTERS) for _ in range(6))
        return "".join(rng.choice("0123456789") for _ in range(8))

    def issue(self, kind: str, region: str) -> str:
        while True:
            body = self._body(kind)
            first17 = f"{kind}{region}{body}{org_code_check_char(body)}"
            code = first17 + credit_code_check_char(first17)
            if code not in self._issued:
                self._issued.add(code)
                return code


def is_valid(code: str) -> bool:
    return (
        len(code) == 18
        and all(c in CREDIT_CODE_CHARSET for c in code)
        and code[2:8].isdigit()
        and credit_code_check_char(code[:17]) == code[17]
    )
