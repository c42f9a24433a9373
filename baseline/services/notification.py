"""notification: queues a user notification."""

from baseline.services.records import NotificationIn
from domain.service import create_service
from domain.wiring import db, queries

app = create_service("notification")


@app.post("/internal/notifications")
async def notify(body: NotificationIn) -> dict[str, bool]:
    await db.run(queries.record_notification, body.user_id, body.kind, body.body)
    return {"recorded": True}
