"""billing: meters billable usage."""

from baseline.services.records import UsageIn
from domain.service import create_service
from domain.wiring import db, queries

app = create_service("billing")


@app.post("/internal/usage")
async def usage(body: UsageIn) -> dict[str, bool]:
    await db.run(queries.record_usage, body.user_id, body.metric, body.quantity)
    return {"recorded": True}
