"""The report archive: generating a run (a user's button or a schedule), listing and opening runs.

Services take plain arguments and flush; the request or the job commits.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Select, or_, select

from portal.core import audit
from portal.core.months import previous_month
from portal.core.permissions import has_permission
from portal.core.service import ServiceError
from portal.core.timeutil import format_datetime, local_today, utcnow
from portal.extensions import db

from . import engine, excel, registry
from .models import ReportRun
from .params import Params


def department_name(department_id: int | None) -> str:
    from portal.auth.models import Department

    if not department_id:
        return ""
    dept = db.session.get(Department, department_id)
    return dept.name if dept else ""


def generate_run(code: str, args: dict, *, user=None, schedule: str = "") -> ReportRun:
    """Run a report with these filters and keep its workbook in the archive (user None: the system's run)."""
    report = registry.get(code)
    if report is None:
        raise ServiceError("没有这个报表。", status=404)
    if user is not None and not has_permission(user, report.permission):
        raise ServiceError("您没有查看该报表的权限。", status=403)
    params = Params.parse(report, args)
    result = engine.run(report, params, user, links=False)
    dept = department_name(params.department_id)
    lines = result.filter_lines(dept)
    filter_text = "，".join(f"{k}：{v}" for k, v in lines)
    who = "定时任务" if user is None else user.display_name
    from flask import current_app

    content = excel.report_sheet_xlsx(result, [
        f"{current_app.config['HOSPITAL_NAME']} {report.title}", f"筛选条件：{filter_text}",
        f"生成时间：{format_datetime(utcnow())}（{who}）"])
    run = ReportRun(report_code=code, period=params.period_key, filters=params.args(), filter_text=filter_text[:500],
                    generated_at=utcnow(), requested_by_id=user.id if user is not None else None,
                    schedule=schedule, rows=len(result.rows), filename=excel.file_name(result), content=content)
    db.session.add(run)
    db.session.flush()
    audit.record("create", "report_run", run.id, label=f"{report.title} {params.period_label}",
                 changes={"report": code, "filters": run.filters, "schedule": schedule})
    return run


def generate_scheduled(today: date | None = None, schedule: str = "monthly") -> list[int]:
    """On the schedule: archive last month of every report declared `archive="monthly"`, once each."""
    month = f"{previous_month((today or local_today()).replace(day=1)):%Y-%m}"
    made = []
    for report in registry.all_reports():
        if report.archive != schedule:
            continue
        exists = db.session.scalar(select(ReportRun.id).where(
            ReportRun.report_code == report.code, ReportRun.period == month, ReportRun.schedule == schedule))
        if exists is None:
            made.append(generate_run(report.code, {"month": month}, schedule=schedule).id)
    return made


def visible_runs(user, code: str = "") -> Select:
    """Runs of the reports the user may see: hospital-wide runs only for those who see every row."""
    allowed = [r for r in registry.all_reports() if has_permission(user, r.permission)]
    if code:
        allowed = [r for r in allowed if r.code == code]
    conditions = []
    for report in allowed:
        if engine.sees_everything(report, user):
            conditions.append(ReportRun.report_code == report.code)
        else:
            conditions.append((ReportRun.report_code == report.code) & (ReportRun.requested_by_id == user.id))
    stmt = select(ReportRun)
    if not conditions:
        return stmt.where(ReportRun.id.is_(None))
    return stmt.where(or_(*conditions)).order_by(ReportRun.generated_at.desc(), ReportRun.id.desc())


def open_run(run_id: int, user) -> ReportRun:
    """A run the user may download (else 404, as if it did not exist); the download is audited."""
    run = db.session.scalar(visible_runs(user).where(ReportRun.id == run_id))
    if run is None:
        raise ServiceError("没有找到该报表存档，或您无权查看。", status=404)
    report = registry.get(run.report_code)
    audit.record("download", "report_run", run.id, label=f"{report.title if report else run.report_code} {run.period}",
                 changes={"filename": run.filename})
    return run
