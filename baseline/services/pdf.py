"""pdf: lays out an export (page count from the report's items)."""

from fastapi import Depends

from baseline.services.common import Caller, revalidated_caller
from domain.service import create_service
from domain.wiring import db, queries

app = create_service("pdf")


@app.post("/internal/renders/{export_id}")
async def render(export_id: int, caller: Caller = Depends(revalidated_caller)) -> dict[str, int]:
    return {"pages": await db.run(queries.render_export, export_id)}
