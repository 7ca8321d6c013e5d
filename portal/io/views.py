"""Import pages: template, upload and preview, commit, error report, and the import log."""

from __future__ import annotations

import hashlib

from flask import abort, current_app, flash, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import select

from portal.core.listing import arg_int, paginate
from portal.core.permissions import REGISTRY, has_permission, require
from portal.core.redis_conn import get_redis
from portal.core.rendering import render
from portal.core.service import ServiceError
from portal.core.timeutil import local_today
from portal.extensions import db

from . import IMPORT_DATA, bp, imports
from .export import XLSX_MIMETYPE, send_xlsx
from .models import MODES, ImportLog

UPLOAD_TTL = 3600  # an uploaded file waits this long between preview and commit


def _type(code: str) -> imports.ImportType:
    import_type = imports.TYPES.get(code)
    if import_type is None:
        abort(404)
    if import_type.permission and not has_permission(current_user, REGISTRY[import_type.permission]):
        abort(403)
    return import_type


def _upload_key(code: str, sha: str) -> str:
    return f"portal:import:{current_user.id}:{code}:{sha}"


def _recent(code: str):
    return db.session.scalars(select(ImportLog).where(ImportLog.import_type == code)
                              .order_by(ImportLog.id.desc()).limit(5)).all()


@bp.route("/<code>", methods=["GET"])
@require(IMPORT_DATA)
def start_import(code: str):
    """The upload form of one import type, with its recent imports."""
    import_type = _type(code)
    return render("io/import_start.html", import_type=import_type, modes=MODES, recent=_recent(code), error=None)


@bp.route("/<code>/template")
@require(IMPORT_DATA)
def download_template(code: str):
    """The import template with an example row and a sheet of instructions."""
    import_type = _type(code)
    return send_xlsx(imports.template(import_type), f"{import_type.label}导入模板.xlsx")


@bp.route("/<code>/preview", methods=["POST"])
@require(IMPORT_DATA)
def preview_import(code: str):
    """Check the uploaded file and show what would happen; nothing is written yet."""
    import_type = _type(code)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return render("io/import_start.html", status=422, import_type=import_type, modes=MODES,
                      recent=_recent(code), error="请选择要导入的 .xlsx 文件。")
    content = upload.read()
    try:
        result = imports.preview(code, upload.filename, content)
    except ServiceError as error:
        return render("io/import_start.html", status=422, import_type=import_type, modes=MODES,
                      recent=_recent(code), error=error.message)
    get_redis().set(_upload_key(code, result.sha256), content, ex=UPLOAD_TTL)
    get_redis().set(_upload_key(code, result.sha256) + ":name", upload.filename[-200:], ex=UPLOAD_TTL)
    return render("io/import_preview.html", import_type=import_type, result=result, modes=MODES,
                  filename=upload.filename)


def _stored(code: str, sha: str) -> tuple[str, bytes]:
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        abort(400, "文件标识无效，请重新上传。")
    content = get_redis().get(_upload_key(code, sha))
    name = get_redis().get(_upload_key(code, sha) + ":name")
    if content is None or hashlib.sha256(content).hexdigest() != sha:
        abort(410, "上传的文件已过期，请重新上传。")
    return (name or b"import.xlsx").decode("utf-8"), content


@bp.route("/<code>/commit", methods=["POST"])
@require(IMPORT_DATA)
def commit_import(code: str):
    """Write the previewed file in one transaction with the chosen mode."""
    import_type = _type(code)
    filename, content = _stored(code, request.form.get("sha256", ""))
    try:
        log = imports.commit(code, filename, content, request.form.get("mode", ""), user_id=current_user.id)
    except ServiceError as error:
        return render("io/import_start.html", status=422, import_type=import_type, modes=MODES,
                      recent=_recent(code), error=error.message)
    flash(f"导入完成：新增 {log.rows_new} 条，更正 {log.rows_updated} 条，未变 {log.rows_unchanged} 条。", "success")
    return redirect(url_for("io.start_import", code=code), 303)


@bp.route("/<code>/errors/<sha256>")
@require(IMPORT_DATA)
def download_error_report(code: str, sha256: str):
    """The uploaded rows that have errors, annotated, as .xlsx."""
    _type(code)
    filename, content = _stored(code, sha256)
    try:
        result = imports.preview(code, filename, content)
    except ServiceError as error:
        abort(422, error.message)
    return send_xlsx(imports.error_report(result), f"导入错误报告_{local_today():%Y%m%d}.xlsx")


@bp.route("/logs")
@require(IMPORT_DATA)
def list_import_logs():
    """Every import: who, when, which file, how, with what result."""
    stmt = select(ImportLog).order_by(ImportLog.id.desc())
    page = paginate(stmt, arg_int("page", 1), current_app.config["PAGE_SIZE"])
    return render("io/import_log_list.html", page=page, args={}, types=imports.TYPES)


@bp.route("/logs/<int:log_id>/file")
@require(IMPORT_DATA)
def download_import_file(log_id: int):
    """The original file of an import."""
    log = db.session.get(ImportLog, log_id) if log_id < 2**31 else None
    if log is None:
        abort(404)
    _type(log.import_type)
    response = send_xlsx(log.content, log.filename)
    response.mimetype = XLSX_MIMETYPE
    return response
