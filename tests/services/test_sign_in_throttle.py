"""Sign-in throttling, counted in PostgreSQL by client address and by account: one address
cannot lock an account for everyone, one address cannot go on guessing across accounts, many
addresses together lock an account only for a while, and unknown emails are treated alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from gridweave.db import Sessionmaker
from gridweave.errors import DomainError, ErrorCode
from gridweave.models import SignInThrottle
from gridweave.settings import Settings
from tests.factories import PASSWORD, make_user
from tests.services.test_users import sign_in

ATTACKER = "198.51.100.7"
OWNER = "203.0.113.20"


def limits(settings: Settings, **more: int) -> Settings:
    return settings.model_copy(
        update={
            "login_max_failures": 3,
            "login_account_max_failures": 6,
            "login_address_max_failures": 5,
            "login_lockout_seconds": 60,
            **more,
        }
    )


def code(result: object) -> ErrorCode | None:
    return result.code if isinstance(result, DomainError) else None


async def test_an_attackers_address_does_not_lock_the_owner_out(
    sessionmaker: Sessionmaker, settings: Settings
) -> None:
    # given an account, and the failures allowed from one address
    settings = limits(settings)
    user = await make_user(sessionmaker, "AUDITOR", email="ann@example.org")
    now = datetime.now(UTC)

    # when one address fails on it until it is locked
    for _ in range(3):
        await sign_in(sessionmaker, settings, "ann@example.org", "wrong", now, address=ATTACKER)
    from_attacker = await sign_in(
        sessionmaker, settings, "ann@example.org", PASSWORD, now, address=ATTACKER
    )

    # then that address is told to try again later, even with the right password, while the
    # owner, from another address, signs in at the same moment
    from_owner = await sign_in(
        sessionmaker, settings, "ann@example.org", PASSWORD, now, address=OWNER
    )
    assert code(from_attacker) is ErrorCode.TRY_AGAIN
    assert not isinstance(from_owner, DomainError)
    assert from_owner[1].id == user.id


async def test_one_address_guessing_across_accounts_is_stopped(
    sessionmaker: Sessionmaker, settings: Settings
) -> None:
    # given accounts, and an address that fails once on each of five (known or not)
    settings = limits(settings)
    await make_user(sessionmaker, "AUDITOR", email="ann@example.org")
    now = datetime.now(UTC)
    for i in range(5):
        await sign_in(sessionmaker, settings, f"u{i}@example.org", "wrong", now, address=ATTACKER)

    # when it then tries an account it never tried, then it is refused before any check
    attacker = await sign_in(
        sessionmaker, settings, "ann@example.org", PASSWORD, now, address=ATTACKER
    )
    owner = await sign_in(sessionmaker, settings, "ann@example.org", PASSWORD, now, address=OWNER)

    assert code(attacker) is ErrorCode.TRY_AGAIN
    assert code(owner) is None


async def test_many_addresses_lock_an_account_for_a_while_only(
    sessionmaker: Sessionmaker, settings: Settings
) -> None:
    # given an account failed on from three addresses, twice each (under each one's limit)
    settings = limits(settings)
    await make_user(sessionmaker, "AUDITOR", email="ann@example.org")
    now = datetime.now(UTC)
    for n in range(3):
        for _ in range(2):
            await sign_in(
                sessionmaker, settings, "ann@example.org", "wrong", now, address=f"10.0.0.{n}"
            )

    # then the account is locked from everywhere, the owner included, for the lockout only
    locked = await sign_in(sessionmaker, settings, "ann@example.org", PASSWORD, now, address=OWNER)
    later = await sign_in(
        sessionmaker,
        settings,
        "ann@example.org",
        PASSWORD,
        now + timedelta(seconds=61),
        address=OWNER,
    )
    assert code(locked) is ErrorCode.TRY_AGAIN
    assert code(later) is None


async def test_locked_attempts_are_not_counted_and_old_failures_are_forgotten(
    sessionmaker: Sessionmaker, settings: Settings
) -> None:
    settings = limits(settings, login_failure_window_seconds=120)
    await make_user(sessionmaker, "AUDITOR", email="ann@example.org")
    now = datetime.now(UTC)

    # a locked address keeps trying: those attempts add nothing to the account's count
    for _ in range(3):
        await sign_in(sessionmaker, settings, "ann@example.org", "wrong", now, address=ATTACKER)
    for _ in range(20):
        await sign_in(sessionmaker, settings, "ann@example.org", "wrong", now, address=ATTACKER)
    async with sessionmaker() as s:
        counts = {t.key: t.failures for t in (await s.scalars(select(SignInThrottle))).all()}
    assert sorted(counts.values()) == [0, 3, 3], counts  # pair locked (0), account 3, address 3

    # two failures now, one more after the window: the count started again, nothing is locked
    later = now + timedelta(seconds=121)
    for at in (later, later):
        await sign_in(sessionmaker, settings, "ann@example.org", "wrong", at, address=OWNER)
    await sign_in(
        sessionmaker,
        settings,
        "ann@example.org",
        "wrong",
        later + timedelta(seconds=121),
        address=OWNER,
    )
    right = await sign_in(
        sessionmaker,
        settings,
        "ann@example.org",
        PASSWORD,
        later + timedelta(seconds=121),
        address=OWNER,
    )
    assert code(right) is None


async def test_unknown_emails_are_throttled_exactly_like_known_ones(
    sessionmaker: Sessionmaker, settings: Settings
) -> None:
    settings = limits(settings, login_address_max_failures=100)
    await make_user(sessionmaker, "AUDITOR", email="ann@example.org")
    now = datetime.now(UTC)

    seen: dict[str, list[tuple[ErrorCode | None, str]]] = {}
    for email in ("ann@example.org", "nobody@example.org"):
        seen[email] = []
        for password in ("wrong", "wrong", "wrong", PASSWORD):
            r = await sign_in(sessionmaker, settings, email, password, now, address=ATTACKER)
            assert isinstance(r, DomainError)
            seen[email].append((r.code, r.message))

    assert seen["ann@example.org"] == seen["nobody@example.org"]
    assert seen["ann@example.org"][-1][0] is ErrorCode.TRY_AGAIN
    async with sessionmaker() as s:
        keys = (await s.scalars(select(SignInThrottle.key))).all()
    assert not any("example.org" in k for k in keys), "emails are never stored in clear"
