"""The template library: list by category, upload, new versions, download, and previews in the page."""

from __future__ import annotations

import io

from flask import abort, current_app, flash, redirect, request, send_file, url_for

from portal.core.forms import select_choices
from portal.core.listing import arg_int, arg_str, paginate
from portal.core.permissions import require
from portal.core.rendering import render
from portal.core.scoping import get_or_404
from portal.core.service import ServiceError

from .. import TEMPLATES, VIEW, bp
from ..files import ACCEPT, DOCX, INLINE_TYPES, XLSX
from ..models import DocTemplate
from . import services
from .forms import CategoryForm, TemplateForm, VersionForm


def _categories():
    return {c.id: c.name for c in services.categories()}


@bp.route("/templates")
@require(VIEW)
def list_templates():
    """Templates by category, searchable."""
    q, category_id = arg_str("q", 100), arg_int("category_id")
    args = {"q": q, "category_id": category_id or ""}
    page = paginate(services.list_query(q, category_id), arg_int("page", 1), current_app.config["PAGE_SIZE"])
    return render("projects/templates/list.html", "projects/templates/_rows.html", page=page, args=args,
                  categories=_categories(), category_id=category_id, category_form=CategoryForm(formdata=None))


@bp.route("/templates/categories", methods=["POST"])
@require(TEMPLATES)
def add_category():
    """A new category."""
    form = CategoryForm()
    if form.validate_on_submit():
        try:
            services.add_category(form.name.data)
        except ServiceError as error:
            form.apply_error(error)
        else:
            flash(f"已新增分类“{form.name.data.strip()}”。", "success")
            return redirect(url_for("projects.list_templates"), 303)
    page = paginate(services.list_query(), 1, current_app.config["PAGE_SIZE"])
    return render("projects/templates/list.html", status=422, page=page, args={"q": "", "category_id": ""},
                  categories=_categories(), category_id=None, category_form=form)


@bp.route("/templates/new", methods=["GET", "POST"])
@require(TEMPLATES)
def new_template():
    """Upload a new template (its first version)."""
    form = TemplateForm()
    form.category_id.choices = select_choices([("", "（请选择）"), *_categories().items()])
    if form.validate_on_submit():
        upload = form.file.data
        try:
            template = services.create_template(
                category_id=form.category_id.data, name=form.name.data, description=form.description.data or "",
                filename=upload.filename if upload else "", content=upload.read() if upload else b"",
                note=form.note.data or "")
        except ServiceError as error:
            form.apply_error(error)
        else:
            flash("模板已上传。", "success")
            return redirect(url_for("projects.view_template", template_id=template.id), 303)
    return render("projects/templates/form.html", status=422 if request.method == "POST" else 200, form=form,
                  accept=ACCEPT)


def _detail(template: DocTemplate, form: VersionForm | None = None, status: int = 200):
    number = arg_int("v") or template.current_version
    version = services.version_of(template, number)
    if version is None:
        abort(404)
    rows, cut, preview_error = [], False, ""
    if version.content_type == XLSX:
        try:
            rows, cut = services.sheet_preview(version)
        except ServiceError as error:
            preview_error = error.message
    kind = ("pdf" if version.content_type == "application/pdf" else "image" if version.content_type in INLINE_TYPES
            else "sheet" if version.content_type == XLSX else "word" if version.content_type == DOCX else "file")
    return render("projects/templates/detail.html", status=status, template=template, version=version, kind=kind,
                  rows=rows, cut=cut, preview_error=preview_error, form=form or VersionForm(formdata=None),
                  accept=ACCEPT, max_rows=services.PREVIEW_ROWS)


@bp.route("/templates/<int:template_id>")
@require(VIEW)
def view_template(template_id: int):
    """A template, its versions and a preview of one version (?v=)."""
    return _detail(get_or_404(DocTemplate, template_id))


@bp.route("/templates/<int:template_id>/versions", methods=["POST"])
@require(TEMPLATES)
def add_version(template_id: int):
    """Upload a new version; earlier versions are kept."""
    template = get_or_404(DocTemplate, template_id)
    form = VersionForm()
    if form.validate_on_submit():
        upload = form.file.data
        try:
            version = services.add_version(template, upload.filename if upload else "",
                                           upload.read() if upload else b"", form.note.data or "")
        except ServiceError as error:
            form.file.errors = [error.message]
            return _detail(template, form, error.status)
        flash(f"已上传第 {version.number} 版。", "success")
        return redirect(url_for("projects.view_template", template_id=template.id), 303)
    return _detail(template, form, 422)


def _version_or_404(template_id: int, number: int):
    template = get_or_404(DocTemplate, template_id)
    version = services.version_of(template, number)
    if version is None:
        abort(404)
    return template, version


@bp.route("/templates/<int:template_id>/v/<int:number>/download")
@require(VIEW)
def download_template(template_id: int, number: int):
    """One version as a download (audited)."""
    template, version = _version_or_404(template_id, number)
    services.record_download(template, version)
    return send_file(io.BytesIO(version.content), mimetype=version.content_type, as_attachment=True,
                     download_name=version.filename)


@bp.route("/templates/<int:template_id>/v/<int:number>/inline")
@require(VIEW)
def inline_template(template_id: int, number: int):
    """A PDF or image version shown in the page (same origin, inline); other types are downloads only."""
    template, version = _version_or_404(template_id, number)
    if version.content_type not in INLINE_TYPES:
        abort(404)
    services.record_download(template, version)
    return send_file(io.BytesIO(version.content), mimetype=version.content_type, as_attachment=False,
                     download_name=version.filename)
