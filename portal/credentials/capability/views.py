"""Capability pages (能力展示): a person's page (个人能力: qualifications, privileges, expiring items, alerts, what
they may perform), a department's page (科室能力: the same aggregated, with its staff), and who may perform a
catalogue entry (可开展人员). Phone layout: they open in WeCom (移动查询)."""

from __future__ import annotations

from flask import abort, current_app, render_template, request
from flask_login import current_user
from markupsafe import Markup

from portal.catalogue.models.technologies import CATEGORIES, Technology
from portal.core.listing import arg_choice, arg_int, arg_str, paginate
from portal.core.permissions import SIGNED_IN, has_permission, require
from portal.core.rendering import render
from portal.core.scoping import MAX_ID, get_or_404
from portal.core.timeutil import local_today
from portal.reports import engine
from portal.reports.params import Params
from portal.study.attendance.services import study_hours_by_year

from .. import APPLY_PRIVILEGE, VIEW_PRIVILEGES, bp
from ..models.privileges import GRADES
from . import queries, reports

PERSON = "credentials/capability/person.html"
COVERED = {"1": "有人可开展", "0": "无人可开展"}


def _person_or_404(staff_id: int | None) -> queries.StaffFacts:
    """A person the user may see: themself, or staff in the departments credentials.view_privileges reaches."""
    staff = queries.staff_facts(staff_id) if staff_id and 0 < staff_id <= MAX_ID else None
    if staff is None:
        abort(404)
    own = current_user.staff_id is not None and staff.id == current_user.staff_id
    if not own and not (has_permission(current_user, VIEW_PRIVILEGES)
                        and current_user.principal.can_act_on(VIEW_PRIVILEGES, staff.department_id)):
        abort(404)
    return staff


def _technologies_context(staff) -> dict:
    today, q = local_today(), arg_str("q", 50)
    page = queries.performable_page(staff.id, today, q, arg_int("page", 1), current_app.config["PAGE_SIZE"])
    return {"staff": staff, "tech_page": page, "tech_args": {"staff_id": staff.id, "q": q}, "q": q,
            "categories": CATEGORIES, "grades": GRADES}


def _person_page(staff: queries.StaffFacts):
    today = local_today()
    own = staff.id == current_user.staff_id
    # qualifications and privileges: rendered once per worker while the privilege generation is unchanged
    records = queries.kept("person_records", (staff.id, today, own, request.script_root), lambda: Markup(
        render_template("credentials/capability/_person_records.html", person=queries.person(staff.id, today),
                        today=today, own=own)))
    return render(PERSON, person=queries.activity(staff.id, today), records=records, today=today,
                  **_technologies_context(staff), own=own,
                  may_view_department=has_permission(current_user, VIEW_PRIVILEGES)
                  and current_user.principal.can_act_on(VIEW_PRIVILEGES, staff.department_id),
                  outcomes=queries.outcomes(staff.id, today.replace(year=today.year - 3, day=1), today),
                  study_hours=study_hours_by_year(staff.id, (today.year, today.year - 1)))


@bp.route("/capability/people/<int:staff_id>")
@require(SIGNED_IN)
def view_capability(staff_id: int):
    """个人能力: qualifications, privileges by grade and technology, expiring items, alerts and overrides, and
    what the person may perform (own page, or staff of the departments credentials.view_privileges reaches)."""
    return _person_page(_person_or_404(staff_id))


@bp.route("/capability/me")
@require(APPLY_PRIVILEGE)
def my_capability():
    """我的能力: the signed-in clinician's own capability page."""
    if current_user.staff is None:
        abort(404, "您的账号没有关联人员档案，请联系医务科。")
    return _person_page(_person_or_404(current_user.staff_id))


@bp.route("/capability/technologies")
@require(SIGNED_IN)
def person_technologies():
    """可开展技术: the active entries a person may perform or order today, searchable, 20 a page (htmx: rows)."""
    staff = _person_or_404(arg_int("staff_id", maximum=MAX_ID))
    return render("credentials/capability/technologies.html", "credentials/capability/_technology_rows.html",
                  **_technologies_context(staff))


@bp.route("/capability/performers")
@require(VIEW_PRIVILEGES)
def technology_performers():
    """可开展人员: staff of the user's departments with a privilege covering the entry today."""
    tech = get_or_404(Technology, arg_int("technology_id", maximum=MAX_ID))
    today, q = local_today(), arg_str("q", 50)
    page = paginate(queries.performers_query(tech, current_user.principal, today, q), arg_int("page", 1),
                    current_app.config["PAGE_SIZE"], scalars=False)
    return render("credentials/capability/performers.html", "credentials/capability/_performer_rows.html",
                  tech=tech, page=page, args={"technology_id": tech.id, "q": q}, q=q, today=today,
                  all_departments=current_user.principal.departments_for(VIEW_PRIVILEGES) is None)


def _department_or_404():
    choices = queries.departments(current_user.principal)
    wanted = arg_int("department_id", maximum=MAX_ID)
    if wanted is None:
        own = current_user.staff.department_id if current_user.staff else None
        return next((d for d in choices if d.id == own), choices[0] if choices else None), choices
    found = next((d for d in choices if d.id == wanted), None)
    if found is None:
        abort(404)
    return found, choices


def _staff_context(department, staff_ids: list[int] | None = None) -> dict:
    today, q = local_today(), arg_str("q", 50)
    page = queries.staff_page(department.id, today, q, arg_int("page", 1), current_app.config["PAGE_SIZE"], staff_ids)
    return {"department": department, "staff_page": page, "staff_args": {"department_id": department.id, "q": q},
            "q": q, "grades": GRADES}


def _grid(department_id: int, today) -> dict:
    """The grade x category counts of the department, from the declared report (same numbers, same drills)."""
    report = reports.BY_GRADE_CATEGORY
    params = Params.parse(report, {"date_from": today.isoformat(), "date_to": today.isoformat(),
                                   "department_id": str(department_id)})
    result = engine.run(report, params, current_user._get_current_object())
    at = [next(i for i, shown in enumerate(result.columns) if shown.key == key) for key in ("holders", "privileges")]
    cells = {(row["grade"], row["category"]): tuple(grid[i] for i in at)  # (holders, privileges) with their links
             for row, grid in zip(result.rows, result.grid, strict=True)}
    return {"cells": cells, "totals": tuple(result.total_cells[i] for i in at),
            "used": [c for c in CATEGORIES if any(k[1] == c for k in cells)]}


@bp.route("/capability/departments")
@require(VIEW_PRIVILEGES)
def department_capability():
    """科室能力: counts by grade and category, catalogue coverage, expiring items and the staff list."""
    department, choices = _department_or_404()
    if department is None:
        return render("credentials/capability/department.html", department=None, choices=choices)
    today = local_today()
    staff_ids = queries.department_staff_ids(department.id)
    return render("credentials/capability/department.html", choices=choices, today=today,
                  grid=_grid(department.id, today), coverage=queries.coverage(department.id, today, staff_ids),
                  expiring_privileges=queries.expiring_privileges(current_user.principal, department.id, today),
                  expiring_qualifications=queries.expiring_qualifications(current_user.principal, department.id,
                                                                          today),
                  categories=CATEGORIES, **_staff_context(department, staff_ids))


@bp.route("/capability/department-staff")
@require(VIEW_PRIVILEGES)
def department_staff():
    """The department's staff with their highest grade and technology privileges, searchable (htmx: rows)."""
    department, _ = _department_or_404()
    if department is None:
        abort(404)
    return render("credentials/capability/department_staff.html", "credentials/capability/_staff_rows.html",
                  **_staff_context(department))


@bp.route("/capability/department-technologies")
@require(VIEW_PRIVILEGES)
def department_coverage():
    """The department's allowed entries, with or without a performer among its staff today."""
    department, _ = _department_or_404()
    if department is None:
        abort(404)
    today, q, covered = local_today(), arg_str("q", 50), arg_choice("covered", COVERED)
    page = paginate(queries.department_technologies_query(department.id, today, covered, q), arg_int("page", 1),
                    current_app.config["PAGE_SIZE"], scalars=False)
    return render("credentials/capability/coverage.html", "credentials/capability/_coverage_rows.html",
                  department=department, page=page, q=q, covered=covered, covered_choices=COVERED,
                  args={"department_id": department.id, "q": q, "covered": covered}, grades=GRADES,
                  categories=CATEGORIES)
