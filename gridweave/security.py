"""Password hashing (argon2-cffi) and bearer tokens (PyJWT, HS256). Tokens carry only the user id;
roles are read from the database on every request so that a revoked grant takes effect at once."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from gridweave.settings import Settings

_hasher = PasswordHasher()
_VERIFIED_MAX = 10_000
_verified: dict[tuple[str, str], tuple[int, float]] = {}
_ISSUER = "gridweave"
# A real hash of a random password: verifying against it costs what a real check costs, so an
# unknown email answers in the same time as a wrong password.
DUMMY_HASH = _hasher.hash("gridweave-no-such-user")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def issue_token(settings: Settings, user_id: int, *, now: datetime | None = None) -> str:
    issued = now or datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "iss": _ISSUER,
        "iat": issued,
        "exp": issued + timedelta(seconds=settings.token_ttl_seconds),
    }
    return jwt.encode(claims, settings.signing_key(), algorithm="HS256")


def user_id_from_token(settings: Settings, token: str) -> int | None:
    """The user id of a valid, unexpired token; None for anything else.

    A dashboard sends the same token all day: a verified token is remembered (its expiry is
    checked on every use) so that the HMAC and JSON work is done once per token and process."""
    key = settings.signing_key()
    known = _verified.get((key, token))
    if known is not None:
        user_id, expires = known
        if time.time() < expires:
            return user_id
        _verified.pop((key, token), None)
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=["HS256"],
            issuer=_ISSUER,
            options={"require": ["sub", "exp", "iat"]},
        )
        user_id = int(claims["sub"])
    except (jwt.PyJWTError, ValueError):
        return None
    if len(_verified) >= _VERIFIED_MAX:
        _verified.clear()
    _verified[(key, token)] = (user_id, float(claims["exp"]))
    return user_id


def token_expires_at(settings: Settings, token: str) -> float | None:
    """When a valid token expires (seconds since the epoch); None for an invalid one."""
    if user_id_from_token(settings, token) is None:
        return None
    known = _verified.get((settings.signing_key(), token))
    return known[1] if known else None


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None
