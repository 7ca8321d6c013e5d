"""A department's project tasks: the list (phone-friendly), one task with its materials, upload and submit."""

from __future__ import annotations

import io

from flask import abort, current_app, flash, redirect, send_file, url_for
from flask_login import current_user

from portal.core import audit
from portal.core.listing import arg_choice, arg_int, paginate
from portal.core.permissions import require
from portal.core.rendering import render
from portal.core.scoping import get_scoped_or_404
from portal.core.service import ServiceError
from portal.core.timeutil import local_today
from portal.extensions import db

from .. import SUBMIT, VIEW, bp
from ..files import ACCEPT
from ..models import ItemFile, ProjectTask
from . import services
from .forms import SubmitForm, UploadForm


@bp.route("/tasks")
@require(SUBMIT)
def list_tasks():
    """The tasks of the user's department(s): open ones first, with deadlines."""
    show = arg_choice("show", ("open", "all"), "open")
    stmt = services.my_tasks_query(current_user.principal, open_only=show == "open")
    page = paginate(stmt, arg_int("page", 1), current_app.config["PAGE_SIZE"])
    return render("projects/tasks/list.html", "projects/tasks/_rows.html", page=page, args={"show": show},
                  show=show, today=local_today(), progress=services.progress_of([t.id for t in page.items]))


def _page(task: ProjectTask, status: int = 200, error: str = "", error_item: int | None = None):
    services.load_files(task)
    can_submit = (current_user.principal.can_act_on(SUBMIT, task.department_id)
                  and task.project.status == "published")
    return render("projects/tasks/detail.html", status=status, task=task, project=task.project,
                  today=local_today(), can_submit=can_submit, accept=ACCEPT, error=error, error_item=error_item,
                  upload_form=UploadForm(formdata=None), submit_form=SubmitForm(formdata=None),
                  ready=sum(1 for i in task.items if i.status == "uploaded"))


@bp.route("/tasks/<int:task_id>")
@require(VIEW)
def view_task(task_id: int):
    """One department's task: each material with its state, template, file versions and review comment."""
    loaded = services.load_for_page(task_id)  # noqa: F841 (held: the session keeps only referenced objects)
    return _page(get_scoped_or_404(ProjectTask, task_id, current_user.principal, VIEW))


@bp.route("/tasks/<int:task_id>/items/<int:item_id>/upload", methods=["POST"])
@require(SUBMIT)
def upload_file(task_id: int, item_id: int):
    """A new version of the file for one material."""
    task = get_scoped_or_404(ProjectTask, task_id, current_user.principal, SUBMIT, seen_with=VIEW)
    form = UploadForm()
    if not form.validate_on_submit():
        return _page(task, 400, "页面已过期，请刷新后重试。", item_id)
    upload = form.file.data
    try:
        item = services.item_of(task, item_id)
        services.upload(item, upload.filename if upload else "", upload.read() if upload else b"")
    except ServiceError as error:
        return _page(task, error.status, error.message, item_id)
    flash(f"“{item.material.name}”已上传第 {item.latest.version} 版。", "success")
    return redirect(url_for("projects.view_task", task_id=task.id), 303)


@bp.route("/tasks/<int:task_id>/submit", methods=["POST"])
@require(SUBMIT)
def submit_task(task_id: int):
    """Submit every uploaded material for review by medical affairs."""
    task = get_scoped_or_404(ProjectTask, task_id, current_user.principal, SUBMIT, seen_with=VIEW)
    form = SubmitForm()
    if not form.validate_on_submit():
        return _page(task, 422, "；".join(e for errs in form.errors.values() for e in errs) or "请检查填写内容。")
    try:
        count = services.submit(task, current_user, form.comment.data or "")
    except ServiceError as error:
        return _page(task, error.status, error.message)
    flash(f"已提交 {count} 项材料，等待医务科审核。", "success")
    return redirect(url_for("projects.view_task", task_id=task.id), 303)


@bp.route("/tasks/<int:task_id>/files/<int:file_id>")
@require(VIEW)
def download_file(task_id: int, file_id: int):
    """One uploaded version, to the task's department and medical affairs only; every download is audited."""
    task = get_scoped_or_404(ProjectTask, task_id, current_user.principal, VIEW)
    record = db.session.get(ItemFile, file_id)
    if record is None or record.item.task_id != task.id:
        abort(404)
    audit.record("export", "project_item", record.item_id, label=record.filename,
                 changes={"version": record.version, "filename": record.filename})
    return send_file(io.BytesIO(record.content), mimetype=record.content_type, as_attachment=True,
                     download_name=record.filename)
