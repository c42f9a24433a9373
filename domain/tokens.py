"""Bearer tokens and passwords.

A token is an HS256 JWT naming a session row (sid) and its user (sub), with an expiry.
It is valid only while it verifies, has not expired, and its session exists unrevoked:
the signature check is pure (here); the session check needs the database (queries).
"""

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

ALGORITHM = "HS256"
# Deliberately cheap: login is part of the load mix and must not be a password-hashing
# benchmark. The cost is identical in every stage.
PASSWORD_ITERATIONS = 1_000


class InvalidToken(Exception):
    """Missing, malformed, tampered or expired token."""


@dataclass(frozen=True)
class TokenClaims:
    session_id: str
    user_id: int


def new_session_id() -> str:
    return uuid.uuid4().hex


def issue_token(secret: str, session_id: str, user_id: int, expires_at: datetime) -> str:
    claims = {"sid": session_id, "sub": str(user_id), "exp": expires_at}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def session_expiry(ttl_seconds: int, now: datetime | None = None) -> datetime:
    return (now or datetime.now(UTC)) + timedelta(seconds=ttl_seconds)


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header value."""
    if not authorization:
        raise InvalidToken("missing")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("not a bearer token")
    return token.strip()


def decode_token(secret: str, token: str) -> TokenClaims:
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "sid", "sub"]}
        )
        return TokenClaims(session_id=str(claims["sid"]), user_id=int(claims["sub"]))
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise InvalidToken(str(exc)) from exc


def hash_password(password: str, salt: str) -> str:
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), PASSWORD_ITERATIONS)
    return f"pbkdf2_sha256${PASSWORD_ITERATIONS}${salt}${digest.hex()}"


def check_password(password: str, encoded: str) -> bool:
    try:
        _, iterations, salt, expected = encoded.split("$")
    except ValueError:
        return False
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), int(iterations))
    return hmac.compare_digest(digest.hex(), expected)
