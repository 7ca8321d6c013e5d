"""A department's task: upload files for each material (versions kept), submit, and the review's outcome.

Medical affairs reviews each submitted material through the approval engine's "project_material" process;
this module is its subject.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import case, func, select
from sqlalchemy.orm import defaultload, lazyload
from sqlalchemy.orm.attributes import set_committed_value

from portal.approvals import services as approvals
from portal.approvals import subjects
from portal.approvals.models import ApprovalAction
from portal.approvals.subjects import Summary
from portal.auth.models import User
from portal.core import audit
from portal.core.scoping import scope_query
from portal.core.service import ServiceError, atomic, clean
from portal.core.timeutil import format_date, utcnow
from portal.extensions import db

from .. import SUBMIT, VIEW
from ..files import check_file
from ..models import DocTemplate, ItemFile, Material, Project, ProjectItem, ProjectTask

UPLOADABLE = ("pending", "uploaded", "returned")
ATTACHABLE = set(approvals.ALLOWED_TYPES.values())


def _writable(task: ProjectTask) -> None:
    project = task.project
    if project.status == "closed":
        raise ServiceError("该项目已关闭，不能再上传或提交材料。", status=409)
    if project.status != "published":
        raise ServiceError("该项目尚未发布。", status=409)


def item_of(task: ProjectTask, item_id: int) -> ProjectItem:
    item = next((i for i in task.items if i.id == item_id), None)
    if item is None:
        raise ServiceError("该材料不属于这个任务。", status=404)
    return item


def upload(item: ProjectItem, filename: str, content: bytes) -> ItemFile:
    """A new version of the department's file for one material; earlier versions are kept."""
    _writable(item.task)
    if item.status not in UPLOADABLE:
        raise ServiceError(f"该材料{item.status_label}，不能再上传。", status=409)
    content_type = check_file(filename, content)
    version = (db.session.scalar(select(func.max(ItemFile.version)).where(ItemFile.item_id == item.id)) or 0) + 1
    record = ItemFile(item_id=item.id, version=version, filename=clean(filename)[-200:], content_type=content_type,
                      size=len(content), sha256=hashlib.sha256(content).hexdigest(), content=content)
    db.session.add(record)
    before = item.status
    item.status = "uploaded"
    db.session.flush()
    db.session.expire(item, ["files"])
    audit.record("update", "project_item", item.id, label=_label(item),
                 changes={"version": version, "filename": record.filename, "status": [before, "uploaded"]})
    return record


def _label(item: ProjectItem) -> str:
    return f"{item.task.project.title}：{item.task.department.name}·{item.material.name}"


@atomic()
def submit(task: ProjectTask, user: User, comment: str = "") -> int:
    """Submit every uploaded material for review; returned ones go back to their own approval."""
    _writable(task)
    ready = [item for item in task.items if item.status == "uploaded"]
    if not ready:
        raise ServiceError("没有可提交的材料：请先上传材料（已提交、已通过的材料无需再提交）。", status=409)
    comment = clean(comment)[:2000]
    for item in ready:
        item.status, item.submitted_at, item.comment = "submitted", utcnow(), ""
        # The reviewer sees the submitted version on the approval page (PDF and images inline, Excel as a table);
        # Word files are opened from the task page.
        latest = item.latest
        files = [(latest.filename, latest.content)] if latest and latest.content_type in ATTACHABLE else []
        if item.approval_id:
            approvals.resubmit(item.approval_id, user, comment, files)
        else:
            instance = approvals.submit("project_material", entity_type="project_item", entity_id=item.id,
                                        title=f"项目材料：{_label(item)}"[:200], applicant=user,
                                        department_id=task.department_id, comment=comment, files=files)
            item.approval_id = instance.id
        audit.record("update", "project_item", item.id, label=_label(item), changes={"status": "submitted"})
    return len(ready)


def list_query(principal, perm=VIEW, open_only: bool = False):
    """The tasks of published and closed projects in the departments the principal reaches (with their project
    and department; items and materials are not loaded for a list: `progress_of` counts them)."""
    stmt = (select(ProjectTask).join(Project, Project.id == ProjectTask.project_id)
            .where(Project.status.in_(("published", "closed")))
            .options(lazyload(ProjectTask.items), defaultload(ProjectTask.project).lazyload(Project.materials)))
    if open_only:
        stmt = stmt.where(Project.status == "published", ProjectTask.id.in_(
            select(ProjectItem.task_id).where(ProjectItem.status.in_(UPLOADABLE))))
    stmt = scope_query(stmt, ProjectTask.department_id, principal, perm)
    return stmt.order_by(Project.status.desc(), Project.deadline, ProjectTask.id)


def my_tasks_query(principal, open_only: bool = False):
    return list_query(principal, SUBMIT, open_only)


def progress_of(task_ids: list[int]) -> dict[int, tuple[int, int]]:
    """(passed, all) materials of each task: one grouped query for a page of tasks."""
    if not task_ids:
        return {}
    stmt = (select(ProjectItem.task_id, func.count(case((ProjectItem.status == "passed", 1))), func.count())
            .where(ProjectItem.task_id.in_(task_ids)).group_by(ProjectItem.task_id))
    found = {task_id: (int(done), int(count)) for task_id, done, count in db.session.execute(stmt)}
    return {task_id: found.get(task_id, (0, 0)) for task_id in task_ids}


def load_for_page(task_id: int) -> ProjectTask | None:
    """The task as its page shows it: the project without its material list and the items' templates without their
    versions (the page shows neither). Held by the caller, it is what `get_scoped_or_404` then finds loaded."""
    return db.session.scalar(select(ProjectTask).where(ProjectTask.id == task_id).options(
        defaultload(ProjectTask.project).lazyload(Project.materials),
        defaultload(ProjectTask.items).defaultload(ProjectItem.material).defaultload(Material.template)
        .lazyload(DocTemplate.versions)))


def load_files(task: ProjectTask) -> None:
    """Every file version of the task's items in one query (the page lists them all), newest first per item."""
    by_item: dict[int, list[ItemFile]] = {item.id: [] for item in task.items}
    for record in db.session.scalars(select(ItemFile).where(ItemFile.item_id.in_(list(by_item)))
                                     .order_by(ItemFile.item_id, ItemFile.version.desc())):
        by_item[record.item_id].append(record)
    for item in task.items:
        set_committed_value(item, "files", by_item[item.id])


class ItemSubject:
    entity_type = "project_item"
    label = "项目材料"

    def summary(self, entity_id: int) -> Summary | None:
        item = db.session.get(ProjectItem, entity_id)
        if item is None:
            return None
        latest = item.latest
        return Summary(title=_label(item), url=f"/projects/tasks/{item.task_id}", facts=[
            ("项目", item.task.project.title), ("科室", item.task.department.name), ("材料", item.material.name),
            ("提交截止", format_date(item.task.project.deadline)),
            ("文件", f"{latest.filename}（第 {latest.version} 版）" if latest else "—")])

    def _set(self, entity_id: int, status: str, instance=None) -> ProjectItem:
        item = db.session.get(ProjectItem, entity_id)
        item.status, item.decided_at = status, utcnow()
        if instance is not None:
            item.comment = db.session.scalar(
                select(ApprovalAction.comment).where(ApprovalAction.instance_id == instance.id)
                .order_by(ApprovalAction.id.desc()).limit(1)) or ""
        return item

    def on_approved(self, entity_id, instance):
        self._set(entity_id, "passed", instance)

    def on_returned(self, entity_id, instance):
        self._set(entity_id, "returned", instance)

    def on_rejected(self, entity_id, instance):
        self._set(entity_id, "returned", instance).approval_id = None  # a rejection needs a new submission

    def on_withdrawn(self, entity_id, instance):
        self._set(entity_id, "uploaded")


subjects.register(ItemSubject())
