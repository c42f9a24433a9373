"""search: the report index (latest reports of an owner)."""

from domain import rules
from domain.service import create_service
from domain.wiring import db, queries

app = create_service("search")


@app.get("/internal/search/reports")
async def reports(owner_id: int, limit: int = rules.DASHBOARD_REPORTS) -> list[int]:
    return await db.run(queries.latest_report_ids, owner_id, limit)
