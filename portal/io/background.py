"""Big imports, their previews, and big exports as RQ jobs, each mirrored by a row of `jobs`.

The row (`models.Job`) is what the pages and the history read: queued, running, done or failed,
rows done of rows in all, a Chinese message, the result link and a heartbeat. A running job beats
its heartbeat as it reports progress; `sweep_stalled` (every minute, and when the page polls) marks a
job whose heartbeat stopped as failed and tells its user, whose page then offers a retry with the
same file while Redis still holds it. Only the user who started a job (and, for imports, holders of
the type's permission) see it.

Files wait in Redis: an import's upload for a day (kept after a failure, for the retry), a finished
export for a day. A preview job reads the upload the preview page stored and keeps its summary and
error report for the commit step.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import uuid
from datetime import date, datetime, timedelta

import redis
from flask import current_app
from rq import Callback
from sqlalchemy import select, text, update
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm.attributes import set_committed_value
from werkzeug.exceptions import HTTPException

from portal.core.actor import Actor, acting_as, current_actor
from portal.core.redis_conn import get_queue, get_redis
from portal.core.service import ServiceError
from portal.core.timeutil import format_datetime, local_today, utcnow
from portal.extensions import db, own_write_transaction, sqlite_begin

from . import IMPORT_DATA, export, imports
from .models import Job

JOB_ID = re.compile(r"[0-9a-f]{32}")
IMPORT_FILE_TTL = 24 * 3600  # the uploaded file waits this long for a busy queue (and for a retry)
UPLOAD_TTL = 3600  # an uploaded file waits this long between preview and commit
EXPORT_FILE_TTL = 24 * 3600
JOB_TIMEOUT = 2 * 3600  # RQ stops a job after this long (50 000 rows take minutes, not hours)
BEAT_EVERY = 2.0  # seconds between two heartbeats (and progress writes) of a running job
CRASHED = "后台任务意外中止（可能超时或服务重启），没有写入任何数据。请重试；如反复出现，请联系信息科。"
STALLED = "后台任务已停止响应（处理进程可能被系统终止），没有写入任何数据。请重试；如反复出现，请联系信息科。"
GONE = "原上传文件已不在服务器上（只保留 24 小时），请重新上传文件。"
UNAVAILABLE = "后台任务服务暂时不可用，请稍后重试。"
VERBS = {"import": "导入", "preview": "导入检查", "export": "导出"}


def _key(kind: str, job_id: str) -> str:
    return f"portal:{kind}-job:{job_id}"


def upload_key(user_id: int, code: str, sha: str) -> str:
    """Where the preview page keeps an upload until it is committed (per user, type and content)."""
    return f"portal:import:{user_id}:{code}:{sha}"


def link_of(job: Job) -> str:
    return f"/exports/{job.id}" if job.kind == "export" else f"/imports/jobs/{job.id}"


def load(kind: str, job_id: str) -> Job | None:
    """The job, or None for an unknown or malformed id or a job of another kind ("import" covers previews)."""
    if not JOB_ID.fullmatch(job_id or ""):
        return None
    job = db.session.get(Job, job_id)
    if job is None or (job.kind != kind and not (kind == "import" and job.kind == "preview")):
        return None
    return job


def _update(job: Job, **changes) -> None:
    """Change the job's row and commit it at once (a job's own progress is not part of its work)."""
    with _own_transaction():
        db.session.execute(update(Job).where(Job.id == job.id).values(**changes))
    _mirror(job, changes)


def _mirror(job: Job, values: dict) -> None:
    """Show what was written on the loaded row without marking it changed: a later flush of the job's
    own work must not write (and on PostgreSQL lock) the job row again."""
    for name, value in values.items():
        set_committed_value(job, name, value)


@contextlib.contextmanager
def _own_transaction():
    """A short write of the job row, committed at once: only between two pieces of the job's own work."""
    db.session.commit()  # ends a read snapshot; the job has written nothing of its own yet
    token = sqlite_begin.set("BEGIN IMMEDIATE")
    try:
        yield
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    finally:
        sqlite_begin.reset(token)


def _new(kind: str, **values) -> Job:
    actor = current_actor()
    return Job(id=uuid.uuid4().hex, kind=kind, state="queued", created_at=utcnow(),
               actor=json.dumps([actor.name, actor.ip, actor.user_agent], ensure_ascii=False), **values)


def _enqueue(job: Job, function: str, on_failure: str) -> Job:
    """Commit the row first (a worker must find it), then queue by dotted name (the framework does not
    import jobs/, the worker does); a queue that is down fails the row."""
    with imports.write_lock():
        db.session.add(job)
        db.session.flush()
    db.session.commit()
    try:
        get_queue().enqueue(function, job.id, job_timeout=JOB_TIMEOUT, on_failure=Callback(on_failure))
    except redis.RedisError:
        job.state, job.message, job.finished_at = "failed", UNAVAILABLE, utcnow()
        db.session.commit()
        raise ServiceError(UNAVAILABLE, status=503) from None
    return job


def _actor(job: Job, user) -> Actor:
    name, ip, agent = [*json.loads(job.actor or "[]"), "", "", ""][:3]
    return Actor(user.id, name or user.display_name, ip, agent)


def _user(job: Job, *permission_codes: str):
    """The user who started the job, if they may still do what it does (accounts can change meanwhile)."""
    from portal.auth.models import User

    user = db.session.get(User, job.user_id) if job.user_id else None
    if user is None or not user.is_active_flag:
        raise ServiceError("发起任务的账户已停用，任务未执行。")
    missing = [code for code in permission_codes if code and code not in user.principal.permissions]
    if missing:
        raise ServiceError("您已不再具有执行该任务的权限，任务未执行。")
    return user


class _Reporter:
    """Progress for the page and the heartbeat for the sweep, written at most every BEAT_EVERY seconds.

    While the job reads, the row is written and committed in a short transaction of its own. While it
    writes, its transaction must stay open: PostgreSQL gets the beat on a separate connection; SQLite's
    one writer is the job itself then, and nobody could sweep it meanwhile.
    """

    def __init__(self, job: Job) -> None:
        self.job = job
        self.last = 0.0
        self.stage = ""
        self.writing = False

    def __call__(self, stage: str, done: int) -> None:
        if stage == "write":
            self.writing = True
        now = time.monotonic()
        if now - self.last < BEAT_EVERY and stage == self.stage:
            return
        self.last, self.stage = now, stage
        values = {"stage": stage, "done": done, "heartbeat_at": utcnow()}
        with contextlib.suppress(SQLAlchemyError):  # a missed progress step must not stop the job itself
            if not self.writing:
                _update(self.job, **values)
                return
            engine = db.engine
            if engine.dialect.name != "sqlite":
                with engine.begin() as connection:
                    # Never wait on the job row: a beat that cannot be written at once is skipped.
                    connection.execute(text("SET LOCAL lock_timeout = '1s'"))
                    connection.execute(update(Job).where(Job.id == self.job.id, Job.state == "running")
                                       .values(**values))

    def guard(self) -> None:
        """Called once the write lock is held: a job the sweep gave up on must not write after all."""
        state = db.session.scalar(select(Job.state).where(Job.id == self.job.id))
        if state != "running":
            raise ServiceError(STALLED)


def _claim(job_id: str, kind: str) -> Job | None:
    """Queued -> running, exactly once (a job run twice by RQ does nothing the second time)."""
    job = load(kind, job_id)
    if job is None or job.kind != kind:
        return None
    with _own_transaction():
        claimed = db.session.execute(update(Job).where(Job.id == job_id, Job.state == "queued")
                                     .values(state="running", heartbeat_at=utcnow(), done=0)).rowcount
    db.session.refresh(job)
    return job if claimed == 1 else None


def _finish(job: Job, **values) -> None:
    """Mark the job done in the job's own transaction, unless the sweep marked it failed meanwhile."""
    values = {"state": "done", "finished_at": utcnow(), "heartbeat_at": utcnow(), **values}
    finished = db.session.execute(update(Job).where(Job.id == job.id, Job.state == "running").values(**values))
    if finished.rowcount != 1:
        raise ServiceError(STALLED)
    _mirror(job, values)


def _fail(job: Job, message: str) -> dict:
    """Nothing of the job is kept; the user is told why, on the page and by a notification."""
    from portal.notify.services import notify

    job_id = job.id
    db.session.rollback()
    with _own_transaction():
        job = db.session.get(Job, job_id)
        failed = db.session.execute(update(Job).where(Job.id == job_id, Job.state.in_(("queued", "running")))
                                    .values(state="failed", message=message, finished_at=utcnow())).rowcount
        if failed:
            _tell_failure(job, message, notify)
    db.session.refresh(job)
    return {"state": "failed", "message": message}


def _tell_failure(job: Job, message: str, notify) -> None:
    notify([job.user_id], "system", f"{VERBS.get(job.kind, '后台任务')}失败：{job.title}",
           f"{job.filename + '：' if job.filename else ''}{message}", link_of(job))


def abandon(kind: str, job_id: str) -> None:
    """RQ reports the job died (timeout, worker lost): mark it failed and tell the user, once."""
    job = load(kind, job_id)
    if job is not None and not job.finished:
        _fail(job, CRASHED)


def stalled_before() -> datetime:
    return utcnow() - timedelta(seconds=current_app.config["JOB_HEARTBEAT_TIMEOUT"])


def is_stalled(job: Job) -> bool:
    return job.state == "running" and (job.heartbeat_at is None or job.heartbeat_at < stalled_before())


def sweep_if_stalled(job: Job) -> None:
    """A page's poll also notices a job whose worker died (the scheduled sweep may be down too)."""
    if not is_stalled(job):
        return
    # A busy database is no error here: the next poll or the scheduled sweep will do it.
    with contextlib.suppress(OperationalError), own_write_transaction():
        sweep_stalled(job.id)
    db.session.refresh(job)


def sweep_stalled(job_id: str | None = None) -> int:
    """Mark running jobs whose heartbeat stopped (a killed worker) as failed and tell their users.

    Flushes only; the caller commits. One job, or all of them (the scheduled sweep).
    """
    from portal.notify.services import notify

    stmt = select(Job).where(Job.state == "running", Job.heartbeat_at < stalled_before())
    if job_id is not None:
        stmt = stmt.where(Job.id == job_id)
    marked = 0
    for job in db.session.scalars(stmt).all():
        # Conditional: a job that beat or finished a moment ago is left alone.
        done = db.session.execute(update(Job).where(Job.id == job.id, Job.state == "running",
                                                    Job.heartbeat_at < stalled_before())
                                  .values(state="failed", message=STALLED, finished_at=utcnow())).rowcount
        if done == 1:
            _tell_failure(job, STALLED, notify)
            marked += 1
        db.session.refresh(job)
    return marked


# --- imports ---

def start_import(code: str, filename: str, content: bytes, mode: str, *, user_id: int, rows: int,
                 period: tuple[date, date] | None = None, sheet: str | None = None, retry_of: str | None = None) -> Job:
    """Queue the commit of a checked file; the caller shows /imports/jobs/<id>."""
    job = _new("import", user_id=user_id, title=imports.TYPES[code].label, code=code, total=rows,
               filename=filename[-200:], mode=mode, sheet=sheet or "", retry_of=retry_of,
               period=f"{period[0].isoformat()}..{period[1].isoformat()}" if period else "")
    try:
        get_redis().set(_key("import", job.id) + ":file", content, ex=IMPORT_FILE_TTL)
    except redis.RedisError:
        raise ServiceError(UNAVAILABLE, status=503) from None
    return _enqueue(job, "jobs.io.run_import", "jobs.io.import_crashed")


def run_import(job_id: str) -> dict:
    """The job's body: check the file without the write lock, then commit it, then tell the user."""
    from portal.notify.services import notify

    job = _claim(job_id, "import")
    if job is None:
        current = db.session.get(Job, job_id)
        return {"state": current.state if current else "missing"}
    file_key = _key("import", job.id) + ":file"
    reporter = _Reporter(job)
    token = sqlite_begin.set("BEGIN")  # read first; imports.commit takes the write lock for the writing
    try:
        import_type = imports.TYPES.get(job.code)
        if import_type is None:
            raise ServiceError("该导入类型已不存在。")
        user = _user(job, IMPORT_DATA.code, import_type.permission)
        content = get_redis().get(file_key)
        if content is None:
            raise ServiceError(GONE)
        reporter("check", 0)
        with acting_as(_actor(job, user)):
            log = imports.commit(job.code, job.filename, content, job.mode, user_id=user.id,
                                 period=job.period_range, sheet=job.sheet or None, progress=reporter,
                                 before_write=reporter.guard)
            summary = (f"新增 {log.rows_new} 条，更正 {log.rows_updated} 条，未变 {log.rows_unchanged} 条"
                       + (f"，删除 {log.rows_deleted} 条" if job.mode == "replace" else "") + "。")
            notify([job.user_id], "system", f"导入完成：{job.title}", f"文件“{job.filename}”：{summary}",
                   f"/imports/logs/{log.id}")
            # In the import's own transaction: the page says "done" exactly when the rows are there.
            _finish(job, done=job.total, stage="write", message=summary, log_id=log.id, link=f"/imports/logs/{log.id}")
        db.session.commit()
    except ServiceError as error:
        return _fail(job, error.message)
    except Exception:
        current_app.logger.exception("import job %s failed", job.id)
        return _fail(job, "导入时发生系统错误，已全部撤销，没有写入任何数据。请稍后重试；如反复出现，请联系信息科。")
    finally:
        sqlite_begin.reset(token)
    with contextlib.suppress(redis.RedisError):
        get_redis().delete(file_key)
    return {"state": "done", "log_id": log.id}


def start_preview(code: str, filename: str, sha: str, *, user_id: int, rows: int | None,
                  sheet: str | None = None, retry_of: str | None = None) -> Job:
    """Queue the check of a big upload (already kept under `upload_key`); the caller shows its page."""
    job = _new("preview", user_id=user_id, title=imports.TYPES[code].label, code=code, total=rows or 0,
               filename=filename[-200:], sha256=sha, sheet=sheet or "", retry_of=retry_of)
    return _enqueue(job, "jobs.io.run_preview", "jobs.io.preview_crashed")


def run_preview(job_id: str) -> dict:
    """The job's body: read and check every row (nothing written), keep the summary and the error report."""
    job = _claim(job_id, "preview")
    if job is None:
        current = db.session.get(Job, job_id)
        return {"state": current.state if current else "missing"}
    reporter = _Reporter(job)
    key = upload_key(job.user_id or 0, job.code, job.sha256)
    token = sqlite_begin.set("BEGIN")  # a preview only reads
    try:
        import_type = imports.TYPES.get(job.code)
        if import_type is None:
            raise ServiceError("该导入类型已不存在。")
        _user(job, IMPORT_DATA.code, import_type.permission)
        content = get_redis().get(key)
        if content is None:
            raise ServiceError(GONE)
        reporter("check", 0)
        result = imports.preview(job.code, job.filename, content, job.sheet or None, progress=reporter)
        summary = result.summary()
        meta = {"rows": result.counts["total"], "period": summary["period"]}
        pipe = get_redis().pipeline().set(key + ":meta", json.dumps(meta), ex=UPLOAD_TTL)
        if result.invalid or result.duplicates:
            pipe.set(key + ":errors", imports.error_report(result), ex=UPLOAD_TTL)
        pipe.expire(key, UPLOAD_TTL).expire(key + ":name", UPLOAD_TTL).execute()
        counts = result.counts
        message = (f"共 {counts['total']} 行：新记录 {counts['new']}，更正 {counts['updated']}，"
                   f"重复 {counts['duplicate']}，有错误 {counts['invalid']}。")
        with _own_transaction():
            _finish(job, done=counts["total"], total=counts["total"], stage="check", message=message,
                    result=json.dumps(summary, ensure_ascii=False), link=link_of(job))
    except ServiceError as error:
        return _fail(job, error.message)
    except redis.RedisError:
        return _fail(job, UNAVAILABLE)
    except Exception:
        current_app.logger.exception("preview job %s failed", job.id)
        return _fail(job, "检查文件时发生系统错误，没有写入任何数据。请稍后重试；如反复出现，请联系信息科。")
    finally:
        sqlite_begin.reset(token)
    return {"state": "done"}


def preview_of(job: Job) -> imports.PreviewSummary | None:
    if job.kind != "preview" or job.state != "done" or not job.result:
        return None
    return imports.PreviewSummary(imports.TYPES[job.code], json.loads(job.result))


def retry(job: Job, user_id: int) -> Job:
    """Run a failed import, preview or export again, with the same file while it is still kept."""
    if job.state != "failed":
        raise ServiceError("只有失败的任务可以重试。", status=409)
    if job.kind == "export":
        return start_export(job.code, json.loads(job.args or "{}"), user_id=user_id, title=job.title, rows=job.total,
                            retry_of=job.id)
    if job.code not in imports.TYPES:
        raise ServiceError("该导入类型已不存在。", status=410)
    try:
        if job.kind == "preview":
            if not get_redis().exists(upload_key(job.user_id or 0, job.code, job.sha256)):
                raise ServiceError(GONE, status=410)
            return start_preview(job.code, job.filename, job.sha256, user_id=user_id, rows=job.total,
                                 sheet=job.sheet or None, retry_of=job.id)
        content = get_redis().get(_key("import", job.id) + ":file")
    except redis.RedisError:
        raise ServiceError(UNAVAILABLE, status=503) from None
    if content is None:
        raise ServiceError(GONE, status=410)
    return start_import(job.code, job.filename, content, job.mode, user_id=user_id, rows=job.total,
                        period=job.period_range, sheet=job.sheet or None, retry_of=job.id)


def file_kept(job: Job) -> bool:
    """Whether a retry can still use the file of a failed import or preview."""
    with contextlib.suppress(redis.RedisError):
        if job.kind == "export":
            return True
        if job.kind == "preview":
            return bool(get_redis().exists(upload_key(job.user_id or 0, job.code, job.sha256)))
        return bool(get_redis().exists(_key("import", job.id) + ":file"))
    return False


# --- exports ---

def start_export(code: str, args: dict[str, str], *, user_id: int, title: str, rows: int,
                 retry_of: str | None = None) -> Job:
    """Queue a registered export; the caller shows /exports/<id>."""
    job = _new("export", user_id=user_id, title=title, code=code, total=rows, retry_of=retry_of,
               args=json.dumps(args, ensure_ascii=False))
    return _enqueue(job, "jobs.io.run_export", "jobs.io.export_crashed")


def run_export(job_id: str) -> dict:
    """The job's body: rebuild the user's query with their current scope, write the file, keep it a day."""
    from portal.notify.services import notify

    job = _claim(job_id, "export")
    if job is None:
        current = db.session.get(Job, job_id)
        return {"state": current.state if current else "missing"}
    reporter = _Reporter(job)
    try:
        entry = export.EXPORTS.get(job.code)
        if entry is None:
            raise ServiceError("该导出已不再提供。")
        user = _user(job, entry.permission.code)
        args = json.loads(job.args)
        with current_app.test_request_context("/", query_string=args):
            spec = entry.build(user, args)
        # Leaving the request context ended the session (teardown_request): load the job and user afresh.
        job = db.session.get(Job, job_id)
        reporter.job = job
        user = _user(job, entry.permission.code)
        total = export.count_rows(spec.stmt)
        _update(job, total=total, stage="write", heartbeat_at=utcnow())
        if total > export.EXPORT_LIMIT:
            raise ServiceError(export.too_many(total))
        with acting_as(_actor(job, user)):
            content = export.write_export(spec, progress=lambda done: reporter("write", done))
        filename = f"{spec.name}_{local_today():%Y%m%d}.xlsx"
        get_redis().set(_key("export", job.id) + ":file", content, ex=EXPORT_FILE_TTL)
        expires = utcnow() + timedelta(seconds=EXPORT_FILE_TTL)
        notify([job.user_id], "system", f"导出完成：{job.title}",
               f"共 {total} 条记录，文件保留至 {format_datetime(expires)}。", link_of(job))
        # The audit record, the notification and "done", together, before the page offers the file.
        _finish(job, done=total, filename=filename, expires_at=expires, message=f"共 {total} 条记录。",
                link=link_of(job))
        db.session.commit()
    except ServiceError as error:
        return _fail(job, error.message)
    except HTTPException as error:  # the list's own argument checks (bad_request) have Chinese messages
        return _fail(job, str(error.description))
    except Exception:
        current_app.logger.exception("export job %s failed", job_id)
        return _fail(job, "导出时发生系统错误，请稍后重试；如反复出现，请联系信息科。")
    return {"state": "done", "rows": total}


def export_file(job: Job) -> bytes | None:
    """The finished file, or None once it has expired."""
    return get_redis().get(_key("export", job.id) + ":file")


def export_available(job: Job) -> bool:
    return bool(get_redis().exists(_key("export", job.id) + ":file"))
