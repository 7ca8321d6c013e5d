"""Catalogue entries: the list (now or as of a date) with bulk actions, an entry with its revisions, editing,
and what a department may perform."""

from __future__ import annotations

from flask import abort, current_app, flash, request, url_for
from flask_login import current_user

from portal.core.forms import select_choices
from portal.core.listing import arg_int, paginate, query_string
from portal.core.permissions import has_permission, require
from portal.core.rendering import htmx_redirect, render
from portal.core.scoping import MAX_ID, get_or_404
from portal.core.service import ServiceError
from portal.core.timeutil import local_today
from portal.io.export import export_registered, export_rows

from .. import MANAGE, VIEW, bp
from ..models import CATEGORIES, FLAGS, GRADES, STATUSES, Technology
from . import exports, queries
from . import services as catalogue
from .forms import BULK_ACTIONS, BulkForm, StatusForm, TechnologyForm

LIST = "catalogue/technologies/technology_list.html"
ROWS = "catalogue/technologies/_technology_rows.html"


def _department_choices():
    return [(d.id, f"{d.name}（{d.code}）") for d in queries.departments()]


def _bulk_form(form: BulkForm | None = None) -> BulkForm:
    form = form or BulkForm(formdata=None)
    form.department_ids.choices = select_choices(_department_choices())
    return form


def _list_context(bulk_form: BulkForm | None = None) -> dict:
    filters, sort = exports.read_filters()
    args = {**filters.args(), "sort": sort.param}
    page_number, per_page = arg_int("page", 1), current_app.config["PAGE_SIZE"]
    if filters.as_of:
        page = queries.page_of(queries.as_of_entries(filters, sort.key, sort.descending), page_number, per_page)
    else:
        page = paginate(queries.list_query(filters, sort.key, sort.descending), page_number, per_page)
    may_manage = has_permission(current_user, MANAGE) and not filters.as_of
    return {"page": page, "filters": filters, "sort": sort, "args": args, "categories": CATEGORIES,
            "grades": GRADES, "statuses": STATUSES, "flags": FLAGS, "departments": _department_choices(),
            "may_manage": may_manage, "bulk_form": _bulk_form(bulk_form) if may_manage else None,
            "bulk_actions": BULK_ACTIONS, "today": local_today(), "back": query_string(args)}


@bp.route("/technologies")
@require(VIEW)
def list_technologies():
    """The catalogue: search, filters, sorting; "as of" shows the entries as they stood at the end of a day."""
    return render(LIST, ROWS, **_list_context())


@bp.route("/technologies/export")
@require(VIEW)
def export_technologies():
    """The list exactly as filtered (or as of the chosen day), as .xlsx in the import's columns."""
    filters, sort = exports.read_filters()
    if filters.as_of:
        entries = queries.as_of_entries(filters, sort.key, sort.descending)
        return export_rows(entries, exports.columns(), f"{exports.NAME}（截至{filters.as_of:%Y-%m-%d}）",
                           filters.args(), "technology")
    return export_registered("catalogue_technologies", request.args)


@bp.route("/technologies/bulk", methods=["POST"])
@require(MANAGE)
def bulk_technologies():
    """Enable, disable or change the departments of the checked rows, with one reason."""
    form = _bulk_form(BulkForm())
    back = url_for("catalogue.list_technologies") + "?" + (request.form.get("back") or "")[:1000]
    if form.validate_on_submit():
        try:
            action = form.action.data
            if action in ("enable", "disable"):
                result = catalogue.bulk_set_status(form.ids.data, "active" if action == "enable" else "disabled",
                                                   reason=form.reason.data)
            else:
                add = form.department_ids.data if action == "add_departments" else []
                remove = form.department_ids.data if action == "remove_departments" else []
                result = catalogue.bulk_departments(form.ids.data, add=add, remove=remove, reason=form.reason.data)
        except ServiceError as error:
            form.apply_error(error)
        else:
            unchanged = f"，{result.unchanged} 条本来如此、未改动" if result.unchanged else ""
            flash(f"已{BULK_ACTIONS[action]} {len(result.changed)} 条{unchanged}。", "success")
            return htmx_redirect(back)
    return render("catalogue/technologies/bulk_refused.html", "catalogue/technologies/_bulk_bar.html", status=422,
                  bulk_form=form, bulk_actions=BULK_ACTIONS, back=request.form.get("back", ""))


def _form(form: TechnologyForm | None = None, tech: Technology | None = None) -> TechnologyForm:
    form = form or TechnologyForm(formdata=None, obj=tech)
    form.department_ids.choices = select_choices(_department_choices())
    return form


@bp.route("/technologies/new", methods=["GET", "POST"])
@require(MANAGE)
def new_technology():
    """Add an entry to the catalogue (revision 1)."""
    if request.method == "GET":
        form = _form()
        form.reason.data = "新增条目"
        return render("catalogue/technologies/technology_form.html", form=form, tech=None)
    form = _form(TechnologyForm())
    if form.validate_on_submit():
        try:
            tech = catalogue.create_technology(form.values(), form.department_ids.data or [], reason=form.reason.data)
        except ServiceError as error:
            form.apply_error(error)
        else:
            flash(f"已新增 {tech.code} {tech.name}。", "success")
            return htmx_redirect(url_for("catalogue.view_technology", technology_id=tech.id))
    return render("catalogue/technologies/technology_form.html", status=422, form=form, tech=None)


@bp.route("/technologies/<int:technology_id>/edit", methods=["GET", "POST"])
@require(MANAGE)
def edit_technology(technology_id: int):
    """Revise an entry: a new revision with the reason; an edit of an older revision is refused (409)."""
    tech = get_or_404(Technology, technology_id)
    if request.method == "GET":
        form = _form(tech=tech)
        form.department_ids.data = [d.id for d in tech.departments]
        form.prerequisites.data = "、".join(tech.prerequisites or [])
        form.revision.data = str(tech.revision)
        form.reason.data = ""
        return render("catalogue/technologies/technology_form.html", form=form, tech=tech)
    form = _form(TechnologyForm())
    status = 422
    if form.validate_on_submit():
        try:
            changed = catalogue.update_technology(tech, form.values(), form.department_ids.data or [],
                                                  reason=form.reason.data, expected_revision=form.expected_revision())
        except ServiceError as error:
            form.apply_error(error)
            status = error.status
        else:
            flash(f"已保存为第 {tech.revision} 版。" if changed else "内容没有变化，未生成新版本。", "success")
            return htmx_redirect(url_for("catalogue.view_technology", technology_id=tech.id))
    return render("catalogue/technologies/technology_form.html", status=status, form=form, tech=tech)


@bp.route("/technologies/<int:technology_id>/status", methods=["POST"])
@require(MANAGE)
def set_technology_status(technology_id: int):
    """Enable or disable one entry, with the reason."""
    tech = get_or_404(Technology, technology_id)
    form = StatusForm()
    if form.validate_on_submit():
        try:
            catalogue.set_status(tech, form.status.data, reason=form.reason.data, expected_revision=form.revision.data)
        except ServiceError as error:
            form.apply_error(error)
            return render("catalogue/technologies/technology_detail.html", status=error.status,
                          **_detail_context(tech, status_form=form))
        flash(f"已{STATUSES[form.status.data]} {tech.code} {tech.name}。", "success")
        return htmx_redirect(url_for("catalogue.view_technology", technology_id=tech.id))
    return render("catalogue/technologies/technology_detail.html", status=422,
                  **_detail_context(tech, status_form=form))


def _detail_context(tech: Technology, status_form: StatusForm | None = None) -> dict:
    revisions = catalogue.revisions(tech.id)
    if status_form is None:
        status_form = StatusForm(formdata=None)
        status_form.status.data = "disabled" if tech.status == "active" else "active"
        status_form.revision.data = tech.revision
    timeline = []
    for index, rev in enumerate(revisions):
        previous = revisions[index + 1].data if index + 1 < len(revisions) else None
        timeline.append((rev, catalogue.diff_states(previous, rev.data)))
    return {"tech": tech, "timeline": timeline, "sources": catalogue.SOURCES, "flags": FLAGS,
            "status_form": status_form, "may_manage": has_permission(current_user, MANAGE),
            "state": catalogue.describe_state(catalogue.state_of(tech))}


@bp.route("/technologies/<int:technology_id>")
@require(VIEW)
def view_technology(technology_id: int):
    """One entry: its facts, the actions, and its revisions as a timeline."""
    tech = get_or_404(Technology, technology_id)
    return render("catalogue/technologies/technology_detail.html", **_detail_context(tech))


def _revision_or_404(technology_id: int, number: int | None):
    found = catalogue.revision(technology_id, number) if number else None
    if found is None:
        abort(404)
    return found


@bp.route("/technologies/<int:technology_id>/revisions/<int:number>")
@require(VIEW)
def view_revision(technology_id: int, number: int):
    """One past revision as it was, with what changed from the one before."""
    tech = get_or_404(Technology, technology_id)
    rev = _revision_or_404(tech.id, number)
    previous = catalogue.revision(tech.id, number - 1) if number > 1 else None
    return render("catalogue/technologies/revision_detail.html", tech=tech, rev=rev,
                  state=catalogue.describe_state(rev.data), sources=catalogue.SOURCES,
                  changes=catalogue.diff_states(previous.data if previous else None, rev.data))


@bp.route("/technologies/<int:technology_id>/diff")
@require(VIEW)
def diff_revisions(technology_id: int):
    """What differs between two revisions of an entry (field labels and values in Chinese)."""
    tech = get_or_404(Technology, technology_id)
    a = _revision_or_404(tech.id, arg_int("a", maximum=MAX_ID))
    b = _revision_or_404(tech.id, arg_int("b", maximum=MAX_ID))
    if a.revision > b.revision:
        a, b = b, a
    return render("catalogue/technologies/revision_diff.html", tech=tech, a=a, b=b,
                  changes=catalogue.diff_states(a.data, b.data),
                  numbers=[r.revision for r in catalogue.revisions(tech.id)])


@bp.route("/departments")
@require(VIEW)
def department_technologies():
    """本科室可开展技术: the active entries a department may perform, counted by grade and category."""
    reach = current_user.principal.departments_for(VIEW)
    choices = queries.departments(reach)
    department_id = arg_int("department_id", maximum=MAX_ID)
    if department_id is None:
        own = current_user.staff.department_id if current_user.staff else None
        department = next((d for d in choices if d.id == own), choices[0] if choices else None)
    else:
        department = next((d for d in choices if d.id == department_id), None)
        if department is None:
            abort(404)
    summary = queries.department_summary(department) if department else None
    page = None
    if department is not None:
        filters = queries.Filters(department_id=department.id, status="active", grade=arg_int("grade", minimum=1,
                                                                                                 maximum=4))
        page = paginate(queries.list_query(filters, "grade", True), arg_int("page", 1),
                        current_app.config["PAGE_SIZE"])
    return render("catalogue/technologies/department_technologies.html",
                  "catalogue/technologies/_department_rows.html", department=department, choices=choices,
                  summary=summary, page=page, grades=GRADES, categories=CATEGORIES, flags=FLAGS,
                  args={"department_id": department.id if department else "", "grade": arg_int("grade") or ""})
