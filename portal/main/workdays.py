"""The working-day calendar: a year's holidays and adjusted working days, and the administrator's entries."""

from __future__ import annotations

from flask import flash, redirect, url_for

from portal.core import workdays
from portal.core.listing import arg_int
from portal.core.permissions import require
from portal.core.rendering import render
from portal.core.scoping import get_or_404
from portal.core.service import ServiceError
from portal.core.timeutil import local_today

from . import WORKDAYS, bp
from .forms import WorkdayForm


def _page(year: int, form: WorkdayForm | None = None, status: int = 200):
    first, last = workdays.package_years()
    today = local_today()
    years = sorted({*range(max(first, today.year - 1), today.year + 2), year})
    return render("main/workdays.html", "main/_workday_year.html", status=status, year=year, years=years,
                  summary=workdays.year_summary(year), form=form or WorkdayForm(formdata=None),
                  package_first=first, package_last=last)


@bp.route("/admin/workdays")
@require(WORKDAYS)
def list_workdays():
    """One year's calendar: where its holidays come from, and the entries that override them."""
    today = local_today()
    year = arg_int("year", today.year + 1, minimum=workdays.MIN_YEAR, maximum=workdays.MAX_YEAR)
    return _page(year)


@bp.route("/admin/workdays", methods=["POST"])
@require(WORKDAYS)
def add_workday():
    """Enter one date as a day off or an adjusted working day."""
    form = WorkdayForm()
    year = local_today().year + 1
    if form.validate_on_submit():
        try:
            entry = workdays.add_adjustment(day=form.day.data, is_working_day=form.is_working_day.data == "1",
                                            note=form.note.data)
        except ServiceError as error:
            form.apply_error(error)
            return _page(year, form, error.status)
        flash(f"已录入 {entry.day.isoformat()}：{entry.kind_label}。", "success")
        return redirect(url_for("main.list_workdays", year=entry.day.year), 303)
    if form.day.data:
        year = form.day.data.year if workdays.MIN_YEAR <= form.day.data.year <= workdays.MAX_YEAR else year
    return _page(year, form, 422)


@bp.route("/admin/workdays/<int:entry_id>/delete", methods=["POST"])
@require(WORKDAYS)
def delete_workday(entry_id: int):
    """Remove an entry: the date goes back to the built-in calendar (or to weekends alone)."""
    entry = get_or_404(workdays.WorkdayAdjustment, entry_id)
    year = entry.day.year
    workdays.remove_adjustment(entry)
    flash("已删除该录入。", "success")
    return redirect(url_for("main.list_workdays", year=year), 303)

