"""Privileges: applications checked before submission (by the clinician or in bulk by the department),
adjustments as new linked records through the approval engine, medical affairs' direct grant, admission
rules, emergency overrides from HIS with the department head's follow-up, interception alerts and the
daily renewal reminders.

A granted record is never changed except for its stored state flipping (expired by date, superseded when an
approved adjustment replaces it); every change writes an audit record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from portal.approvals import services as approvals
from portal.approvals import subjects
from portal.approvals.models import ApprovalAttachment
from portal.approvals.subjects import Summary
from portal.auth.models import Department, Staff, User
from portal.auth.queries import active_user_ids_with_roles
from portal.catalogue.models.technologies import CATEGORIES as TECH_CATEGORIES
from portal.catalogue.models.technologies import Technology
from portal.core import audit
from portal.core.service import ServiceError, atomic, clean
from portal.core.timeutil import format_date, local_today, utcnow
from portal.extensions import db
from portal.notify.services import notify

from ..models.privileges import (
    ACTIONS,
    GRADES,
    REMINDER_DAYS,
    STATES,
    TITLE_LEVELS,
    Privilege,
    PrivilegeAlert,
    PrivilegeOverride,
    PrivilegeRule,
)
from ..models.qualifications import QualificationType
from ..qualifications.services import valid_qualifications
from . import queries
from .check import Decision

PROCESS = "privilege_grant"
COMMITTEE_PROCESS = "privilege_committee"
FIELDS = ("staff_id", "kind", "grade", "categories", "technology_id", "can_order", "can_perform", "valid_from",
          "valid_to", "status", "action", "reason", "supersedes_id")
RULE_FIELDS = ("grade", "category", "min_title", "min_years", "trainings", "certificates", "combine", "is_active",
               "note")
MAX_FILES = 5
MAX_YEARS = 5
OVERRIDE_HOURS = 24
TITLE_BY_STAFF_TITLE = {"主任医师": "正高级", "副主任医师": "副高级", "主治医师": "中级", "住院医师": "初级",
                        "医师": "初级"}


def _label(record: Privilege) -> str:
    return f"{record.staff.name if record.staff else record.staff_id}：{record.scope_label}"[:200]


def department_heads(department_id: int) -> list[int]:
    dept = db.session.get(Department, department_id)
    while dept is not None:
        ids = active_user_ids_with_roles(("dept_head",), dept.id)
        if ids or dept.kind != "ward":
            return ids
        dept = dept.parent
    return []


def medical_affairs() -> list[int]:
    return active_user_ids_with_roles(("ma_admin", "ma_staff"))


# --- what an application must meet -------------------------------------------------------------------------

@dataclass
class Scope:
    """What a privilege covers: a grade in some categories, or one technology; with its rights and period."""

    kind: str
    grade: int | None
    categories: tuple[str, ...]
    technology: Technology | None
    can_order: bool
    can_perform: bool
    valid_from: date
    valid_to: date

    @property
    def effective_grade(self) -> int:
        return self.technology.grade if self.technology is not None else int(self.grade or 0)

    @property
    def needs_committee(self) -> bool:
        tech = self.technology
        return self.effective_grade >= 4 or bool(tech is not None and (tech.restricted or tech.new_tech))


def scope_from(values: dict) -> Scope:
    """Validate the form's values into a Scope (ServiceError on the first problem, naming the field)."""
    kind = values.get("kind")
    if kind not in ("grade", "technology"):
        raise ServiceError("请选择授权方式（分级授权或单项技术授权）。", field="kind")
    tech, grade, categories = None, None, ()
    if kind == "technology":
        code = clean(values.get("technology"))
        tech = find_technology(code) if code else None
        if tech is None:
            raise ServiceError(f"技术目录中没有编码为“{code}”的技术。" if code else "请填写技术编码。",
                               field="technology")
    else:
        grade = values.get("grade")
        if grade not in GRADES:
            raise ServiceError("请选择手术级别（一级至四级）。", field="grade")
        categories = tuple(sorted(c for c in values.get("categories") or () if c in TECH_CATEGORIES))
        if not categories:
            raise ServiceError("请至少选择一个类别。", field="categories")
    can_order, can_perform = bool(values.get("can_order")), bool(values.get("can_perform"))
    if not (can_order or can_perform):
        raise ServiceError("请至少选择开单权或执行权之一。", field="can_perform")
    start = values.get("valid_from") or local_today()
    end = values.get("valid_to")
    if end is None:
        raise ServiceError("请填写授权截止日期。", field="valid_to")
    if end < start:
        raise ServiceError("授权截止日期不能早于开始日期。", field="valid_to")
    if end > start + timedelta(days=366 * MAX_YEARS):
        raise ServiceError(f"一次授权最长 {MAX_YEARS} 年，到期前再授权。", field="valid_to")
    return Scope(kind, grade, categories, tech, can_order, can_perform, start, end)


def find_technology(code: str) -> Technology | None:
    code = (code or "").strip().upper()
    if not code:
        return None
    found = db.session.scalar(select(Technology).where(func.upper(Technology.code) == code))
    return found or db.session.scalar(select(Technology).where(func.upper(Technology.national_code) == code)
                                      .order_by(Technology.status, Technology.id).limit(1))


def _title_of(staff: Staff, day: date) -> tuple[str, date | None]:
    found = queries.title_record(staff.id, day)
    if found and found[0]:
        return found
    return TITLE_BY_STAFF_TITLE.get(staff.title, ""), None


def _years(since: date | None, day: date) -> int:
    if since is None:
        return 0
    return day.year - since.year - ((day.month, day.day) < (since.month, since.day))


def rule_failures(rule: PrivilegeRule, staff: Staff, held: set[str], day: date, names: dict[str, str]) -> list[str]:
    """Each condition of the rule the person does not meet, as a Chinese message."""
    failures, title_since = [], None
    if rule.min_title or rule.min_years:
        title, title_since = _title_of(staff, day)
        if rule.min_title and TITLE_LEVELS.get(title, 0) < TITLE_LEVELS.get(rule.min_title, 0):
            failures.append(f"职称须为{rule.min_title}及以上（当前：{title or '未登记'}）")
        if rule.min_years and _years(title_since, day) < rule.min_years:
            now = f"{_years(title_since, day)} 年" if title_since else "未登记任职时间"
            failures.append(f"任现职称须满 {rule.min_years} 年（当前：{now}）")
    for code in rule.training_codes:
        if code not in held:
            failures.append(f"须完成培训并登记：{names.get(code, code)}")
    for code in rule.certificate_codes:
        if code not in held:
            failures.append(f"须持有有效证书：{names.get(code, code)}")
    return failures


def _conditions(rule: PrivilegeRule, names: dict[str, str]) -> int:
    return (bool(rule.min_title) + bool(rule.min_years) + len(rule.training_codes) + len(rule.certificate_codes))


def check_application(staff: Staff, scope: Scope, day: date | None = None, held: set[str] | None = None
                      ) -> list[str]:
    """Every reason this person may not be granted this scope, one Chinese message each (empty: it may go)."""
    day = day or scope.valid_from
    messages = []
    names = dict(db.session.execute(select(QualificationType.code, QualificationType.name)).all())
    if held is None:
        held = {h.type_code for h in valid_qualifications([staff.id], day)[staff.id]}
    tech = scope.technology
    if not staff.is_active:
        messages.append(f"{staff.name}已停用，不能授权。")
    if tech is not None:
        if tech.status != "active":
            messages.append(f"技术“{tech.name}”已在技术目录中停用，不能申请。")
        allowed = {d.id for d in tech.departments}
        mine = {staff.department_id} | {int(p) for p in staff.department.path.strip("/").split("/") if p}
        if allowed and not allowed & mine:
            messages.append(f"技术“{tech.name}”未批准在{staff.department.name}开展。")
        for code in tech.prerequisites or ():
            if code not in held:
                messages.append(f"缺少有效的{names.get(code, code)}（“{tech.name}”的前置资质）。")
    grade = scope.effective_grade
    cats = {tech.category} if tech is not None else set(scope.categories)
    for rule in queries.active_rules():
        if rule.grade != grade or (rule.category and rule.category not in cats):
            continue
        failures = rule_failures(rule, staff, held, day, names)
        if not failures:
            continue
        where = f"{GRADES[grade]}手术" + (f"（{TECH_CATEGORIES.get(rule.category, rule.category)}）"
                                         if rule.category else "")
        if rule.combine == "or":
            if len(failures) >= _conditions(rule, names):
                messages.append(f"{where}准入条件须满足其一：{'；'.join(failures)}。")
        else:
            messages += [f"{where}准入条件：{f}。" for f in failures]
    return messages


def _check_files(files) -> list[tuple[str, bytes]]:
    files = list(files)
    if len(files) > MAX_FILES:
        raise ServiceError(f"一次最多上传 {MAX_FILES} 个附件。", field="attachments")
    for upload in files:
        approvals.check_upload(*upload)
    return files


class ApplicationRefused(ServiceError):
    """The application breaks one or more rules: `messages` lists them all (nothing was submitted)."""

    def __init__(self, messages: list[str], field: str | None = None):
        super().__init__("；".join(messages), status=422, field=field)
        self.messages = messages


def _new_record(staff: Staff, scope: Scope, *, action: str, reason: str, source: str,
                supersedes: Privilege | None = None) -> Privilege:
    record = Privilege(staff_id=staff.id, kind=scope.kind, grade=scope.grade if scope.kind == "grade" else None,
                       categories=",".join(scope.categories), technology_id=scope.technology.id if scope.technology
                       else None, can_order=scope.can_order, can_perform=scope.can_perform,
                       valid_from=scope.valid_from, valid_to=scope.valid_to, status="pending", action=action,
                       reason=reason[:2000], source=source, supersedes_id=supersedes.id if supersedes else None)
    db.session.add(record)
    db.session.flush()
    audit.record("create", "privilege", record.id, label=_label(record), after=audit.snapshot(record, FIELDS))
    return record


def _submit(record: Privilege, scope: Scope, user: User, comment: str, files) -> Privilege:
    verb = ACTIONS.get(record.action, "申请")
    instance = approvals.submit(COMMITTEE_PROCESS if scope.needs_committee else PROCESS, entity_type="privilege",
                                entity_id=record.id, title=f"授权{verb}：{_label(record)}", applicant=user,
                                department_id=record.staff.department_id, comment=comment, files=files)
    record.approval_id = instance.id
    db.session.flush()
    return record


@atomic()
def apply_privilege(user: User, staff: Staff, values: dict, files=(), source: str = "application") -> Privilege:
    """Apply for a privilege (checked first: every failed rule comes back as its own message)."""
    scope = scope_from(values)
    files = _check_files(files)
    messages = check_application(staff, scope)
    if _open_same(staff.id, scope):
        messages.append("已有相同范围的申请在审批中，请勿重复提交。")
    if messages:
        raise ApplicationRefused(messages)
    record = _new_record(staff, scope, action="apply", reason=clean(values.get("reason")), source=source)
    return _submit(record, scope, user, clean(values.get("reason")), files)


def _open_same(staff_id: int, scope: Scope) -> bool:
    stmt = select(Privilege.id).where(Privilege.staff_id == staff_id, Privilege.status.in_(("pending", "returned")),
                                      Privilege.kind == scope.kind)
    stmt = (stmt.where(Privilege.technology_id == scope.technology.id) if scope.technology is not None
            else stmt.where(Privilege.grade == scope.grade))
    return db.session.scalar(stmt.limit(1)) is not None


def check_bulk(staff_list: list[Staff], values: dict) -> tuple[Scope, dict[int, list[str]]]:
    """The department's bulk application checked for every person: (scope, staff id -> messages)."""
    scope = scope_from(values)
    held = {sid: {h.type_code for h in items}
            for sid, items in valid_qualifications([s.id for s in staff_list], scope.valid_from).items()}
    failures = {}
    for staff in staff_list:
        messages = check_application(staff, scope, held=held.get(staff.id, set()))
        if _open_same(staff.id, scope):
            messages.append("已有相同范围的申请在审批中。")
        if messages:
            failures[staff.id] = messages
    return scope, failures


@atomic()
def apply_bulk(user: User, staff_list: list[Staff], values: dict, files=(), within=None) -> list[Privilege]:
    """The department applies for many people at once: all are checked first; nothing is submitted unless
    every one passes (the failures name the person and the rule)."""
    if not staff_list:
        raise ServiceError("请至少选择一名人员。", field="staff_ids")
    if within is not None and any(s.department_id not in within for s in staff_list):
        raise ServiceError("只能为本科室人员申请授权。", status=403)
    files = _check_files(files)
    scope, failures = check_bulk(staff_list, values)
    if failures:
        names = {s.id: s.name for s in staff_list}
        raise ApplicationRefused([f"{names[sid]}：{m}" for sid, msgs in failures.items() for m in msgs])
    created = []
    for staff in staff_list:
        record = _new_record(staff, scope, action="apply", reason=clean(values.get("reason")), source="department")
        created.append(_submit(record, scope, user, clean(values.get("reason")), files))
    return created


# --- adjustments: a new record through the engine ----------------------------------------------------------

ADJUSTABLE = {  # action -> states of the current record it applies to
    "suspend": ("active",), "restore": ("suspended",), "revoke": ("active", "suspended", "expired"),
    "narrow": ("active",), "extend": ("active", "expired"), "upgrade": ("active",), "downgrade": ("active",),
    "renew": ("active", "expired"),
}


@atomic()
def adjust_privilege(record: Privilege, user: User, action: str, values: dict, files=()) -> Privilege:
    """Propose an adjustment of a granted record: a new pending record linked to it, through the engine;
    the old record counts until the adjustment is approved."""
    if action not in ADJUSTABLE:
        raise ServiceError("无效的调整事项。", status=400)
    verb = ACTIONS[action]
    if record.status not in ADJUSTABLE[action]:
        raise ServiceError(f"该授权{STATES[record.status]}，不能{verb}。", status=409)
    if queries.open_adjustment(record) is not None:
        raise ServiceError("该授权已有调整在审批中，请等待审批结束。", status=409)
    reason = clean(values.get("reason"))
    if not reason:
        raise ServiceError(f"请填写{verb}理由。", field="reason")
    if len(reason) > 1000:
        raise ServiceError("理由不能超过 1000 字。", field="reason")
    files = _check_files(files)
    scope = Scope(record.kind, record.grade, tuple(sorted(record.category_set)), record.technology,
                  record.can_order, record.can_perform, max(record.valid_from, local_today()), record.valid_to)
    if action in ("suspend", "revoke", "restore"):
        scope.valid_from = local_today()
    elif action in ("extend", "renew"):
        end = values.get("valid_to")
        if end is None or end <= record.valid_to:
            raise ServiceError("新的截止日期须晚于原截止日期。", field="valid_to")
        if end > local_today() + timedelta(days=366 * MAX_YEARS):
            raise ServiceError(f"一次授权最长 {MAX_YEARS} 年。", field="valid_to")
        scope.valid_to = end
    elif action in ("upgrade", "downgrade"):
        if record.kind != "grade":
            raise ServiceError("单项技术授权没有级别，请用“缩小范围”或“撤销”。", field="grade")
        grade = values.get("grade")
        if grade not in GRADES or (grade <= record.grade if action == "upgrade" else grade >= record.grade):
            raise ServiceError("升级须选择更高的级别，降级须选择更低的级别。", field="grade")
        scope.grade = grade
    elif action == "narrow":
        can_order = bool(values.get("can_order")) and record.can_order
        can_perform = bool(values.get("can_perform")) and record.can_perform
        cats = tuple(sorted(c for c in values.get("categories") or () if c in record.category_set))
        if record.kind == "grade" and not cats:
            raise ServiceError("请至少保留一个类别。", field="categories")
        if not (can_order or can_perform):
            raise ServiceError("请至少保留开单权或执行权之一；要全部取消请用“撤销”。", field="can_perform")
        if (can_order, can_perform) == (record.can_order, record.can_perform) and (
                record.kind != "grade" or set(cats) == record.category_set):
            raise ServiceError("缩小范围须去掉至少一项权限或类别。", field="can_perform")
        scope.can_order, scope.can_perform = can_order, can_perform
        if record.kind == "grade":
            scope.categories = cats
    if action in ("upgrade", "extend", "renew", "restore"):
        messages = check_application(record.staff, scope, day=local_today())
        if messages:
            raise ApplicationRefused(messages)
    new = _new_record(record.staff, scope, action=action, reason=reason, source="adjustment", supersedes=record)
    return _submit(new, scope, user, reason, files)


def _activate(record: Privilege) -> None:
    """Approved: the record counts (or, for a suspension / revocation, stops the old one); the record it
    adjusts is superseded."""
    before = audit.snapshot(record, FIELDS)
    today = local_today()
    if record.action == "suspend":
        record.status = "suspended"
    elif record.action == "revoke":
        record.status = "revoked"
    else:
        record.status = "expired" if record.valid_to < today else "active"
    if record.supersedes_id:
        old = db.session.get(Privilege, record.supersedes_id)
        if old is not None and old.status in ("active", "expired", "suspended"):
            old_before = audit.snapshot(old, FIELDS)
            old.status = "superseded"
            # It still answers for the days before the new record starts (a surgery of last week, imported today).
            old.ended_on = max(record.valid_from, old.valid_from)
            audit.record("update", "privilege", old.id, label=_label(old), before=old_before,
                         after={**audit.snapshot(old, FIELDS), "superseded_by": record.id})
    db.session.flush()
    audit.record("update", "privilege", record.id, label=_label(record), before=before,
                 after=audit.snapshot(record, FIELDS))
    holder = db.session.scalar(select(User.id).where(User.staff_id == record.staff_id, User.is_active_flag))
    notify([holder], "credentials", f"授权{record.action_label}已生效：{record.scope_label}",
           f"{record.rights_label}，{format_date(record.valid_from)} 至 {format_date(record.valid_to)}。",
           f"/credentials/privileges/{record.id}")


class PrivilegeSubject(subjects.StatusSubject):
    entity_type = "privilege"
    label = "授权"

    def summary(self, entity_id: int) -> Summary | None:
        record = db.session.get(Privilege, entity_id)
        if record is None:
            return None
        staff = record.staff
        facts = [("人员", f"{staff.name}（{staff.employee_no}）"), ("科室", staff.department.name),
                 ("事项", record.action_label), ("范围", record.scope_label), ("权限", record.rights_label),
                 ("期限", f"{format_date(record.valid_from)} 至 {format_date(record.valid_to)}")]
        if record.supersedes_id:
            old = db.session.get(Privilege, record.supersedes_id)
            if old is not None:
                facts.append(("调整前", f"{old.scope_label}，{old.rights_label}，至 {format_date(old.valid_to)}"))
        if record.reason:
            facts.append(("理由", record.reason))
        return Summary(title=_label(record), url=f"/credentials/privileges/{record.id}", facts=facts)

    def _set(self, entity_id: int, status: str) -> None:
        record = db.session.get(Privilege, entity_id)
        before = audit.snapshot(record, FIELDS)
        record.status = status
        audit.record("update", "privilege", record.id, label=_label(record), before=before,
                     after=audit.snapshot(record, FIELDS))

    def on_approved(self, entity_id, instance):
        _activate(db.session.get(Privilege, entity_id))


subjects.register(PrivilegeSubject())


def attachments_of(record: Privilege) -> list[ApprovalAttachment]:
    if not record.approval_id:
        return []
    return list(db.session.scalars(select(ApprovalAttachment).where(
        ApprovalAttachment.instance_id == record.approval_id).order_by(ApprovalAttachment.id)))


@atomic()
def grant_privilege(staff: Staff, values: dict, source: str = "manual") -> Privilege:
    """Medical affairs records a privilege granted on paper (first load, demo): checked, valid at once."""
    scope = scope_from(values)
    record = _new_record(staff, scope, action="apply", reason=clean(values.get("reason")), source=source)
    _activate(record)
    return record


@atomic()
def resubmit_privilege(record: Privilege, user: User, comment: str) -> Privilege:
    if record.status != "returned":
        raise ServiceError(f"该申请{STATES[record.status]}，不能重新提交。", status=409)
    scope = Scope(record.kind, record.grade, tuple(sorted(record.category_set)), record.technology,
                  record.can_order, record.can_perform, record.valid_from, record.valid_to)
    messages = check_application(record.staff, scope, day=max(record.valid_from, local_today()))
    if messages:
        raise ApplicationRefused(messages)
    record.status = "pending"
    db.session.flush()
    approvals.resubmit(record.approval_id, user, clean(comment) or "已按意见补充")
    return record


# --- admission rules ---------------------------------------------------------------------------------------

@atomic()
def save_rule(item: PrivilegeRule | None, values: dict) -> PrivilegeRule:
    """Create or change an admission rule (medical affairs administrator)."""
    grade = values.get("grade")
    if grade not in GRADES:
        raise ServiceError("请选择手术级别。", field="grade")
    category = values.get("category") or ""
    if category and category not in TECH_CATEGORIES:
        raise ServiceError("请选择类别。", field="category")
    min_title = values.get("min_title") or ""
    if min_title and min_title not in TITLE_LEVELS:
        raise ServiceError("请选择职称。", field="min_title")
    codes = set(db.session.scalars(select(QualificationType.code)))
    lists = {}
    for name, label in (("trainings", "培训"), ("certificates", "证书")):
        picked = [c.strip().upper() for c in (values.get(name) or "").replace("，", ",").split(",") if c.strip()]
        unknown = [c for c in picked if c not in codes]
        if unknown:
            raise ServiceError(f"{label}中的资质类型代码不存在：{'、'.join(unknown)}。", field=name)
        lists[name] = ",".join(dict.fromkeys(picked))
    min_years = values.get("min_years") or 0
    if not (min_title or min_years or lists["trainings"] or lists["certificates"]):
        raise ServiceError("请至少设置一项条件（职称、年限、培训或证书）。", field="min_title")
    combine = values.get("combine") if values.get("combine") in ("and", "or") else "and"
    before = audit.snapshot(item, RULE_FIELDS) if item else None
    if item is None:
        item = PrivilegeRule()
        db.session.add(item)
    item.grade, item.category, item.min_title, item.min_years = grade, category, min_title, int(min_years)
    item.trainings, item.certificates, item.combine = lists["trainings"], lists["certificates"], combine
    item.is_active, item.note = bool(values.get("is_active", True)), clean(values.get("note"))[:500]
    db.session.flush()
    audit.record("update" if before else "create", "privilege_rule", item.id, label=f"{GRADES[grade]}手术准入条件",
                 before=before, after=audit.snapshot(item, RULE_FIELDS))
    return item


# --- emergency overrides -----------------------------------------------------------------------------------

@atomic()
def record_override(*, staff_no: str, code: str, performed_at: datetime, patient: str = "", reason: str = "",
                    external_id: str = "", client_id: int | None = None) -> tuple[PrivilegeOverride, bool]:
    """HIS reports that a surgeon performed beyond privilege in an emergency: a follow-up the department head
    confirms within 24 hours (told now). Idempotent by HIS's record id: (override, created)."""
    staff = db.session.scalar(select(Staff).where(Staff.employee_no == (staff_no or "").strip().upper()))
    if staff is None:
        raise LookupError("staff")
    tech = find_technology(code)
    if tech is None:
        raise LookupError("code")
    external_id = clean(external_id)[:64]
    if external_id:
        found = db.session.scalar(select(PrivilegeOverride).where(PrivilegeOverride.external_id == external_id,
                                                                  PrivilegeOverride.client_id == client_id))
        if found is not None:
            return found, False
    item = PrivilegeOverride(staff_id=staff.id, technology_id=tech.id, external_id=external_id,
                             performed_at=performed_at, patient=clean(patient)[:64], reason=clean(reason)[:1000],
                             client_id=client_id, due_at=utcnow() + timedelta(hours=OVERRIDE_HOURS), status="open")
    db.session.add(item)
    db.session.flush()
    audit.record("create", "privilege_override", item.id, label=f"{staff.name}：{tech.name}",
                 after={"staff": staff.employee_no, "code": tech.code, "patient": item.patient, "reason": item.reason})
    notify(department_heads(staff.department_id), "credentials", f"紧急超权限手术待确认：{staff.name} {tech.name}",
           f"HIS 报告{staff.name}在紧急情况下开展了超出授权的“{tech.name}”，请在 24 小时内确认。",
           f"/credentials/privileges/overrides/{item.id}")
    return item, True


@atomic()
def confirm_override(item: PrivilegeOverride, user: User, comment: str) -> PrivilegeOverride:
    """The department head confirms the emergency (with a comment); medical affairs sees it closed."""
    if item.status != "open":
        raise ServiceError("该紧急授权已确认。", status=409)
    comment = clean(comment)
    if not comment:
        raise ServiceError("请填写确认意见（紧急情况是否属实、患者情况）。", field="comment")
    item.status, item.confirmed_at, item.confirmed_by_id, item.comment = "confirmed", utcnow(), user.id, comment[:1000]
    db.session.flush()
    audit.record("update", "privilege_override", item.id, label=f"{item.staff.name}：{item.technology.name}",
                 before={"status": "open"}, after={"status": "confirmed", "comment": item.comment})
    return item


def remind_overdue_overrides() -> int:
    """Tell medical affairs how many follow-ups are past their 24 hours (the daily job)."""
    overdue = db.session.scalar(select(func.count()).select_from(PrivilegeOverride).where(
        PrivilegeOverride.status == "open", PrivilegeOverride.due_at < utcnow())) or 0
    if overdue:
        notify(medical_affairs(), "credentials", f"紧急超权限手术 {overdue} 例超过 24 小时未确认",
               "科主任未在 24 小时内确认，请跟进。", "/credentials/privileges/overrides?state=overdue")
    return overdue


# --- interception alerts -----------------------------------------------------------------------------------

def _alert_key() -> str:
    from flask import current_app

    return f"{current_app.config['RQ_QUEUE']}:privilege_alerts"


def insert_alerts(entries: list[dict]) -> int:
    """Write alerts, one per staff member, technology and day: an insert that does nothing when the key exists
    (safe under concurrency). Returns how many were new."""
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    table, now, new = PrivilegeAlert.__table__, utcnow(), 0
    for entry in entries:
        try:
            with db.session.begin_nested():  # an entry naming a row since deleted is skipped, not fatal
                new += db.session.execute(insert(table).values(
                    staff_id=entry["staff_id"], technology_id=entry["technology_id"],
                    day=date.fromisoformat(entry["day"]), right=entry["right"], code=entry["code"][:40],
                    reason=entry["reason"][:300], notified=False,
                    created_at=datetime.fromisoformat(entry["at"]) if entry.get("at") else now, updated_at=now)
                    .on_conflict_do_nothing(index_elements=["staff_id", "technology_id", "day"])
                    .returning(table.c.id)).first() is not None
        except (IntegrityError, KeyError, ValueError, TypeError):
            continue
    return new


def record_denial(decision: Decision, code: str, right: str, day: date) -> bool:
    """Note a denial for its alert without slowing the check: once per worker per key, one Redis RPUSH (the
    minute job and the alert pages write it, deduplicated by the table's unique key); straight into the table
    when Redis is down. True if this worker had not noted it yet."""
    import json

    import redis as redis_errors
    from flask import current_app

    from portal.core.redis_conn import get_redis

    seen = current_app.extensions.setdefault("privilege_alerts_seen", set())
    key = (decision.staff_id, decision.technology_id, day)
    if key in seen:
        return False
    entry = {"staff_id": decision.staff_id, "technology_id": decision.technology_id, "day": day.isoformat(),
             "right": right, "code": code[:40], "reason": decision.reason[:300], "at": utcnow().isoformat()}
    try:
        get_redis().rpush(_alert_key(), json.dumps(entry, ensure_ascii=False))
    except (redis_errors.RedisError, OSError):
        insert_alerts([entry])
    if len(seen) > 100_000:
        seen.clear()
    seen.add(key)
    return True


def drain_alerts(batch: int = 5_000) -> int:
    """Move the noted denials from Redis into the alert table (the minute job; the alert pages before reading).
    Returns how many alerts were new."""
    import json

    import redis as redis_errors

    from portal.core.redis_conn import get_redis

    new = 0
    while True:
        try:
            raw = get_redis().lpop(_alert_key(), batch) or []
        except (redis_errors.RedisError, OSError):
            return new
        entries = []
        for item in raw:
            try:
                entries.append(json.loads(item))
            except ValueError:
                continue
        new += insert_alerts(entries)
        if len(raw) < batch:
            return new


def notify_alerts() -> int:
    """Tell medical affairs and the department head of each new interception alert (in-app + WeCom), once."""
    drain_alerts()
    claimed = list(db.session.scalars(select(PrivilegeAlert).where(PrivilegeAlert.notified.is_(False))
                                      .order_by(PrivilegeAlert.id).limit(500)))
    if not claimed:
        return 0
    ids = [a.id for a in claimed]
    done = db.session.execute(update(PrivilegeAlert).where(PrivilegeAlert.id.in_(ids),
                                                           PrivilegeAlert.notified.is_(False))
                              .values(notified=True))
    if done.rowcount != len(ids):  # another run took some: leave the rest to it
        return 0
    office = medical_affairs()
    for alert in claimed:
        title = f"超权限拦截：{alert.staff.name} {alert.technology.name}"
        body = f"{alert.staff.name}（{alert.staff.department.name}）：{alert.reason}"
        link = f"/credentials/privileges/alerts?day={alert.day.isoformat()}"
        notify(set(office) | set(department_heads(alert.staff.department_id)), "warning", title, body, link)
    db.session.flush()
    return len(claimed)


# --- renewal reminders -------------------------------------------------------------------------------------

def due_reminder(record: Privilege, today: date) -> int | None:
    if record.reminded_on == today:
        return None
    left = (record.valid_to - today).days
    if left < 0:
        return None
    reached = [d for d in REMINDER_DAYS if left <= d]
    if not reached:
        return None
    smallest = min(reached)
    if record.reminded_days is not None and record.reminded_days <= smallest:
        return None
    return smallest


def run_privilege_expiry(today: date | None = None) -> dict[str, int]:
    """The daily job: remind the holder and department head at 90 / 30 / 7 days before a privilege ends (once
    per privilege per threshold, never twice a day), medical affairs one summary; flip ended ones to expired."""
    today = today or local_today()
    horizon = today + timedelta(days=max(REMINDER_DAYS))
    candidates = db.session.scalars(select(Privilege).where(Privilege.status == "active",
                                                            Privilege.valid_to <= horizon)
                                    .order_by(Privilege.valid_to, Privilege.id))
    reminded = expired = 0
    for record in candidates:
        if record.valid_to < today:
            before = audit.snapshot(record, FIELDS)
            record.status = "expired"
            audit.record("update", "privilege", record.id, label=_label(record), before=before,
                         after=audit.snapshot(record, FIELDS))
            expired += 1
            _tell(record, f"授权已到期：{record.scope_label}",
                  f"{record.staff.name}的{record.scope_label}（{record.rights_label}）已于 "
                  f"{format_date(record.valid_to)} 到期，HIS 已不再放行，请尽快申请再授权。")
            continue
        days = due_reminder(record, today)
        if days is None:
            continue
        left = (record.valid_to - today).days
        _tell(record, f"授权即将到期：{record.scope_label}",
              f"{record.staff.name}的{record.scope_label}（{record.rights_label}）将于 {format_date(record.valid_to)}"
              f" 到期（还有 {left} 天），请及时申请再授权。")
        record.reminded_days, record.reminded_on = days, today
        reminded += 1
    db.session.flush()
    if reminded or expired:
        notify(medical_affairs(), "expiry", f"授权到期提醒：{reminded} 项即将到期，{expired} 项已到期",
               f"{format_date(today)} 到达提醒节点的授权 {reminded} 项，新到期 {expired} 项。",
               "/credentials/privileges/renewals")
    return {"reminded": reminded, "expired": expired}


def _tell(record: Privilege, title: str, body: str) -> None:
    holder = db.session.scalar(select(User.id).where(User.staff_id == record.staff_id, User.is_active_flag))
    link = f"/credentials/privileges/{record.id}/renewal"
    targets = {holder} | set(department_heads(record.staff.department_id))
    notify([t for t in targets if t], "expiry", title, body, link)
