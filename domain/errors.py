"""The error responses of the public API, identical in every stage."""

from fastapi import HTTPException, status

INVALID_TOKEN = "invalid or expired token"
BAD_CREDENTIALS = "incorrect email or password"


def unauthorized(detail: str = INVALID_TOKEN) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=detail,
        headers={"WWW-Authenticate": "Bearer"},
    )


def not_found(what: str) -> HTTPException:
    return HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail=f"{what} not found")


def from_callee(status_code: int, body: object) -> HTTPException:
    """Re-raise a callee's error response unchanged, so the client sees what it said."""
    detail = body.get("detail") if isinstance(body, dict) else body
    headers = {"WWW-Authenticate": "Bearer"} if status_code == status.HTTP_401_UNAUTHORIZED else None
    return HTTPException(status_code=status_code, detail=detail, headers=headers)
