"""What every service of every stage has: /healthz and hop counting."""

from fastapi import FastAPI

from domain.hops import HopCounter
from domain.models import Health


def create_service(name: str) -> FastAPI:
    app = FastAPI(title=name, openapi_url=None, docs_url=None, redoc_url=None)
    app.add_middleware(HopCounter)

    @app.get("/healthz")
    async def healthz() -> Health:
        return Health()

    return app
