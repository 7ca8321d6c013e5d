"""Management pathways: list, create, view (with versions), publish new steps, activate/deactivate."""

from __future__ import annotations

import re

from flask import abort, current_app, flash, request, url_for

from portal.core.listing import arg_choice, arg_int, arg_str, paginate
from portal.core.permissions import require
from portal.core.rendering import htmx_redirect, render
from portal.core.scoping import get_or_404
from portal.core.service import ServiceError

from .. import PATHWAYS, bp
from ..models import ANCHORS, TASK_TYPES, Pathway, PathwayVersion
from . import services as pathways
from .forms import PathwayForm, StepsForm

STEP_FIELDS = ("title", "task_type", "anchor", "offset_days", "window_days", "recur_every_days", "recur_times",
               "outcome_fields")
STEP_KEY = re.compile(r"^steps-(\d{1,4})-([a-z_]+)$")
ACTION = re.compile(r"^(add|publish|remove-\d{1,4}|up-\d{1,4}|down-\d{1,4})$")


@bp.route("/pathways")
@require(PATHWAYS)
def list_pathways():
    """Pathways by disease: current version, number of steps, active or not."""
    q, status = arg_str("q", 50), arg_choice("status", pathways.PATHWAY_STATES)
    args = {"q": q, "status": status}
    page = paginate(pathways.pathways_query(q, status), arg_int("page", 1), current_app.config["PAGE_SIZE"])
    counts = pathways.step_counts([p.current_version.id for p in page.items if p.current_version])
    return render("casemgmt/pathways/pathway_list.html",
                  "casemgmt/pathways/_pathway_rows.html", page=page, args=args, q=q,
                  status_filter=status, states=pathways.PATHWAY_STATES, step_counts=counts)


@bp.route("/pathways/new", methods=["GET", "POST"])
@require(PATHWAYS)
def new_pathway():
    """Create a pathway; its steps are published next, as version 1."""
    form = PathwayForm()
    if form.validate_on_submit():
        try:
            pathway = pathways.create_pathway(name=form.name.data, icd10_prefix=form.icd10_prefix.data,
                                              package=form.package.data, description=form.description.data)
        except ServiceError as error:
            form.apply_error(error)
        else:
            flash(f"已创建管理路径“{pathway.name}”，请填写步骤并发布第 1 版。", "success")
            return htmx_redirect(url_for("casemgmt.edit_pathway_steps", pathway_id=pathway.id))
    status = 422 if request.method == "POST" else 200
    return render("casemgmt/pathways/pathway_form.html", status=status, form=form)


@bp.route("/pathways/<int:pathway_id>")
@require(PATHWAYS)
def view_pathway(pathway_id: int):
    """The current version's steps (or an older version, read-only) and the version history."""
    pathway = get_or_404(Pathway, pathway_id)
    number = arg_int("version", maximum=10**6)
    if number is None:
        version = pathway.current_version
    else:
        version = next((v for v in pathway.versions if v.number == number), None)
        if version is None:
            abort(404, f"该路径没有第 {number} 版。")
    return render("casemgmt/pathways/pathway_detail.html", pathway=pathway, version=version,
                  step_counts=pathways.step_counts([v.id for v in pathway.versions]),
                  usage=pathways.enrolment_counts(pathway))


def _rows_of(version: PathwayVersion | None) -> list[dict]:
    if version is None:
        return [_blank_row()]
    return [{"title": s.title, "task_type": s.task_type, "anchor": s.anchor, "offset_days": str(s.offset_days),
             "window_days": str(s.window_days), "recur_every_days": str(s.recur_every_days or ""),
             "recur_times": str(s.recur_times or ""), "outcome_fields": "，".join(s.outcome_fields or [])}
            for s in version.steps]


def _blank_row() -> dict:
    return {"title": "", "task_type": "phone_followup", "anchor": "discharge", "offset_days": "0",
            "window_days": "0", "recur_every_days": "", "recur_times": "", "outcome_fields": ""}


def _is_blank(row: dict) -> bool:
    """An untouched row (as added): left out on publishing. A row with any choice changed is checked."""
    blank = _blank_row()
    return not any(row[k] for k in ("title", "recur_every_days", "recur_times", "outcome_fields")) \
        and row["offset_days"] in ("", "0") and row["window_days"] in ("", "0") \
        and row["task_type"] == blank["task_type"] and row["anchor"] == blank["anchor"]


def _rows_from_form() -> list[dict]:
    """The step rows as posted (steps-<i>-<field>), in row order; unknown keys are ignored."""
    indices = sorted({int(m.group(1)) for key in request.form if (m := STEP_KEY.match(key))})
    if len(indices) > pathways.MAX_STEPS + 1:
        abort(400, f"路径步骤不超过 {pathways.MAX_STEPS} 个。")
    return [{f: request.form.get(f"steps-{i}-{f}", "").strip()[:1000] for f in STEP_FIELDS} for i in indices]


def _steps_page(pathway: Pathway, form: StepsForm, rows: list[dict], errors: dict[int, str], status: int = 200):
    return render("casemgmt/pathways/pathway_steps.html", "casemgmt/pathways/_pathway_steps_form.html", status=status,
                  pathway=pathway, form=form, rows=rows, errors=errors, task_types=TASK_TYPES, anchors=ANCHORS)


@bp.route("/pathways/<int:pathway_id>/steps", methods=["GET", "POST"])
@require(PATHWAYS)
def edit_pathway_steps(pathway_id: int):
    """Edit the steps and publish them as a new version; enrolments keep the version they started on."""
    pathway = get_or_404(Pathway, pathway_id)
    if request.method == "GET":
        return _steps_page(pathway, StepsForm(formdata=None), _rows_of(pathway.current_version), {})
    form = StepsForm()
    action = request.form.get("action", "publish")
    if not ACTION.match(action):
        abort(400, "操作无效，请刷新页面后重试。")
    rows = _rows_from_form()
    if not form.validate_on_submit():
        return _steps_page(pathway, form, rows or [_blank_row()], {}, 422)
    if action != "publish":
        # Rearranging rows changes nothing yet: the page comes back with the rows as asked.
        if action == "add":
            rows.append(_blank_row())
        else:
            verb, index = action.split("-")
            i = int(index)
            if i < len(rows):
                if verb == "remove":
                    rows.pop(i)
                elif verb == "up" and i > 0:
                    rows[i - 1], rows[i] = rows[i], rows[i - 1]
                elif verb == "down" and i + 1 < len(rows):
                    rows[i], rows[i + 1] = rows[i + 1], rows[i]
        return _steps_page(pathway, form, rows or [_blank_row()], {})
    steps = [row for row in rows if not _is_blank(row)]
    errors: dict[int, str] = {}
    for position, row in enumerate(steps, start=1):
        try:
            pathways.check_step(row, position)
        except ServiceError as error:
            errors[position - 1] = error.message
    if not errors:
        try:
            version = pathways.publish_version(pathway, steps, form.note.data)
        except ServiceError as error:
            form.apply_error(error)
        else:
            flash(f"已发布“{pathway.name}”第 {version.number} 版（{len(steps)} 个步骤）。新入组的患者将使用此版本。",
                  "success")
            return htmx_redirect(url_for("casemgmt.view_pathway", pathway_id=pathway.id))
    return _steps_page(pathway, form, steps or [_blank_row()], errors, 422)


@bp.route("/pathways/<int:pathway_id>/toggle", methods=["POST"])
@require(PATHWAYS)
def toggle_pathway(pathway_id: int):
    """Activate or deactivate a pathway for new enrolments."""
    pathway = get_or_404(Pathway, pathway_id)
    wanted = request.form.get("active")
    if wanted not in ("0", "1"):
        abort(400, "请求缺少“启用/停用”参数，请刷新页面后重试。")
    if wanted == "1" and pathway.current_version is None:
        abort(409, "该路径还没有发布任何版本，请先填写步骤并发布。")
    pathways.set_pathway_active(pathway, wanted == "1")
    flash(f"已{'启用' if wanted == '1' else '停用'}管理路径“{pathway.name}”。", "success")
    return htmx_redirect(url_for("casemgmt.view_pathway", pathway_id=pathway.id))
