"""Import pages: template, upload and preview, replace confirmation, commit (in the request or as a job
with a progress bar), error report, and the import log; and the pages of export jobs."""

from __future__ import annotations

import hashlib
import json
from datetime import date

from flask import abort, current_app, flash, request, url_for
from flask_login import current_user
from sqlalchemy import select

from portal.auth.models import User
from portal.core.listing import arg_int, paginate
from portal.core.permissions import REGISTRY, SIGNED_IN, has_permission, require
from portal.core.redis_conn import get_redis
from portal.core.rendering import htmx_redirect, render
from portal.core.service import ServiceError
from portal.core.timeutil import local_today
from portal.extensions import db

from . import IMPORT_DATA, background, bp, imports, originals
from .export import XLSX_MIMETYPE, send_xlsx
from .models import MODES, ImportLog, Job
from .reader import ImportFileError, count_rows

UPLOAD_TTL = background.UPLOAD_TTL  # an uploaded file waits this long between preview and commit
EXPIRED = "导出文件已过期（只保留 24 小时），请回到列表重新导出。"


def _type(code: str) -> imports.ImportType:
    import_type = imports.TYPES.get(code)
    if import_type is None:
        abort(404)
    if import_type.permission and not has_permission(current_user, REGISTRY[import_type.permission]):
        abort(403)
    return import_type


def reads_first(view):
    """A POST that reads and checks before it writes: it starts with a plain BEGIN, not SQLite's write lock.

    Whatever it writes takes the lock itself, late and briefly (imports.write_lock).
    """
    view.reads_first = True
    return view


def _upload_key(code: str, sha: str) -> str:
    return background.upload_key(current_user.id, code, sha)


def _recent(code: str):
    return db.session.scalars(select(ImportLog).where(ImportLog.import_type == code)
                              .order_by(ImportLog.id.desc()).limit(5)).all()


def _jobs(code: str):
    """The user's own background jobs of this type, from the database."""
    return db.session.scalars(select(Job).where(Job.user_id == current_user.id, Job.code == code,
                                                Job.kind.in_(("import", "preview")))
                              .order_by(Job.created_at.desc()).limit(5)).all()


def _refuse(import_type: imports.ImportType, message: str, status: int = 422):
    return render("io/import_start.html", status=status, import_type=import_type, modes=MODES,
                  recent=_recent(import_type.code), jobs=_jobs(import_type.code), error=message)


def _job_rows(import_type: imports.ImportType) -> int:
    return import_type.job_threshold(current_app.config["IMPORT_JOB_ROWS"])


@bp.route("/imports/<code>", methods=["GET"])
@require(IMPORT_DATA)
def start_import(code: str):
    """The upload form of one import type, with its recent imports."""
    import_type = _type(code)
    return render("io/import_start.html", import_type=import_type, modes=MODES, recent=_recent(code),
                  jobs=_jobs(code), error=None)


@bp.route("/imports/<code>/template")
@require(IMPORT_DATA)
def download_template(code: str):
    """The import template with an example row and a sheet of instructions."""
    import_type = _type(code)
    return send_xlsx(imports.template(import_type), f"{import_type.label}导入模板.xlsx")


def _meta_of(result: imports.Preview) -> dict:
    period = result.period
    return {"rows": result.counts["total"], "period": [d.isoformat() for d in period] if period else None}


@bp.route("/imports/<code>/preview", methods=["POST"])
@reads_first
@require(IMPORT_DATA)
def preview_import(code: str):
    """Check the uploaded file and show what would happen; nothing is written yet.

    A file over the type's job threshold is checked by a job: the page shows its progress, then the preview.
    """
    import_type = _type(code)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _refuse(import_type, "请选择要导入的 .xlsx 文件。")
    content = upload.read()
    try:
        rows = imports.count_data_rows(upload.filename, content, import_type, above=_job_rows(import_type))
    except ServiceError as error:
        return _refuse(import_type, error.message)
    sha = hashlib.sha256(content).hexdigest()
    key = _upload_key(code, sha)
    if rows is not None:
        get_redis().pipeline().set(key, content, ex=UPLOAD_TTL).set(key + ":name", upload.filename[-200:],
                                                                     ex=UPLOAD_TTL).delete(key + ":meta").execute()
        try:
            job = background.start_preview(code, upload.filename, sha, user_id=current_user.id, rows=rows)
        except ServiceError as error:
            return _refuse(import_type, error.message, error.status)
        return htmx_redirect(url_for("io.show_import_job", job_id=job.id))
    try:
        result = imports.preview(code, upload.filename, content)
    except ServiceError as error:
        return _refuse(import_type, error.message)
    # The row count and period are kept too: the commit step decides request or job without reading again.
    get_redis().pipeline().set(key, content, ex=UPLOAD_TTL).set(key + ":name", upload.filename[-200:], ex=UPLOAD_TTL) \
        .set(key + ":meta", json.dumps(_meta_of(result)), ex=UPLOAD_TTL).delete(key + ":errors").execute()
    return render("io/import_preview.html", import_type=import_type, result=result, modes=MODES,
                  filename=upload.filename, job_rows=_job_rows(import_type))


def _stored(code: str, sha: str) -> tuple[str, bytes]:
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        abort(400, "文件标识无效，请重新上传。")
    content = get_redis().get(_upload_key(code, sha))
    name = get_redis().get(_upload_key(code, sha) + ":name")
    if content is None or hashlib.sha256(content).hexdigest() != sha:
        abort(410, "上传的文件已过期，请重新上传。")
    return (name or b"import.xlsx").decode("utf-8"), content


def _meta(code: str, sha: str, filename: str, content: bytes) -> tuple[int, tuple[date, date] | None]:
    """Rows and period of the stored upload, as the preview found them (read again only if missing)."""
    raw = get_redis().get(_upload_key(code, sha) + ":meta")
    if raw is None:
        try:
            meta = _meta_of(imports.preview(code, filename, content))
        except ServiceError:
            try:
                meta = {"rows": count_rows(content, imports.TYPES[code].columns), "period": None}
            except ImportFileError as error:
                abort(422, str(error))
    else:
        meta = json.loads(raw)
    period = meta.get("period")
    return int(meta["rows"]), (date.fromisoformat(period[0]), date.fromisoformat(period[1])) if period else None


def _form_date(name: str) -> date | None:
    raw = request.form.get(name, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ServiceError(f"日期“{raw[:20]}”格式不正确，应为 2026-11-23。", field="period") from None


@bp.route("/imports/<code>/commit", methods=["POST"])
@reads_first
@require(IMPORT_DATA)
def commit_import(code: str):
    """Write the previewed file with the chosen mode: "replace" first shows what it would delete.

    Files with more rows than IMPORT_JOB_ROWS are committed by a job; the user watches its progress.
    """
    import_type = _type(code)
    sha = request.form.get("sha256", "")
    filename, content = _stored(code, sha)
    mode = request.form.get("mode", "")
    rows, file_period = _meta(code, sha, filename, content)
    period = None
    if mode == "replace":
        if not import_type.can_replace:
            return _refuse(import_type, "该导入类型不支持“替换该期间的数据”。")
        context = {"import_type": import_type, "sha256": sha, "filename": filename, "rows": rows,
                   "file_period": file_period, "error": None, "notice": None}
        chosen = "start" in request.form or "end" in request.form
        try:
            start, end = (_form_date("start"), _form_date("end")) if chosen else (file_period or (None, None))
            plan = imports.plan_replace(code, start, end, file_period)
        except ServiceError as error:
            return render("io/import_replace_confirm.html", status=422, plan=None, error=error.message,
                          start=request.form.get("start", ""), end=request.form.get("end", ""),
                          **{k: v for k, v in context.items() if k != "error"})
        confirmed = request.form.get("confirmed") == "1"
        if not confirmed or not plan.ready or request.form.get("counted") != plan.token:
            if confirmed and plan.ready:
                context["notice"] = "期间已更改：请核对将删除的记录数后再确认。"
            elif confirmed:
                context["notice"] = "请填写要替换的期间。"
            return render("io/import_replace_confirm.html", plan=plan, start=plan.start or "", end=plan.end or "",
                          **context)
        period = (plan.start, plan.end)
    try:
        if rows > _job_rows(import_type):
            job = background.start_import(code, filename, content, mode, user_id=current_user.id, rows=rows,
                                          period=period)
            return htmx_redirect(url_for("io.show_import_job", job_id=job.id))
        log = imports.commit(code, filename, content, mode, user_id=current_user.id, period=period)
    except ServiceError as error:
        return _refuse(import_type, error.message, error.status)
    deleted = f"，删除 {log.rows_deleted} 条" if mode == "replace" else ""
    flash(f"导入完成：新增 {log.rows_new} 条，更正 {log.rows_updated} 条，未变 {log.rows_unchanged} 条{deleted}。",
          "success")
    return htmx_redirect(url_for("io.start_import", code=code))


def _may_see(job: Job) -> bool:
    """The user who started an import, the import type's managers, or the auditor."""
    return originals.may_see(current_user, job.user_id, job.code)


def _job_context(job: Job) -> dict:
    import_type = imports.TYPES.get(job.code)
    preview = background.preview_of(job)
    return {"job": job, "import_type": import_type, "result": preview, "modes": MODES, "filename": job.filename,
            "job_rows": _job_rows(import_type) if import_type else 0,
            "retry_ready": job.state == "failed" and background.file_kept(job)}


@bp.route("/imports/jobs/<job_id>")
@require(IMPORT_DATA)
def show_import_job(job_id: str):
    """A big import's (or its preview's) progress: the page, and the partial htmx polls until it finishes."""
    job = background.load("import", job_id)
    if job is None or not _may_see(job):
        abort(404)
    background.sweep_if_stalled(job)
    return render("io/import_job.html", "io/_import_job_progress.html", **_job_context(job))


@bp.route("/imports/jobs/<job_id>/retry", methods=["POST"])
@reads_first
@require(IMPORT_DATA)
def retry_import_job(job_id: str):
    """Run a failed import (or preview) again with the same file, if the server still keeps it."""
    job = background.load("import", job_id)
    if job is None or job.user_id != current_user.id:
        abort(404)
    if job.code in imports.TYPES:
        _type(job.code)
    try:
        again = background.retry(job, current_user.id)
    except ServiceError as error:
        return render("io/import_job.html", "io/_import_job_progress.html", status=error.status,
                      retry_error=error.message, **_job_context(job))
    return htmx_redirect(url_for("io.show_import_job", job_id=again.id))


@bp.route("/imports/<code>/errors/<sha256>")
@require(IMPORT_DATA)
def download_error_report(code: str, sha256: str):
    """The uploaded rows that have errors, annotated, as .xlsx."""
    _type(code)
    filename, content = _stored(code, sha256)
    report = get_redis().get(_upload_key(code, sha256) + ":errors")  # a preview job wrote it already
    if report is not None:
        return send_xlsx(report, f"导入错误报告_{local_today():%Y%m%d}.xlsx")
    try:
        result = imports.preview(code, filename, content)
    except ServiceError as error:
        abort(422, error.message)
    return send_xlsx(imports.error_report(result), f"导入错误报告_{local_today():%Y%m%d}.xlsx")


# The import log is for importers (io.import) and the auditor (audit.view): one declared permission cannot say
# "either", so these views require a signed-in user and `originals` decides (404 for an import not theirs to see).
@bp.route("/imports/logs")
@require(SIGNED_IN)
def list_import_logs():
    """The imports the user may see (types they manage, their own; all for the auditor): who, when, which file."""
    if not originals.may_list(current_user):
        abort(403)
    stmt = originals.visible_logs(current_user).order_by(ImportLog.id.desc())
    page = paginate(stmt, arg_int("page", 1), current_app.config["PAGE_SIZE"])
    importable = {code: t for code, t in imports.TYPES.items() if originals.manages(current_user, code)}
    return render("io/import_log_list.html", page=page, args={}, types=imports.TYPES, importable=importable,
                  purged_notice=originals.purged_notice())


def _log(log_id: int) -> ImportLog:
    log = originals.visible_log(current_user, log_id)
    if log is None:
        abort(404)
    return log


@bp.route("/imports/logs/<int:log_id>")
@require(SIGNED_IN)
def show_import_log(log_id: int):
    """One import: who, when, the file, the mode and what it changed (finished jobs link here)."""
    log = _log(log_id)
    user = db.session.get(User, log.user_id) if log.user_id else None
    import_type = imports.TYPES.get(log.import_type)
    return render("io/import_log.html", log=log, user=user, type_label=import_type.label if import_type
                  else log.import_type, purged_notice=originals.purged_notice())


@bp.route("/imports/logs/<int:log_id>/file")
@require(SIGNED_IN)
def download_import_file(log_id: int):
    """The original file of an import; each download is audited."""
    log = _log(log_id)
    try:
        content = originals.download_original(log)
    except ServiceError as error:
        abort(error.status, error.message)
    response = send_xlsx(content, log.filename)
    response.mimetype = XLSX_MIMETYPE
    return response


def _own_export(job_id: str) -> Job:
    job = background.load("export", job_id)
    if job is None or job.user_id != current_user.id:  # an export is its owner's alone
        abort(404)
    background.sweep_if_stalled(job)
    if job.state == "done" and not background.export_available(job):
        abort(410, EXPIRED)
    return job


@bp.route("/exports/<job_id>")
@require(SIGNED_IN)
def show_export(job_id: str):
    """The finished export file (the notification links here); before that, the job's progress page."""
    job = _own_export(job_id)
    if job.state == "done":
        content = background.export_file(job)
        if content is None:
            abort(410, EXPIRED)
        return send_xlsx(content, job.filename)
    return render("io/export_job.html", job=job, submitted=job.state == "queued")


@bp.route("/exports/<job_id>/progress")
@require(SIGNED_IN)
def show_export_progress(job_id: str):
    """The export job's progress partial, polled every second until the file is ready."""
    job = _own_export(job_id)
    return render("io/export_job.html", "io/_export_job_progress.html", job=job, submitted=False)


@bp.route("/exports/<job_id>/retry", methods=["POST"])
@reads_first
@require(SIGNED_IN)
def retry_export(job_id: str):
    """Run a failed export again with the same filters."""
    job = _own_export(job_id)
    try:
        again = background.retry(job, current_user.id)
    except ServiceError as error:
        abort(error.status if error.status >= 400 else 422, error.message)
    return htmx_redirect(url_for("io.show_export", job_id=again.id))
