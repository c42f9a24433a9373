"""Request and response bodies of the public API, identical in every stage."""

from datetime import datetime
from typing import Annotated, Literal

from fastapi import Path
from pydantic import BaseModel, EmailStr, Field

# A row id in a path, as the database can hold it (PostgreSQL's `integer`). Without the bounds
# an id past 2**31 reached the database and failed there (500), and one past 2**64 dropped the
# connection; with them it is a 422 at the edge, in every stage alike.
PG_INT_MAX = 2**31 - 1
RowId = Annotated[int, Path(ge=-PG_INT_MAX - 1, le=PG_INT_MAX)]


class LoginIn(BaseModel):
    email: EmailStr
    password: str = Field(min_length=1, max_length=200)


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class ProfileOut(BaseModel):
    display_name: str
    company: str
    timezone: str
    bio: str


class PreferencesOut(BaseModel):
    theme: str
    language: str
    email_notifications: bool


class MeOut(BaseModel):
    id: int
    email: str
    name: str
    profile: ProfileOut
    preferences: PreferencesOut


class UserSummary(BaseModel):
    id: int
    name: str
    report_count: int


class ReportSummary(BaseModel):
    id: int
    title: str
    created_at: datetime
    item_count: int
    latest_export_status: str | None


class DashboardOut(BaseModel):
    user: UserSummary
    reports: list[ReportSummary]


class ReportItemOut(BaseModel):
    position: int
    label: str
    value: float


class ReportOut(BaseModel):
    id: int
    owner_id: int
    title: str
    created_at: datetime
    items: list[ReportItemOut]


class ExportIn(BaseModel):
    format: Literal["pdf", "csv"] = "pdf"


class ExportCreated(BaseModel):
    id: int
    status: str


class ExportOut(BaseModel):
    id: int
    report_id: int
    format: str
    status: str
    pages: int | None
    created_at: datetime


class Health(BaseModel):
    status: Literal["ok"] = "ok"
