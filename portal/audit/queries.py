"""Filters over the audit and login logs (read-only: nothing here changes a record)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Select, select

from portal.auth.models import LoginEvent
from portal.core.audit import AuditLog
from portal.core.timeutil import local_day_bounds


@dataclass
class AuditFilters:
    date_from: date | None = None
    date_to: date | None = None
    user: str = ""
    entity_type: str = ""
    entity_id: str = ""
    action: str = ""


def _date_range(stmt: Select, column, date_from: date | None, date_to: date | None) -> Select:
    if date_from:
        stmt = stmt.where(column >= local_day_bounds(date_from)[0])
    if date_to:
        stmt = stmt.where(column < local_day_bounds(date_to)[1])
    return stmt


def audit_query(f: AuditFilters) -> Select:
    stmt = _date_range(select(AuditLog), AuditLog.created_at, f.date_from, f.date_to)
    if f.user:
        stmt = stmt.where(AuditLog.user_name.icontains(f.user, autoescape=True))
    if f.entity_type:
        stmt = stmt.where(AuditLog.entity_type == f.entity_type)
    if f.entity_id:
        stmt = stmt.where(AuditLog.entity_id == f.entity_id)
    if f.action:
        stmt = stmt.where(AuditLog.action == f.action)
    return stmt.order_by(AuditLog.id.desc())


@dataclass
class LoginFilters:
    date_from: date | None = None
    date_to: date | None = None
    login_name: str = ""
    event: str = ""
    ip: str = ""


def login_query(f: LoginFilters) -> Select:
    stmt = _date_range(select(LoginEvent), LoginEvent.created_at, f.date_from, f.date_to)
    if f.login_name:
        stmt = stmt.where(LoginEvent.login_name.icontains(f.login_name, autoescape=True))
    if f.event:
        stmt = stmt.where(LoginEvent.event == f.event)
    if f.ip:
        stmt = stmt.where(LoginEvent.ip == f.ip)
    return stmt.order_by(LoginEvent.id.desc())
