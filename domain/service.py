"""What every service of every stage has: /healthz and hop counting."""

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp

from domain.body_limit import BodyLimit
from domain.hops import HopCounter
from domain.models import Health


class PublicService(FastAPI):
    """The edge: request bodies are bounded outside everything else it runs (domain.body_limit),
    so every stage answers an oversized body the same, whatever middleware the stage adds."""

    def build_middleware_stack(self) -> ASGIApp:
        return BodyLimit(super().build_middleware_stack())


def create_service(name: str, public: bool = False) -> FastAPI:
    """A service; the edge (`public`) publishes its OpenAPI schema at /openapi.json (what
    `harness verify --fuzz` reads), internal services publish none."""
    kind = PublicService if public else FastAPI
    app = kind(title=name, openapi_url="/openapi.json" if public else None, docs_url=None, redoc_url=None)
    app.add_middleware(HopCounter)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        # an unexpected failure (a callee's undecodable answer, a database error) is a JSON 500
        # like every other error of the API, never a text body or a traceback; the server logs it
        return JSONResponse({"detail": "internal error"}, status_code=500)

    @app.get("/healthz")
    async def healthz() -> Health:
        return Health()

    return app
