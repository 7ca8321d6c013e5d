"""Projects: drafts, publishing to departments, closing; the progress matrix; overdue reminders; the archive."""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import NamedTuple

from flask import current_app
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import lazyload

from portal.approvals import services as approvals
from portal.auth.models import Department, User
from portal.auth.queries import active_user_ids_with_roles
from portal.core import audit
from portal.core.scoping import scope_query
from portal.core.service import ServiceError, clean
from portal.core.timeutil import format_date, local_today, utcnow
from portal.extensions import db
from portal.notify.services import notify

from .. import VIEW
from ..files import safe_name
from ..models import ITEM_STATES, DocTemplate, ItemFile, Material, Project, ProjectArchive, ProjectItem, ProjectTask

FIELDS = ("category", "title", "description", "starts_on", "ends_on", "deadline", "status")
MAX_MATERIALS = 20
OPEN_ITEM_STATES = ("pending", "uploaded", "returned")
TARGET_KINDS = ("department", "ward")
ARCHIVE_INLINE_FILES = 40  # more accepted files than this: the zip is built by a job


@dataclass
class MaterialSpec:
    name: str
    note: str = ""
    template_id: int | None = None


@dataclass
class ProjectData:
    category: str
    title: str
    description: str
    starts_on: date
    ends_on: date
    deadline: date
    department_ids: list[int] = field(default_factory=list)
    materials: list[MaterialSpec] = field(default_factory=list)


def department_people(department_id: int) -> list[int]:
    return active_user_ids_with_roles(("dept_head", "dept_secretary"), department_id)


def _check(data: ProjectData) -> None:
    if not clean(data.title):
        raise ServiceError("请填写项目名称。", field="title")
    if not clean(data.category):
        raise ServiceError("请填写项目类别。", field="category")
    if data.ends_on < data.starts_on:
        raise ServiceError("结束日期不能早于开始日期。", field="ends_on")
    if not data.starts_on <= data.deadline <= data.ends_on:
        raise ServiceError("提交截止日期应在项目起止日期之内。", field="deadline")
    if len(data.materials) > MAX_MATERIALS:
        raise ServiceError(f"所需材料最多 {MAX_MATERIALS} 项。", field="materials")
    names = [clean(m.name) for m in data.materials]
    if len(set(names)) != len(names):
        raise ServiceError("所需材料的名称不能重复。", field="materials")
    template_ids = {m.template_id for m in data.materials if m.template_id}
    if template_ids:
        found = set(db.session.scalars(select(DocTemplate.id).where(DocTemplate.id.in_(template_ids))))
        if template_ids - found:
            raise ServiceError("所选模板不存在。", field="materials")
    if data.department_ids:
        if None in data.department_ids:
            raise ServiceError("请选择在用的科室或病区（不能选医院或院区）。", field="department_ids")
        found = set(db.session.scalars(select(Department.id).where(
            Department.id.in_(data.department_ids), Department.is_active, Department.kind.in_(TARGET_KINDS))))
        if set(data.department_ids) - found:
            raise ServiceError("请选择在用的科室或病区（不能选医院或院区）。", field="department_ids")


def save_draft(project: Project | None, data: ProjectData) -> Project:
    """Create or edit a draft; its target departments are kept as tasks without items until publishing."""
    _check(data)
    if project is not None and project.status != "draft":
        raise ServiceError("只有草稿可以修改。", status=409)
    before = audit.snapshot(project, FIELDS) if project else None
    if project is None:
        project = Project(status="draft")
        db.session.add(project)
    project.category, project.title = clean(data.category)[:60], clean(data.title)[:200]
    project.description = clean(data.description)
    project.starts_on, project.ends_on, project.deadline = data.starts_on, data.ends_on, data.deadline
    db.session.flush()
    existing = {m.name: m for m in project.materials}
    keep = []
    for position, spec in enumerate(data.materials):
        name = clean(spec.name)[:200]
        material = existing.pop(name, None) or Material(project_id=project.id, name=name)
        material.position, material.note, material.template_id = position, clean(spec.note)[:500], spec.template_id
        db.session.add(material)
        keep.append(material)
    for material in existing.values():
        db.session.delete(material)
    tasks = {t.department_id: t for t in db.session.scalars(select(ProjectTask).where(
        ProjectTask.project_id == project.id))}
    for department_id in set(data.department_ids) - set(tasks):
        db.session.add(ProjectTask(project_id=project.id, department_id=department_id))
    for department_id in set(tasks) - set(data.department_ids):
        db.session.delete(tasks[department_id])
    db.session.flush()
    db.session.expire(project, ["materials", "tasks"])
    after = {**audit.snapshot(project, FIELDS), "materials": [m.name for m in keep],
             "departments": sorted(data.department_ids)}
    audit.record("create" if before is None else "update", "project", project.id, label=project.title,
                 before=before, after=after)
    return project


def publish(project: Project) -> Project:
    """Publish a draft: each target department gets its task with one item per material, and is told."""
    if project.status != "draft":
        raise ServiceError(f"该项目{project.status_label}，不能发布。", status=409)
    tasks = list(db.session.scalars(select(ProjectTask).where(ProjectTask.project_id == project.id)))
    if not project.materials:
        raise ServiceError("请至少列出一项所需材料后再发布。", field="materials")
    if not tasks:
        raise ServiceError("请至少选择一个目标科室后再发布。", field="department_ids")
    if project.deadline < local_today():
        raise ServiceError("提交截止日期已过，请修改后再发布。", field="deadline")
    for task in tasks:
        for material in project.materials:
            db.session.add(ProjectItem(task_id=task.id, material_id=material.id, status="pending"))
    project.status, project.published_at = "published", utcnow()
    db.session.flush()
    audit.record("update", "project", project.id, label=project.title, changes={"status": "published"})
    for task in tasks:
        notify(department_people(task.department_id), "projects", f"医务项目待提交：{project.title}",
               f"请于 {format_date(project.deadline)} 前提交{len(project.materials)}项材料。",
               f"/projects/tasks/{task.id}")
    return project


def close(project: Project, actor: User) -> Project:
    """Close a published project: read-only from now on, still listed and searchable. Materials still waiting
    for review are withdrawn from their reviewers (a closed project takes no decisions)."""
    if project.status != "published":
        raise ServiceError(f"该项目{project.status_label}，不能关闭。", status=409)
    project.status, project.closed_at = "closed", utcnow()
    waiting = db.session.scalars(
        select(ProjectItem.approval_id).join(ProjectTask, ProjectTask.id == ProjectItem.task_id)
        .where(ProjectTask.project_id == project.id, ProjectItem.approval_id.is_not(None),
               ProjectItem.status.in_(("submitted", "returned")))).all()
    withdrawn = sum(approvals.withdraw_for_subject(instance_id, actor, "项目已关闭") is not None
                    for instance_id in waiting)
    db.session.flush()
    audit.record("close", "project", project.id, label=project.title,
                 changes={"status": "closed", "withdrawn_reviews": withdrawn})
    return project


def list_query(q: str = "", status: str = "", category: str = ""):
    stmt = select(Project).options(lazyload(Project.materials))  # a list shows no materials
    if status:
        stmt = stmt.where(Project.status == status)
    if category:
        stmt = stmt.where(Project.category == category)
    if q:
        like = f"%{q}%"
        stmt = stmt.where(or_(Project.title.like(like), Project.description.like(like), Project.category.like(like)))
    return stmt.order_by(Project.deadline.desc(), Project.id.desc())


def category_choices() -> list[str]:
    return list(db.session.scalars(select(Project.category).distinct().order_by(Project.category)))


# -- Progress -----------------------------------------------------------------------------------------------

class Cell(NamedTuple):
    """One department's one material in the matrix."""

    item_id: int
    status: str

    @property
    def status_label(self) -> str:
        return ITEM_STATES[self.status]


@dataclass
class MatrixRow:
    task_id: int
    department: str  # the department's name
    cells: list[Cell | None]
    passed: int

    @property
    def rate(self) -> float:
        return self.passed / len(self.cells) if self.cells else 0.0


@dataclass
class Matrix:
    project: Project
    materials: list[Material]
    rows: list[MatrixRow]
    counts: dict[str, int]
    overdue: bool

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def rate(self) -> float:
        return self.counts.get("passed", 0) / self.total if self.total else 0.0


def matrix(project: Project) -> Matrix:
    """Departments x materials with each cell's state; the completion rate counts passed cells. One query of
    plain rows (each task with its department's name and its items' states), not ORM objects per cell."""
    materials = list(project.materials)
    tasks: dict[int, str] = {}  # in the departments' order
    items: dict[int, dict[int, Cell]] = {}
    for task_id, department, item_id, material_id, status in db.session.execute(
            select(ProjectTask.id, Department.name, ProjectItem.id, ProjectItem.material_id, ProjectItem.status)
            .join(Department, Department.id == ProjectTask.department_id)
            .outerjoin(ProjectItem, ProjectItem.task_id == ProjectTask.id)
            .where(ProjectTask.project_id == project.id)
            .order_by(Department.sort_order, Department.name, ProjectTask.id)):
        tasks.setdefault(task_id, department)
        if item_id is not None:
            items.setdefault(task_id, {})[material_id] = Cell(item_id, status)
    counts = dict.fromkeys(ITEM_STATES, 0)
    rows = []
    for task_id, department in tasks.items():
        by_material = items.get(task_id, {})
        cells = [by_material.get(m.id) for m in materials]
        for cell in cells:
            if cell is not None:
                counts[cell.status] += 1
        rows.append(MatrixRow(task_id, department, cells, sum(1 for c in cells if c and c.status == "passed")))
    return Matrix(project, materials, rows, counts, project.is_overdue(local_today()))


# -- Reminders ----------------------------------------------------------------------------------------------

def remind_overdue(today: date | None = None) -> int:
    """Tell each department with open materials of a published project past its deadline, once a day per task.

    The claim (reminded_on set from anything but today) is one UPDATE per task, so a second run the same day,
    even concurrent, sends nothing."""
    today = today or local_today()
    open_tasks = (select(ProjectTask.id).join(Project, Project.id == ProjectTask.project_id)
                  .where(Project.status == "published", Project.deadline < today,
                         or_(ProjectTask.reminded_on.is_(None), ProjectTask.reminded_on != today),
                         ProjectTask.id.in_(select(ProjectItem.task_id).where(
                             ProjectItem.status.in_(OPEN_ITEM_STATES)))))
    sent = 0
    for task_id in list(db.session.scalars(open_tasks)):
        claimed = db.session.execute(
            update(ProjectTask).where(ProjectTask.id == task_id,
                                      or_(ProjectTask.reminded_on.is_(None), ProjectTask.reminded_on != today))
            .values(reminded_on=today).execution_options(synchronize_session=False)).rowcount
        if claimed != 1:
            continue
        task = db.session.get(ProjectTask, task_id, populate_existing=True)
        missing = sum(1 for item in task.items if item.status in OPEN_ITEM_STATES)
        notify(department_people(task.department_id), "projects", f"医务项目已超期：{task.project.title}",
               f"截止 {format_date(task.project.deadline)}，本科室还有 {missing} 项材料未提交。",
               f"/projects/tasks/{task.id}")
        sent += 1
    return sent


# -- Archive ------------------------------------------------------------------------------------------------

def accepted_files(project: Project):
    """(file id, department name, material position, material name, filename) of each passed item's latest version,
    in department order."""
    latest = (select(ItemFile.item_id, func.max(ItemFile.version).label("version"))
              .group_by(ItemFile.item_id).subquery())
    stmt = (select(ItemFile.id, Department.name, Material.position, Material.name, ItemFile.filename)
            .join(latest, (latest.c.item_id == ItemFile.item_id) & (latest.c.version == ItemFile.version))
            .join(ProjectItem, ProjectItem.id == ItemFile.item_id)
            .join(ProjectTask, ProjectTask.id == ProjectItem.task_id)
            .join(Department, Department.id == ProjectTask.department_id)
            .join(Material, Material.id == ProjectItem.material_id)
            .where(ProjectTask.project_id == project.id, ProjectItem.status == "passed")
            .order_by(Department.sort_order, Department.name, Material.position))
    return db.session.execute(stmt).all()


def count_accepted(project: Project) -> int:
    return len(accepted_files(project))


def entry_names(rows) -> list[str]:
    """Zip entry names "<department>/<nn>_<material>_<file>", every component sanitised, duplicates numbered."""
    seen: set[str] = set()
    names = []
    for _id, department, position, material, filename in rows:
        base = f"{safe_name(department, '科室', 60)}/{position + 1:02d}_{safe_name(material, '材料', 40)}_" \
               f"{safe_name(filename, '文件', 80)}"
        name, n = base, 1
        while name in seen:
            n += 1
            stem, dot, ext = base.rpartition(".")
            name = f"{stem}({n}).{ext}" if dot else f"{base}({n})"
        seen.add(name)
        names.append(name)
    return names


def write_archive(project: Project, out) -> int:
    """Write the zip to a file object, one stored file at a time (only one file's bytes in memory)."""
    rows = accepted_files(project)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for row, name in zip(rows, entry_names(rows), strict=True):
            content = db.session.scalar(select(ItemFile.content).where(ItemFile.id == row[0]))
            with archive.open(name, "w", force_zip64=True) as entry:
                entry.write(content)
    return len(rows)


def archive_dir() -> str:
    path = os.path.join(current_app.instance_path, "project_archives")
    os.makedirs(path, exist_ok=True)
    return path


def record_archive_download(project: Project, files: int) -> None:
    audit.record("export", "project", project.id, label=project.title, changes={"archive_files": files})


def start_archive(project: Project) -> ProjectArchive:
    """Queue the zip of a large project: the row is committed first so the worker finds it."""
    from portal.core.redis_conn import get_queue

    archive = ProjectArchive(project_id=project.id, state="queued")
    db.session.add(archive)
    db.session.flush()
    audit.record("create", "project_archive", archive.id, label=project.title, after={"project": project.id})
    db.session.commit()
    try:
        get_queue().enqueue("jobs.projects.build_archive", archive.id, job_timeout=3600)
    except Exception:  # the queue is down: say so on the archive's page
        archive.state, archive.message, archive.finished_at = "failed", "后台任务服务暂不可用，请稍后重试。", utcnow()
        db.session.commit()
    return archive


def build_archive(archive_id: int) -> ProjectArchive:
    """The job: write the zip to disk (streamed, not in memory), then mark the row done."""
    archive = db.session.get(ProjectArchive, archive_id)
    if archive is None or archive.state == "done":
        return archive
    project = db.session.get(Project, archive.project_id)
    path = os.path.join(archive_dir(), f"project-{project.id}-{archive.id}.zip")
    archive.state = "running"
    db.session.flush()
    with open(path + ".part", "wb") as out:
        files = write_archive(project, out)
    os.replace(path + ".part", path)
    archive = db.session.get(ProjectArchive, archive_id)
    archive.state, archive.path, archive.files = "done", path, files
    archive.size, archive.finished_at = os.path.getsize(path), utcnow()
    db.session.flush()
    return archive


ARCHIVE_KEEP = timedelta(days=1)


def purge_archives(now=None) -> int:
    """Delete archive zips older than a day (their rows stay, marked expired); a new one is a click away."""
    now = now or utcnow()
    old = db.session.scalars(select(ProjectArchive).where(ProjectArchive.state == "done",
                                                          ProjectArchive.finished_at < now - ARCHIVE_KEEP))
    count = 0
    for archive in old:
        if archive.path and os.path.exists(archive.path):
            os.remove(archive.path)
        archive.state, archive.path, archive.message = "expired", "", "归档文件已超过保留期（1 天），请重新生成。"
        count += 1
    db.session.flush()
    return count


def archive_failed(archive_id: int) -> None:
    archive = db.session.get(ProjectArchive, archive_id)
    if archive is not None and archive.state != "done":
        archive.state, archive.finished_at = "failed", utcnow()
        archive.message = "归档生成失败，请重试；仍失败请联系信息科。"


def scoped_tasks(principal, perm=VIEW):
    return scope_query(select(ProjectTask), ProjectTask.department_id, principal, perm)
