"""Body of the fire-and-record services (audit, notification, billing)."""

from pydantic import BaseModel


class AuditIn(BaseModel):
    user_id: int
    action: str
    subject: str


class NotificationIn(BaseModel):
    user_id: int
    kind: str
    body: str


class UsageIn(BaseModel):
    user_id: int
    metric: str
    quantity: int
