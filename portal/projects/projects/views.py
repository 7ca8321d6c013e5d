"""Projects: list and search, draft editing, publish and close, the progress matrix with export, the archive."""

from __future__ import annotations

import os
import tempfile

from flask import abort, current_app, flash, redirect, request, send_file, url_for
from flask_login import current_user

from portal.auth.org import department_tree
from portal.core.forms import select_choices
from portal.core.listing import arg_choice, arg_int, arg_str, paginate
from portal.core.permissions import require
from portal.core.rendering import render
from portal.core.scoping import get_or_404
from portal.core.service import ServiceError
from portal.core.timeutil import local_today
from portal.io.export import Column, export_rows

from .. import MANAGE, bp
from ..models import ITEM_STATES, PROJECT_STATES, DocTemplate, Project, ProjectArchive
from ..templates.services import list_query as template_query
from . import services
from .forms import MATERIAL_ROWS, ActionForm, ProjectForm


@bp.route("")
@require(MANAGE)
def list_projects():
    """Every project (drafts, in progress, closed), searchable by title, description and category."""
    q, status, category = arg_str("q", 100), arg_choice("status", PROJECT_STATES), arg_str("category", 60)
    args = {"q": q, "status": status, "category": category}
    page = paginate(services.list_query(q, status, category), arg_int("page", 1), current_app.config["PAGE_SIZE"])
    return render("projects/projects/list.html", "projects/projects/_rows.html", page=page, args=args,
                  states=PROJECT_STATES, categories={c: c for c in services.category_choices()}, today=local_today())


def _template_choices():
    from portal.extensions import db

    rows = db.session.scalars(template_query()).all()
    return [("", "（不使用模板）")] + [(t.id, f"{t.category.name}：{t.name}") for t in rows]


def target_tree() -> list[tuple[int, str, int]]:
    """Clinical departments and wards in tree order with their depth under the divisions (the tree picker)."""
    depth: dict[int, int] = {}
    rows = []
    for d in department_tree(include_inactive=False):
        if d.kind in services.TARGET_KINDS:
            depth[d.id] = depth[d.parent_id] + 1 if d.parent_id in depth else 0
            rows.append((d.id, d.name, depth[d.id]))
    return rows


def _prepare(form: ProjectForm) -> None:
    form.department_ids.choices = select_choices([(d, name) for d, name, _depth in target_tree()])
    templates = select_choices(_template_choices())
    for entry in form.materials:
        entry.template_id.choices = templates


def _data(form: ProjectForm) -> services.ProjectData:
    materials = [services.MaterialSpec(e.form.name.data, e.form.note.data or "", e.form.template_id.data)
                 for e in form.materials if (e.form.name.data or "").strip()]
    return services.ProjectData(form.category.data, form.title.data, form.description.data or "",
                                form.starts_on.data, form.ends_on.data, form.deadline.data,
                                list(form.department_ids.data or []), materials)


def _form_page(form: ProjectForm, project: Project | None, status: int):
    return render("projects/projects/form.html", status=status, form=form, project=project, tree=target_tree())


@bp.route("/new", methods=["GET", "POST"])
@require(MANAGE)
def new_project():
    """A new project, saved as a draft; "use this template" arrives as ?template_id= for the first material."""
    form = ProjectForm()
    _prepare(form)
    if request.method == "GET":
        template_id = arg_int("template_id")
        template = get_or_404(DocTemplate, template_id) if template_id else None
        if template is not None:
            form.materials[0].form.name.data = template.name
            form.materials[0].form.template_id.data = template.id
    if form.validate_on_submit():
        try:
            project = services.save_draft(None, _data(form))
        except ServiceError as error:
            form.apply_error(error)
        else:
            flash("项目草稿已保存。核对后可发布给目标科室。", "success")
            return redirect(url_for("projects.view_project", project_id=project.id), 303)
    return _form_page(form, None, 422 if request.method == "POST" else 200)


@bp.route("/<int:project_id>/edit", methods=["GET", "POST"])
@require(MANAGE)
def edit_project(project_id: int):
    """Edit a draft (published and closed projects are read-only)."""
    project = get_or_404(Project, project_id)
    if project.status != "draft":
        abort(409, "只有草稿可以修改。")
    form = ProjectForm(obj=project) if request.method == "GET" else ProjectForm()
    if request.method == "GET":
        form.department_ids.data = [t.department_id for t in project.tasks]
        for entry, material in zip(form.materials, project.materials, strict=False):
            entry.form.name.data, entry.form.note.data = material.name, material.note
            entry.form.template_id.data = material.template_id
    _prepare(form)
    if form.validate_on_submit():
        try:
            services.save_draft(project, _data(form))
        except ServiceError as error:
            form.apply_error(error)
        else:
            flash("项目草稿已保存。", "success")
            return redirect(url_for("projects.view_project", project_id=project.id), 303)
    return _form_page(form, project, 422 if request.method == "POST" else 200)


@bp.route("/<int:project_id>")
@require(MANAGE)
def view_project(project_id: int):
    """The project, its materials and the departments x materials progress matrix."""
    project = get_or_404(Project, project_id)
    archives = project_archives(project)
    return render("projects/projects/detail.html", project=project, matrix=services.matrix(project),
                  states=ITEM_STATES, form=ActionForm(formdata=None), today=local_today(), archives=archives,
                  material_rows=MATERIAL_ROWS)


def project_archives(project: Project) -> list[ProjectArchive]:
    from sqlalchemy import select

    from portal.extensions import db

    return list(db.session.scalars(select(ProjectArchive).where(ProjectArchive.project_id == project.id)
                                   .order_by(ProjectArchive.id.desc()).limit(3)))


def _act(project_id: int, action, done: str):
    project = get_or_404(Project, project_id)
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400, "页面已过期，请刷新后重试。")
    try:
        action(project)
    except ServiceError as error:
        flash(error.message, "error")
        return render("projects/projects/detail.html", status=error.status, project=project,
                      matrix=services.matrix(project), states=ITEM_STATES, form=form, today=local_today(),
                      archives=project_archives(project), material_rows=MATERIAL_ROWS)
    flash(done, "success")
    return redirect(url_for("projects.view_project", project_id=project.id), 303)


@bp.route("/<int:project_id>/publish", methods=["POST"])
@require(MANAGE)
def publish_project(project_id: int):
    """Publish a draft to its target departments."""
    return _act(project_id, services.publish, "项目已发布，目标科室已收到通知。")


@bp.route("/<int:project_id>/close", methods=["POST"])
@require(MANAGE)
def close_project(project_id: int):
    """Close a project: read-only from now on."""
    return _act(project_id, lambda project: services.close(project, current_user),
                "项目已关闭，材料只读，仍可查询和下载归档；尚在审核中的材料已撤回。")


@bp.route("/<int:project_id>/export")
@require(MANAGE)
def export_matrix(project_id: int):
    """The progress matrix as .xlsx (one row per department, one column per material)."""
    project = get_or_404(Project, project_id)
    matrix = services.matrix(project)
    columns = [Column("科室", lambda r: r.department, 18)]
    for index, material in enumerate(matrix.materials):
        columns.append(Column(material.name, lambda r, i=index: r.cells[i].status_label if r.cells[i] else "—", 14))
    columns.append(Column("完成率", lambda r: f"{r.rate:.0%}", 10))
    columns.append(Column("是否超期", lambda r: "已超期" if matrix.overdue and r.rate < 1 else "", 10))
    return export_rows(matrix.rows, columns, f"项目进度_{project.title}", {"project": project.id}, "project")


@bp.route("/<int:project_id>/archive", methods=["POST"])
@require(MANAGE)
def archive_project(project_id: int):
    """All accepted materials as a zip by department: streamed from a temporary file for a small project,
    built by a job (then downloaded from its page) for a large one."""
    project = get_or_404(Project, project_id)
    if not ActionForm().validate_on_submit():
        abort(400, "页面已过期，请刷新后重试。")
    files = services.count_accepted(project)
    if files == 0:
        flash("还没有已通过的材料，无可归档。", "error")
        return redirect(url_for("projects.view_project", project_id=project.id), 303)
    if files > current_app.config.get("PROJECT_ARCHIVE_INLINE_FILES", services.ARCHIVE_INLINE_FILES):
        archive = services.start_archive(project)
        return redirect(url_for("projects.show_archive", archive_id=archive.id), 303)
    out = tempfile.TemporaryFile()  # noqa: SIM115 -- send_file streams it and closes it after the response
    services.write_archive(project, out)
    out.seek(0)
    services.record_archive_download(project, files)
    return send_file(out, mimetype="application/zip", as_attachment=True,
                     download_name=f"{project.title[:60]}_归档.zip")


@bp.route("/archives/<int:archive_id>")
@require(MANAGE)
def show_archive(archive_id: int):
    """A queued archive's state, refreshing until it is ready."""
    archive = get_or_404(ProjectArchive, archive_id)
    return render("projects/projects/archive.html", "projects/projects/_archive.html", archive=archive,
                  project=get_or_404(Project, archive.project_id))


@bp.route("/archives/<int:archive_id>/download")
@require(MANAGE)
def download_archive(archive_id: int):
    """The finished zip, streamed from disk."""
    archive = get_or_404(ProjectArchive, archive_id)
    if archive.state != "done" or not archive.path or not os.path.exists(archive.path):
        abort(404)
    project = get_or_404(Project, archive.project_id)
    services.record_archive_download(project, archive.files)
    return send_file(archive.path, mimetype="application/zip", as_attachment=True,
                     download_name=f"{project.title[:60]}_归档.zip")
