"""Big imports and big exports as RQ jobs, with their progress kept in Redis for the page to poll.

A job's state is a Redis hash (`portal:import-job:<id>` / `portal:export-job:<id>`): queued, running,
done or failed, rows done of rows in all, a Chinese message, and what the page links to. Only the
user who started a job sees it. The import runs `imports.commit` in the job's one transaction; the
export rebuilds its query from the registry with the user's own data scope and keeps the file in
Redis for a day.
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime, timedelta

import redis
from flask import current_app
from rq import Callback
from werkzeug.exceptions import HTTPException

from portal.core.actor import Actor, acting_as, current_actor
from portal.core.redis_conn import get_queue, get_redis
from portal.core.service import ServiceError
from portal.core.timeutil import format_datetime, local_today, utcnow
from portal.extensions import db

from . import IMPORT_DATA, export, imports
from .models import MODES

JOB_ID = re.compile(r"[0-9a-f]{32}")
STATE_TTL = 7 * 24 * 3600  # the state outlives the export file, so an old link says "expired", not "not found"
IMPORT_FILE_TTL = 24 * 3600  # the uploaded file waits this long for a busy queue
EXPORT_FILE_TTL = 24 * 3600
JOB_TIMEOUT = 2 * 3600  # RQ stops a job after this long (50 000 rows take minutes, not hours)
STATES = {"queued": "排队中", "running": "进行中", "done": "已完成", "failed": "失败"}
STAGES = {"check": "正在检查", "write": "正在写入"}
CRASHED = "后台任务意外中止（可能超时或服务重启），没有写入任何数据。请重试；如反复出现，请联系信息科。"


@dataclass
class JobState:
    id: str
    kind: str  # "import" or "export"
    user_id: int
    title: str  # the import type's or the list's Chinese name
    code: str  # the import type, or the registered export
    state: str = "queued"
    stage: str = ""
    done: int = 0
    total: int = 0
    message: str = ""
    filename: str = ""
    mode: str = ""  # imports
    period: str = ""  # imports in mode "replace": 2026-01-01..2026-01-31
    sheet: str = ""
    args: str = "{}"  # exports: the list's query arguments, as JSON, to rebuild the same query
    log_id: int = 0
    actor: str = "[]"  # JSON [name, ip, user agent]: the audit trail names the user, not the system
    created_at: str = ""
    expires_at: str = ""

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed")

    @property
    def state_label(self) -> str:
        return STATES.get(self.state, self.state)

    @property
    def stage_label(self) -> str:
        return STAGES.get(self.stage, "")

    @property
    def percent(self) -> int:
        """Checking an import is the first half of its bar, writing the second; an export only writes."""
        if self.state == "done":
            return 100
        share = min(self.done, self.total) / self.total if self.total else 0
        if self.kind == "import":
            return int(share * 50) + (50 if self.stage == "write" else 0)
        return int(share * 100)

    @property
    def mode_label(self) -> str:
        return MODES.get(self.mode, self.mode)

    @property
    def expires(self) -> datetime | None:
        return datetime.fromisoformat(self.expires_at) if self.expires_at else None

    @property
    def period_range(self) -> tuple[date, date] | None:
        if not self.period:
            return None
        start, end = self.period.split("..")
        return date.fromisoformat(start), date.fromisoformat(end)


def _key(kind: str, job_id: str) -> str:
    return f"portal:{kind}-job:{job_id}"


def _save(job: JobState) -> None:
    key = _key(job.kind, job.id)
    get_redis().hset(key, mapping={k: str(v) for k, v in asdict(job).items()})
    get_redis().expire(key, STATE_TTL)


def _update(job: JobState, **changes) -> None:
    for name, value in changes.items():
        setattr(job, name, value)
    get_redis().hset(_key(job.kind, job.id), mapping={k: str(v) for k, v in changes.items()})


def load(kind: str, job_id: str) -> JobState | None:
    """The job's state, or None for an unknown, expired or malformed id."""
    if not JOB_ID.fullmatch(job_id or ""):
        return None
    raw = get_redis().hgetall(_key(kind, job_id))
    if not raw:
        return None
    values = {k.decode(): v.decode("utf-8") for k, v in raw.items()}
    known = {f.name: f.type for f in fields(JobState)}
    data = {k: (int(v or 0) if known[k] == "int" else v) for k, v in values.items() if k in known}
    return JobState(**data)


def _new(kind: str, **values) -> JobState:
    actor = current_actor()
    return JobState(id=uuid.uuid4().hex, kind=kind, created_at=utcnow().isoformat(),
                    actor=json.dumps([actor.name, actor.ip, actor.user_agent], ensure_ascii=False), **values)


def _enqueue(job: JobState, function: str, on_failure: str) -> None:
    """Jobs by dotted name: the framework does not import jobs/, the worker does."""
    try:
        _save(job)
        get_queue().enqueue(function, job.id, job_timeout=JOB_TIMEOUT, on_failure=Callback(on_failure))
    except redis.RedisError:
        raise ServiceError("后台任务服务暂时不可用，请稍后重试。", status=503) from None


def _actor(job: JobState, user) -> Actor:
    name, ip, agent = [*json.loads(job.actor), "", "", ""][:3]
    return Actor(user.id, name or user.display_name, ip, agent)


def _user(job: JobState, *permission_codes: str):
    """The user who started the job, if they may still do what it does (accounts can change meanwhile)."""
    from portal.auth.models import User

    user = db.session.get(User, job.user_id)
    if user is None or not user.is_active_flag:
        raise ServiceError("发起任务的账户已停用，任务未执行。")
    missing = [code for code in permission_codes if code and code not in user.principal.permissions]
    if missing:
        raise ServiceError("您已不再具有执行该任务的权限，任务未执行。")
    return user


def _reporter(job: JobState):
    def report(stage: str, done: int) -> None:
        with contextlib.suppress(redis.RedisError):  # a missed progress step must not stop the job itself
            _update(job, stage=stage, done=done)

    return report


def _fail(job: JobState, message: str, link: str) -> dict:
    """Nothing of the job is kept; the user is told why, on the page and by a notification."""
    from portal.notify.services import notify

    db.session.rollback()
    _update(job, state="failed", message=message)
    notify([job.user_id], "system", f"{'导入' if job.kind == 'import' else '导出'}失败：{job.title}",
           f"{job.filename + '：' if job.filename else ''}{message}", link)
    return {"state": "failed", "message": message}


def abandon(kind: str, job_id: str) -> None:
    """RQ reports the job died (timeout, worker lost): mark it failed and tell the user, once."""
    job = load(kind, job_id)
    if job is not None and not job.finished:
        _fail(job, CRASHED, f"/imports/jobs/{job.id}" if kind == "import" else f"/exports/{job.id}")


# --- imports ---

def start_import(code: str, filename: str, content: bytes, mode: str, *, user_id: int, rows: int,
                 period: tuple[date, date] | None = None, sheet: str | None = None) -> JobState:
    """Queue the commit of a checked file; the caller shows /imports/jobs/<id>."""
    job = _new("import", user_id=user_id, title=imports.TYPES[code].label, code=code, total=rows,
               filename=filename[-200:], mode=mode, sheet=sheet or "",
               period=f"{period[0].isoformat()}..{period[1].isoformat()}" if period else "")
    try:
        get_redis().set(_key("import", job.id) + ":file", content, ex=IMPORT_FILE_TTL)
    except redis.RedisError:
        raise ServiceError("后台任务服务暂时不可用，请稍后重试。", status=503) from None
    _enqueue(job, "jobs.io.run_import", "jobs.io.import_crashed")
    return job


def run_import(job_id: str) -> dict:
    """The job's body: commit the file in this one transaction, then say so on the page and to the user."""
    from portal.notify.services import notify

    job = load("import", job_id)
    if job is None:
        return {"state": "missing"}
    if job.state != "queued":  # a job run twice (a retry) must not import twice
        return {"state": job.state}
    _update(job, state="running", stage="check", done=0)
    link = f"/imports/jobs/{job.id}"
    file_key = _key("import", job.id) + ":file"
    try:
        import_type = imports.TYPES.get(job.code)
        if import_type is None:
            raise ServiceError("该导入类型已不存在。")
        user = _user(job, IMPORT_DATA.code, import_type.permission)
        content = get_redis().get(file_key)
        if content is None:
            raise ServiceError("上传的文件已过期，请重新上传。")
        with acting_as(_actor(job, user)):
            log = imports.commit(job.code, job.filename, content, job.mode, user_id=user.id,
                                 period=job.period_range, sheet=job.sheet or None, progress=_reporter(job))
    except ServiceError as error:
        return _fail(job, error.message, link)
    except Exception:
        current_app.logger.exception("import job %s failed", job.id)
        return _fail(job, "导入时发生系统错误，已全部撤销，没有写入任何数据。请稍后重试；如反复出现，请联系信息科。",
                     link)
    summary = (f"新增 {log.rows_new} 条，更正 {log.rows_updated} 条，未变 {log.rows_unchanged} 条"
               + (f"，删除 {log.rows_deleted} 条" if job.mode == "replace" else "") + "。")
    notify([job.user_id], "system", f"导入完成：{job.title}", f"文件“{job.filename}”：{summary}",
           f"/imports/logs/{log.id}")
    # Committed here, before the page says "done": the log it links to must exist when it is clicked.
    db.session.commit()
    _update(job, state="done", done=job.total, message=summary, log_id=log.id)
    get_redis().delete(file_key)
    return {"state": "done", "log_id": log.id}


# --- exports ---

def start_export(code: str, args: dict[str, str], *, user_id: int, title: str, rows: int) -> JobState:
    """Queue a registered export; the caller shows /exports/<id>."""
    job = _new("export", user_id=user_id, title=title, code=code, total=rows,
               args=json.dumps(args, ensure_ascii=False))
    _enqueue(job, "jobs.io.run_export", "jobs.io.export_crashed")
    return job


def run_export(job_id: str) -> dict:
    """The job's body: rebuild the user's query with their current scope, write the file, keep it a day."""
    from portal.notify.services import notify

    job = load("export", job_id)
    if job is None:
        return {"state": "missing"}
    if job.state != "queued":
        return {"state": job.state}
    _update(job, state="running", stage="write", done=0)
    link = f"/exports/{job.id}"
    try:
        entry = export.EXPORTS.get(job.code)
        if entry is None:
            raise ServiceError("该导出已不再提供。")
        user = _user(job, entry.permission.code)
        args = json.loads(job.args)
        with current_app.test_request_context("/", query_string=args):
            spec = entry.build(user, args)
        # Leaving the request context ended the session (teardown_request): load the user afresh.
        user = _user(job, entry.permission.code)
        total = export.count_rows(spec.stmt)
        _update(job, total=total)
        if total > export.EXPORT_LIMIT:
            raise ServiceError(export.too_many(total))
        with acting_as(_actor(job, user)):
            content = export.write_export(spec, progress=lambda done: _reporter(job)("write", done))
        filename = f"{spec.name}_{local_today():%Y%m%d}.xlsx"
        get_redis().set(_key("export", job.id) + ":file", content, ex=EXPORT_FILE_TTL)
    except ServiceError as error:
        return _fail(job, error.message, link)
    except HTTPException as error:  # the list's own argument checks (bad_request) have Chinese messages
        return _fail(job, str(error.description), link)
    except Exception:
        current_app.logger.exception("export job %s failed", job.id)
        return _fail(job, "导出时发生系统错误，请稍后重试；如反复出现，请联系信息科。", link)
    expires = utcnow() + timedelta(seconds=EXPORT_FILE_TTL)
    notify([job.user_id], "system", f"导出完成：{job.title}",
           f"共 {total} 条记录，文件保留至 {format_datetime(expires)}。", link)
    db.session.commit()  # the audit record and the notification, before the page offers the file
    _update(job, state="done", done=total, filename=filename, expires_at=expires.isoformat(),
            message=f"共 {total} 条记录。")
    return {"state": "done", "rows": total}


def export_file(job: JobState) -> bytes | None:
    """The finished file, or None once it has expired."""
    return get_redis().get(_key("export", job.id) + ":file")


def export_available(job: JobState) -> bool:
    return bool(get_redis().exists(_key("export", job.id) + ":file"))
