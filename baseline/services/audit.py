"""audit: an audit trail row for every write."""

from baseline.services.common import RequestTiming
from baseline.services.records import AuditIn
from domain.service import create_service
from domain.wiring import db, queries

app = create_service("audit")
app.add_middleware(RequestTiming)


@app.post("/internal/events")
async def record(body: AuditIn) -> dict[str, bool]:
    await db.run(queries.record_audit, body.user_id, body.action, body.subject)
    return {"recorded": True}
