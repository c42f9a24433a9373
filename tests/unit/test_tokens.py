from datetime import UTC, datetime, timedelta

import pytest

from domain import tokens

SECRET = "s" * 32


def _token(expires_in: timedelta = timedelta(minutes=5), secret: str = SECRET) -> str:
    return tokens.issue_token(secret, "sid-1", 7, datetime.now(UTC) + expires_in)


def test_roundtrip() -> None:
    claims = tokens.decode_token(SECRET, _token())
    assert (claims.session_id, claims.user_id) == ("sid-1", 7)


@pytest.mark.parametrize("token", [
    "", "not-a-token", "a.b.c",
    _token(expires_in=timedelta(seconds=-1)),
    _token(secret="another-secret-" + "x" * 20),
])
def test_invalid_tokens_are_rejected(token: str) -> None:
    with pytest.raises(tokens.InvalidToken):
        tokens.decode_token(SECRET, token)


def test_tampered_payload_is_rejected() -> None:
    head, payload, sig = _token().split(".")
    other = tokens.issue_token(SECRET, "sid-2", 8, datetime.now(UTC) + timedelta(minutes=5))
    _, other_payload, _ = other.split(".")
    with pytest.raises(tokens.InvalidToken):
        tokens.decode_token(SECRET, f"{head}.{other_payload}.{sig}")


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer", "Bearer   "])
def test_bearer_header_parsing_rejects(header: str | None) -> None:
    with pytest.raises(tokens.InvalidToken):
        tokens.bearer_token(header)


def test_bearer_header_parsing_accepts() -> None:
    assert tokens.bearer_token("bearer abc.def") == "abc.def"
