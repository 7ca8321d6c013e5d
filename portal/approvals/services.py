"""The approval engine: submit, approve, reject, return, resubmit, transfer, comment, withdraw, remind.

A task is claimed with a conditional UPDATE (status still pending, assignee is the actor), so two
concurrent sign-offs of the same task end with exactly one winner; the instance row is locked
before the step advances, so two approvers of one step cannot both move it on.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import func, select, update

from portal.auth.models import Department, User
from portal.auth.queries import active_user_ids_with_roles
from portal.core import audit
from portal.core.service import Conflict, ServiceError, atomic, clean
from portal.core.timeutil import utcnow
from portal.extensions import db
from portal.notify.services import notify

from . import subjects
from .models import (
    ApprovalAction,
    ApprovalAttachment,
    ApprovalInstance,
    ApprovalProcess,
    ApprovalStep,
    ApprovalTask,
    Committee,
)

MAX_COMMENT = 2000
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
ALLOWED_TYPES = {
    ".pdf": "application/pdf", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
MAGIC = {".pdf": b"%PDF", ".png": b"\x89PNG", ".jpg": b"\xff\xd8", ".jpeg": b"\xff\xd8", ".xlsx": b"PK\x03\x04"}


def _link(instance: ApprovalInstance) -> str:
    return f"/approvals/{instance.id}"


def process_by_code(code: str) -> ApprovalProcess:
    process = db.session.scalar(select(ApprovalProcess).where(ApprovalProcess.code == code))
    if process is None or not process.is_active:
        raise ServiceError("该审批流程不存在或已停用，请联系医务科。")
    if not process.steps:
        raise ServiceError("该审批流程尚未配置审批步骤，请联系医务科。")
    return process


def _department_head_ids(department_id: int | None) -> list[int]:
    """Heads of the applicant's department; a ward's applicant goes to the department above it."""
    dept = db.session.get(Department, department_id) if department_id else None
    while dept is not None:
        ids = active_user_ids_with_roles(("dept_head",), dept.id)
        if ids or dept.kind != "ward":
            return ids
        dept = dept.parent
    return []


def _role_holder_ids(role_code: str) -> list[int]:
    return active_user_ids_with_roles((role_code,))


# Who hears of an overdue step, and who signs off a step whose rule names only the applicant.
OFFICE_ROLE = "ma_admin"


def _rule_ids(step: ApprovalStep, instance: ApprovalInstance) -> list[int]:
    """Everyone the step's rule names (role, department head, committee, named user), active only."""
    if step.rule == "dept_head":
        return _department_head_ids(instance.department_id)
    if step.rule == "role":
        return _role_holder_ids(step.role_code)
    if step.rule == "committee":
        return [u.id for u in step.committee.members if u.is_active_flag] if step.committee else []
    return [step.user_id] if step.user and step.user.is_active_flag else []


def approvers_for(step: ApprovalStep, instance: ApprovalInstance) -> list[int]:
    """Who may sign the step off: whom its rule names, never the applicant.

    When the rule names the applicant alone (a department head's own request), the step goes to the
    medical affairs office instead: nobody signs off their own request, by any path.
    """
    ids = set(_rule_ids(step, instance))
    others = ids - {instance.applicant_id}
    if not others and instance.applicant_id in ids:
        others = set(_role_holder_ids(OFFICE_ROLE)) - {instance.applicant_id}
    return sorted(others)


def _involved_ids(instance: ApprovalInstance) -> set[int]:
    """The applicant and everyone who holds or has decided a task of this request (any step, any round)."""
    holders = db.session.scalars(select(ApprovalTask.assignee_id).where(
        ApprovalTask.instance_id == instance.id, ApprovalTask.status != "cancelled"))
    return {instance.applicant_id, *holders}


def _step_at(instance: ApprovalInstance, position: int) -> ApprovalStep | None:
    return next((s for s in instance.process.steps if s.position == position), None)


def transfer_candidates(task: ApprovalTask) -> list[User]:
    """Whom a task may be transferred to: eligible for its step, and not yet part of this request."""
    instance = task.instance
    step = _step_at(instance, task.step_position)
    if step is None:
        return []
    ids = set(approvers_for(step, instance)) - _involved_ids(instance)
    if not ids:
        return []
    users = db.session.scalars(select(User).where(User.id.in_(ids), User.is_active_flag))
    return sorted(users, key=lambda u: (u.display_name, u.login_name))


def _check_transfer(task: ApprovalTask, actor: User, target_id: int | None) -> User:
    """The transfer target, or a ServiceError naming why that person may not take the task."""
    target = db.session.get(User, target_id) if target_id else None
    if target is None or not target.is_active_flag:
        raise ServiceError("请从列表中选择转办对象。", field="transfer_to")
    if target.id == actor.id:
        raise ServiceError("不能转办给自己。", field="transfer_to")
    instance = task.instance
    if target.id == instance.applicant_id:
        raise ServiceError("不能转办给申请人：申请人不能审批自己的申请。", field="transfer_to")
    if target.id in _involved_ids(instance):
        raise ServiceError(f"{target.display_name} 已参与本申请的审批，不能再接收转办"
                           "（同一人不能在一份申请上签署两次）。", field="transfer_to")
    step = _step_at(instance, task.step_position)
    if step is None or target.id not in approvers_for(step, instance):
        rule = f"（{step.rule_label}）" if step else ""
        raise ServiceError(f"{target.display_name} 不是“{task.step_name}”这一步的审批人{rule}，不能接收转办。",
                           field="transfer_to")
    return target


def _start_step(instance: ApprovalInstance, position: int) -> None:
    step = _step_at(instance, position)
    assignees = approvers_for(step, instance)
    if not assignees:
        raise ServiceError(f"审批步骤“{step.name}”找不到审批人（{step.rule_label}），请联系医务科配置。")
    named = set(_rule_ids(step, instance))
    rerouted = bool(named) and not named & set(assignees)  # the rule named the applicant alone
    instance.step_position = position
    now = utcnow()
    due = now + timedelta(hours=step.time_limit_hours) if step.time_limit_hours else None
    escalate = due + timedelta(hours=step.escalate_after_hours) if due and step.escalate_after_hours else None
    for user_id in assignees:
        db.session.add(ApprovalTask(instance_id=instance.id, step_position=position, step_name=step.name,
                                    assignee_id=user_id, status="pending", created_at=now, due_at=due,
                                    escalate_at=escalate))
    db.session.flush()
    if rerouted:
        _record(instance, "reroute", None, "申请人是本步骤唯一的审批人，改由医务科管理员审批。", step_name=step.name)
    notify(assignees, "approval", f"待审批：{instance.title}",
           f"{instance.applicant.display_name} 提交的{instance.process.name}等待您审批（{step.name}）。",
           _link(instance))


def _record(instance, action: str, actor_id: int | None, comment: str = "", task=None, step_name: str = "",
            files=(), details: dict | None = None) -> ApprovalAction:
    entry = ApprovalAction(instance_id=instance.id, task_id=task.id if task else None, actor_id=actor_id,
                           action=action, comment=comment, step_name=step_name or (task.step_name if task else ""))
    db.session.add(entry)
    db.session.flush()
    for upload in files:
        attach(instance, entry, upload)
    audit.record(action if action in ("approve", "reject") else "update", "approval_instance", instance.id,
                 label=instance.title, changes={"action": action, "comment": comment[:200], "status": instance.status,
                                                **(details or {})})
    return entry


def _check_comment(comment: str | None, required: bool = False) -> str:
    comment = clean(comment)
    if len(comment) > MAX_COMMENT:
        raise ServiceError(f"意见不能超过 {MAX_COMMENT} 个字。", field="comment")
    if required and not comment:
        raise ServiceError("请填写意见（退回或驳回时必须说明原因）。", field="comment")
    return comment


def check_upload(filename: str, content: bytes) -> str:
    """The content type of an acceptable attachment, or a ServiceError saying why not."""
    name = clean(filename)
    ext = name[name.rfind("."):].lower() if "." in name else ""
    if ext not in ALLOWED_TYPES:
        raise ServiceError("附件只接受 PDF、JPG、PNG 图片和 Excel（.xlsx）文件。", field="attachments")
    if len(content) > MAX_ATTACHMENT_BYTES:
        raise ServiceError(f"附件“{name[:60]}”超过 {MAX_ATTACHMENT_BYTES // 1024 // 1024} MB。", field="attachments")
    if not content.startswith(MAGIC[ext]):
        raise ServiceError(f"附件“{name[:60]}”的内容与扩展名不符。", field="attachments")
    return ALLOWED_TYPES[ext]


def attach(instance, action, upload: tuple[str, bytes]) -> ApprovalAttachment:
    filename, content = upload
    content_type = check_upload(filename, content)
    item = ApprovalAttachment(instance_id=instance.id, action_id=action.id if action else None,
                              filename=clean(filename)[-200:], content_type=content_type, size=len(content),
                              sha256=hashlib.sha256(content).hexdigest(), content=content)
    db.session.add(item)
    return item


def submit(process_code: str, *, entity_type: str, entity_id: int, title: str, applicant: User,
           department_id: int | None, comment: str = "", files=()) -> ApprovalInstance:
    """Start an approval for a domain object; the first step's approvers are told at once."""
    subjects.subject_for(entity_type)
    process = process_by_code(process_code)
    open_one = db.session.scalar(select(ApprovalInstance.id).where(
        ApprovalInstance.entity_type == entity_type, ApprovalInstance.entity_id == entity_id,
        ApprovalInstance.status.in_(("pending", "returned"))))
    if open_one:
        raise ServiceError("该事项已有进行中的审批，不能重复提交。")
    for upload in files:
        check_upload(*upload)
    instance = ApprovalInstance(process=process, entity_type=entity_type, entity_id=entity_id, title=clean(title)[:200],
                                applicant=applicant, department_id=department_id, status="pending",
                                submitted_at=utcnow())
    db.session.add(instance)
    db.session.flush()
    audit.record("create", "approval_instance", instance.id, label=instance.title,
                 after={"process": process.code, "entity": f"{entity_type}:{entity_id}"})
    _record(instance, "submit", applicant.id, _check_comment(comment), step_name="提交", files=files)
    _start_step(instance, process.steps[0].position)
    return instance


def _claim_task(task_id: int, actor: User, new_status: str, comment: str) -> ApprovalTask:
    result = db.session.execute(
        update(ApprovalTask)
        .where(ApprovalTask.id == task_id, ApprovalTask.assignee_id == actor.id, ApprovalTask.status == "pending")
        .values(status=new_status, acted_at=utcnow(), comment=comment)
        .execution_options(synchronize_session=False))
    task = db.session.get(ApprovalTask, task_id, populate_existing=True)
    if result.rowcount == 1:
        return task
    if task is None or task.assignee_id != actor.id:
        raise ServiceError("审批任务不存在，或不是您的任务。", status=404)
    # State labels carry their own wording ("已通过", "无需处理"): quote them, never prefix them.
    raise Conflict(f"该任务的状态是“{task.status_label}”，无需再次处理。请刷新页面查看最新状态。")


def _lock_instance(instance_id: int) -> ApprovalInstance:
    stmt = select(ApprovalInstance).where(ApprovalInstance.id == instance_id).with_for_update(of=ApprovalInstance)
    return db.session.scalars(stmt.execution_options(populate_existing=True)).one()


def _cancel_open_tasks(instance: ApprovalInstance, position: int | None = None) -> None:
    stmt = update(ApprovalTask).where(ApprovalTask.instance_id == instance.id, ApprovalTask.status == "pending")
    if position is not None:
        stmt = stmt.where(ApprovalTask.step_position == position)
    db.session.execute(stmt.values(status="cancelled").execution_options(synchronize_session=False))


def _finish(instance: ApprovalInstance, status: str, hook: str) -> None:
    instance.status = status
    instance.finished_at = utcnow()
    subjects.call(instance.entity_type, hook, instance.entity_id, instance)


@atomic()
def act(task_id: int, actor: User, action: str, comment: str = "", transfer_to: int | None = None,
        files=()) -> ApprovalInstance:
    """An approver decides a task: approve, reject, return for revision, or transfer."""
    if action not in ("approve", "reject", "return", "transfer"):
        raise ServiceError("无效的审批操作。", status=400)
    comment = _check_comment(comment, required=action in ("reject", "return"))
    for upload in files:
        check_upload(*upload)
    target = None
    if action == "transfer":
        # Checked before anything is written: a refused transfer leaves the task as it was.
        mine = db.session.get(ApprovalTask, task_id)
        if mine is not None and mine.assignee_id == actor.id and mine.status == "pending":
            target = _check_transfer(mine, actor, transfer_to)
    status = {"approve": "approved", "reject": "rejected", "return": "returned", "transfer": "transferred"}[action]
    task = _claim_task(task_id, actor, status, comment)
    instance = _lock_instance(task.instance_id)
    if instance.status != "pending":
        raise Conflict(f"该审批的状态是“{instance.status_label}”，不能再处理。")
    if task.step_position != instance.step_position:
        raise Conflict(f"该审批已进入第 {instance.step_position} 步，您这一步的任务无需再处理。")
    details = {"transfer_to": {"id": target.id, "name": target.display_name}} if target else None
    _record(instance, action, actor.id, comment, task=task, files=files, details=details)
    applicant = [instance.applicant_id]
    step_label = f"第 {task.step_position} 步（{task.step_name}）"
    if action == "transfer":
        db.session.add(ApprovalTask(instance_id=instance.id, step_position=task.step_position,
                                    step_name=task.step_name, assignee_id=target.id, status="pending",
                                    due_at=task.due_at, escalate_at=task.escalate_at))
        db.session.flush()
        notify([target.id], "approval", f"待审批（转办）：{instance.title}",
               f"{actor.display_name} 将审批转给您：{comment}" if comment else f"{actor.display_name} 将审批转给您。",
               _link(instance))
    elif action == "reject":
        _cancel_open_tasks(instance)
        _finish(instance, "rejected", "on_rejected")
        notify(applicant, "approval", f"审批驳回：{instance.title}",
               f"{step_label}由 {actor.display_name} 驳回：{comment}",
               _link(instance))
    elif action == "return":
        _cancel_open_tasks(instance)
        instance.status = "returned"
        subjects.call(instance.entity_type, "on_returned", instance.entity_id, instance)
        notify(applicant, "approval", f"退回修改：{instance.title}",
               f"{step_label}由 {actor.display_name} 退回：{comment}。请修改后重新提交。", _link(instance))
    else:
        _advance_after_approval(instance, task, actor, step_label, comment)
    return instance


def _with_comment(text: str, comment: str) -> str:
    """A progress message with the approver's comment last (WeCom cuts a long one at its byte limit)."""
    return f"{text}意见：{comment}" if comment else text


def _advance_after_approval(instance, task, actor, step_label, comment: str = "") -> None:
    step = instance.current_step
    if step.rule == "committee" and step.committee_mode == "all":
        waiting = db.session.scalar(select(func.count()).select_from(ApprovalTask).where(
            ApprovalTask.instance_id == instance.id, ApprovalTask.step_position == task.step_position,
            ApprovalTask.status == "pending"))
        if waiting:
            notify([instance.applicant_id], "approval", f"审批进展：{instance.title}",
                   _with_comment(f"{step_label}：{actor.display_name} 已签署，另有 {waiting} 人待签署。", comment),
                   _link(instance), push=False)
            return
    _cancel_open_tasks(instance, task.step_position)
    later = [s for s in instance.process.steps if s.position > task.step_position]
    if later:
        notify([instance.applicant_id], "approval", f"审批进展：{instance.title}",
               _with_comment(f"{step_label}已由 {actor.display_name} 通过，进入下一步：{later[0].name}。", comment),
               _link(instance))
        _start_step(instance, later[0].position)
    else:
        _finish(instance, "approved", "on_approved")
        notify([instance.applicant_id], "approval", f"审批通过：{instance.title}",
               _with_comment(f"{instance.process.name}已全部审批通过（{step_label}由 {actor.display_name} 通过）。",
                             comment),
               _link(instance))


def _own_instance(instance_id: int, actor: User) -> ApprovalInstance:
    instance = _lock_instance(instance_id)
    if instance.applicant_id != actor.id:
        raise ServiceError("只有申请人可以执行此操作。", status=403)
    return instance


@atomic()
def resubmit(instance_id: int, actor: User, comment: str = "", files=()) -> ApprovalInstance:
    """The applicant sends a returned request back; it starts again at the first step."""
    instance = _own_instance(instance_id, actor)
    if instance.status != "returned":
        raise Conflict(f"该审批{instance.status_label}，不能重新提交。")
    instance.status = "pending"
    # Optional hook: the subject's own state follows (a returned application is pending again).
    subjects.call(instance.entity_type, "on_resubmitted", instance.entity_id, instance)
    _record(instance, "resubmit", actor.id, _check_comment(comment), step_name="重新提交", files=files)
    _start_step(instance, instance.process.steps[0].position)
    return instance


@atomic()
def withdraw(instance_id: int, actor: User, comment: str = "") -> ApprovalInstance:
    """The applicant withdraws a request still in progress (when the process allows it)."""
    instance = _own_instance(instance_id, actor)
    if not instance.process.allow_withdraw:
        raise ServiceError("该流程不允许撤回。", status=403)
    if instance.status not in ("pending", "returned"):
        raise Conflict(f"该审批{instance.status_label}，不能撤回。")
    _withdraw(instance, actor, _check_comment(comment), "撤回", f"{actor.display_name} 撤回了该申请，无需再审批。")
    return instance


def withdraw_for_subject(instance_id: int, actor: User, reason: str) -> ApprovalInstance | None:
    """Withdraw a request whose subject no longer needs a decision (its project was closed), whoever applied and
    whatever the process allows; a request already decided is left as it is. Returns the instance if withdrawn."""
    instance = db.session.get(ApprovalInstance, instance_id)
    if instance is None or instance.status not in ("pending", "returned"):
        return None
    _withdraw(instance, actor, reason, "撤销", f"{reason}，无需再审批。")
    return instance


def _withdraw(instance: ApprovalInstance, actor: User, comment: str, step_name: str, message: str) -> None:
    waiting = list(db.session.scalars(select(ApprovalTask.assignee_id).where(
        ApprovalTask.instance_id == instance.id, ApprovalTask.status == "pending")))
    _cancel_open_tasks(instance)
    _finish(instance, "withdrawn", "on_withdrawn")
    _record(instance, "withdraw", actor.id, comment, step_name=step_name)
    notify(waiting, "approval", f"已撤回：{instance.title}", message, _link(instance), push=False)


@atomic()
def add_comment(instance_id: int, actor: User, comment: str, files=()) -> ApprovalInstance:
    instance = db.session.get(ApprovalInstance, instance_id)
    if instance is None or not can_view(instance, actor, see_all=False):
        raise ServiceError("审批不存在。", status=404)
    _record(instance, "comment", actor.id, _check_comment(comment, required=not files), step_name="评论", files=files)
    return instance


def can_view(instance: ApprovalInstance, user: User, see_all: bool) -> bool:
    if see_all or instance.applicant_id == user.id:
        return True
    return db.session.scalar(select(func.count()).select_from(ApprovalTask).where(
        ApprovalTask.instance_id == instance.id, ApprovalTask.assignee_id == user.id)) > 0


def open_task_for(instance: ApprovalInstance, user: User) -> ApprovalTask | None:
    return db.session.scalar(select(ApprovalTask).where(
        ApprovalTask.instance_id == instance.id, ApprovalTask.assignee_id == user.id,
        ApprovalTask.status == "pending", ApprovalTask.step_position == instance.step_position))


def remind_overdue() -> dict[str, int]:
    """Remind approvers of overdue tasks once; after the second limit tell the medical affairs office."""
    now = utcnow()
    reminded = escalated = 0
    overdue = db.session.scalars(select(ApprovalTask).where(
        ApprovalTask.status == "pending", ApprovalTask.due_at <= now, ApprovalTask.reminded_at.is_(None)))
    for task in list(overdue):
        task.reminded_at = now
        notify([task.assignee_id], "approval", f"审批已超时：{task.instance.title}",
               f"{task.step_name}已超过办理时限，请尽快处理。", _link(task.instance))
        _record(task.instance, "remind", None, f"提醒 {task.assignee.display_name}", task=task)
        reminded += 1
    late = db.session.scalars(select(ApprovalTask).where(
        ApprovalTask.status == "pending", ApprovalTask.escalate_at <= now, ApprovalTask.escalated_at.is_(None)))
    for task in list(late):
        task.escalated_at = now
        supervisors = _role_holder_ids(OFFICE_ROLE)
        notify(supervisors, "approval", f"审批严重超时：{task.instance.title}",
               f"{task.assignee.display_name} 的{task.step_name}已严重超时，请督办。", _link(task.instance))
        _record(task.instance, "escalate", None, f"上报医务科：{task.assignee.display_name} 超时", task=task)
        escalated += 1
    return {"reminded": reminded, "escalated": escalated}


# --- process definitions (the medical affairs admin) ----------------------------------------------------------

PROCESS_FIELDS = ("name", "description", "allow_withdraw", "is_active")
STEP_FIELDS = ("name", "rule", "role_code", "committee_id", "committee_mode", "user_id", "time_limit_hours",
               "escalate_after_hours")


def _user_by_login(login: str | None) -> User | None:
    login = clean(login)
    return db.session.scalar(select(User).where(func.lower(User.login_name) == login.lower())) if login else None


def update_process(process: ApprovalProcess, *, name: str, description: str, allow_withdraw: bool,
                   is_active: bool) -> ApprovalProcess:
    before = audit.snapshot(process, PROCESS_FIELDS)
    process.name, process.description = clean(name), clean(description)
    process.allow_withdraw, process.is_active = bool(allow_withdraw), bool(is_active)
    audit.record("update", "approval_process", process.id, label=process.name, before=before,
                 after=audit.snapshot(process, PROCESS_FIELDS))
    return process


def save_step(process: ApprovalProcess, step: ApprovalStep | None, *, name: str, rule: str, role_code: str = "",
              committee_id: int | None = None, committee_mode: str = "", user_login: str = "",
              time_limit_hours: int | None = None, escalate_after_hours: int | None = None) -> ApprovalStep:
    """Add a step at the end (`step` None) or change one; running requests keep the tasks they already have."""
    from portal.auth.seed import ROLES  # the seed reads the approval processes: imported here

    if rule == "role" and role_code not in ROLES:
        raise ServiceError("请选择角色。", field="role_code")
    committee = db.session.get(Committee, committee_id) if committee_id and committee_id > 0 else None
    if rule == "committee" and committee is None:
        raise ServiceError("请选择委员会。", field="committee_id")
    user = _user_by_login(user_login) if rule == "user" else None
    if rule == "user" and user is None:
        raise ServiceError("找不到该登录名的用户。", field="user_login")
    before = audit.snapshot(step, STEP_FIELDS) if step is not None else None
    if step is None:
        step = ApprovalStep(position=max((s.position for s in process.steps), default=0) + 1)
        process.steps.append(step)
    step.name = clean(name)
    step.rule = rule
    step.role_code = role_code if rule == "role" else ""
    step.committee_id = committee.id if rule == "committee" else None
    step.committee_mode = committee_mode or "any"
    step.user_id = user.id if user else None
    step.time_limit_hours = time_limit_hours
    step.escalate_after_hours = escalate_after_hours
    db.session.flush()
    audit.record("update", "approval_process", process.id, label=f"{process.name} / {step.name}",
                 before=before, after=audit.snapshot(step, STEP_FIELDS))
    return step


def delete_step(process: ApprovalProcess, step: ApprovalStep) -> None:
    """Remove a step (a process keeps at least one); the later steps move up."""
    if len(process.steps) <= 1:
        raise ServiceError("流程至少需要一个审批步骤。")
    audit.record("delete", "approval_process", process.id, label=f"{process.name} / {step.name}",
                 before=audit.snapshot(step, STEP_FIELDS))
    removed = step.position
    process.steps.remove(step)
    db.session.flush()
    for later in sorted((s for s in process.steps if s.position > removed), key=lambda s: s.position):
        later.position -= 1
        db.session.flush()


def create_committee(name: str) -> Committee:
    name = clean(name)
    if not name or len(name) > 100:
        raise ServiceError("请填写委员会名称（不超过 100 字）。", field="name")
    if db.session.scalar(select(Committee).where(Committee.name == name)):
        raise ServiceError("已有同名委员会。", field="name")
    count = db.session.scalar(select(func.count()).select_from(Committee)) or 0
    committee = Committee(code=f"c{count + 1}", name=name)
    db.session.add(committee)
    db.session.flush()
    audit.record("create", "committee", committee.id, label=name, after={"name": name})
    return committee


def change_committee_member(committee: Committee, login: str, *, remove: bool) -> str | None:
    """Add a member by login name, or remove one; what was done, in Chinese (None: nothing to do)."""
    user = _user_by_login(login)
    if user is None:
        raise ServiceError("找不到该登录名的用户。", field="login_name")
    before = sorted(u.login_name for u in committee.members)
    done = None
    if remove:
        if user in committee.members:
            committee.members.remove(user)
            done = f"已将 {user.display_name} 移出{committee.name}。"
    elif not user.is_active_flag:
        raise ServiceError("该账户已停用，不能加入委员会。", field="login_name")
    elif user not in committee.members:
        committee.members.append(user)
        done = f"已将 {user.display_name} 加入{committee.name}。"
    after = sorted(u.login_name for u in committee.members)
    if after != before:
        audit.record("update", "committee", committee.id, label=committee.name,
                     changes={"members": {"before": before, "after": after}})
    return done
