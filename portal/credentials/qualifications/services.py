"""Qualifications: the types, the clinician's application through the approval engine, medical affairs' entry
and state changes, the validity answer the privilege check asks for, and the daily expiry reminders.

Records are never overwritten once granted: a renewal supersedes the old record (kept, linked), and every
change writes an audit record.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select

from portal.approvals import services as approvals
from portal.approvals import subjects
from portal.approvals.models import ApprovalAttachment
from portal.approvals.subjects import Summary
from portal.auth.models import Department, Staff, User
from portal.auth.queries import active_user_ids_with_roles
from portal.core import audit
from portal.core.service import ServiceError, atomic, clean
from portal.core.timeutil import format_date, local_today
from portal.extensions import db
from portal.notify.services import notify

from ..models.qualifications import (
    CATEGORIES,
    DEFAULT_REMINDER_DAYS,
    HELD_STATES,
    STATES,
    Qualification,
    QualificationType,
    valid_on,
)

FIELDS = ("staff_id", "type_id", "level", "number", "issuer", "issued_on", "valid_from", "valid_to", "scope", "note",
          "status", "ended_on")
TYPE_FIELDS = ("code", "name", "category", "expires", "reminder_days", "requires_attachment", "levels", "is_active",
               "sort_order")
MAX_FILES = 5
ANTIBIOTIC_LEVELS = "非限制使用级\n限制使用级\n特殊使用级"
SURGERY_LEVELS = "一级手术\n二级手术\n三级手术\n四级手术"

# code, name, category, expires, requires attachment, levels
STANDARD_TYPES = [
    ("PRACTICE_LICENSE", "医师执业证书", "license", True, True, ""),
    ("PHYSICIAN_CERT", "医师资格证书", "license", False, True, ""),
    ("TITLE", "专业技术职称", "title", False, True, "初级\n中级\n副高级\n正高级"),
    ("POST", "岗位", "title", False, False, ""),
    ("ANTIBIOTIC", "抗菌药物处方权", "prescription", True, False, ANTIBIOTIC_LEVELS),
    ("NARCOTIC", "麻醉药品和第一类精神药品处方权", "prescription", True, True, ""),
    ("RADIATION", "放射工作人员证", "radiation", True, True, ""),
    ("CONSULTATION", "会诊权", "practice", True, False, ""),
    ("SURGERY_GRADE", "手术分级资格", "practice", True, False, SURGERY_LEVELS),
]


def ensure_qualification_types() -> None:
    """The standard qualification types, created when missing (an administrator's changes are kept)."""
    existing = set(db.session.scalars(select(QualificationType.code)))
    for order, (code, name, category, expires, attachment, levels) in enumerate(STANDARD_TYPES, start=1):
        if code in existing:
            continue
        db.session.add(QualificationType(code=code, name=name, category=category, expires=expires,
                                         reminder_days=",".join(map(str, DEFAULT_REMINDER_DAYS)) if expires else "",
                                         requires_attachment=attachment, levels=levels, sort_order=order * 10))
    db.session.flush()


# --- types -------------------------------------------------------------------------------------------------

def parse_reminder_days(text: str) -> str:
    parts = [p for p in clean(text).replace("，", ",").replace("、", ",").replace(" ", ",").split(",") if p]
    days = []
    for part in parts:
        if not part.isdigit() or not 1 <= int(part) <= 365:
            raise ServiceError("提醒天数请填写 1 到 365 之间的整数，用逗号分隔，如 90,30,7。", field="reminder_days")
        days.append(int(part))
    return ",".join(str(d) for d in sorted(set(days), reverse=True))


def save_type(item: QualificationType | None, *, code: str, name: str, category: str, expires: bool,
              reminder_days: str, requires_attachment: bool, levels: str, is_active: bool = True,
              sort_order: int = 0) -> QualificationType:
    """Create or change a qualification type (medical affairs)."""
    code, name = clean(code).upper(), clean(name)
    if category not in CATEGORIES:
        raise ServiceError("请选择资质类别。", field="category")
    for column, value, label in ((QualificationType.code, code, "代码"), (QualificationType.name, name, "名称")):
        clash = db.session.scalar(select(QualificationType.id).where(column == value))
        if clash and (item is None or clash != item.id):
            raise ServiceError(f"已有{label}为“{value}”的资质类型。", field="code" if label == "代码" else "name")
    days = parse_reminder_days(reminder_days) if expires else ""
    if expires and not days:
        raise ServiceError("有有效期的资质请填写提醒天数，如 90,30,7。", field="reminder_days")
    level_text = "\n".join(dict.fromkeys(line.strip() for line in (levels or "").splitlines() if line.strip()))
    if any(len(line) > 32 for line in level_text.splitlines()):
        raise ServiceError("每个级别不能超过 32 个字。", field="levels")
    before = audit.snapshot(item, TYPE_FIELDS) if item else None
    if item is None:
        item = QualificationType()
        db.session.add(item)
    item.code, item.name, item.category, item.expires = code, name, category, expires
    item.reminder_days, item.requires_attachment, item.levels = days, requires_attachment, level_text
    item.is_active, item.sort_order = is_active, sort_order
    db.session.flush()
    audit.record("update" if before else "create", "qualification_type", item.id, label=item.name, before=before,
                 after=audit.snapshot(item, TYPE_FIELDS))
    return item


def active_types() -> list[QualificationType]:
    return list(db.session.scalars(select(QualificationType).where(QualificationType.is_active)
                                   .order_by(QualificationType.sort_order, QualificationType.id)))


def all_types() -> list[QualificationType]:
    return list(db.session.scalars(select(QualificationType).order_by(QualificationType.sort_order,
                                                                      QualificationType.id)))


# --- the validity answer -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Held:
    """A qualification that counts on the day asked about."""

    id: int
    type_code: str
    type_name: str
    level: str
    valid_to: date | None


def valid_qualifications(staff_ids: Iterable[int], on_date: date | None = None) -> dict[int, list[Held]]:
    """Staff id -> the qualifications that count on `on_date` (today): one indexed query, plain rows.

    The privilege check asks this; an expired record is out from the day after its end, whether or not the
    daily job has flipped its state yet.
    """
    ids = sorted(set(staff_ids))
    day = on_date or local_today()
    result: dict[int, list[Held]] = {sid: [] for sid in ids}
    for start in range(0, len(ids), 500):
        rows = db.session.execute(
            select(Qualification.staff_id, Qualification.id, QualificationType.code, QualificationType.name,
                   Qualification.level, Qualification.valid_to)
            .join(QualificationType, QualificationType.id == Qualification.type_id)
            .where(Qualification.staff_id.in_(ids[start:start + 500]), valid_on(day))
            .order_by(Qualification.staff_id, QualificationType.sort_order, Qualification.id))
        for staff_id, qid, code, name, level, valid_to in rows:
            result[staff_id].append(Held(qid, code, name, level, valid_to))
    return result


# --- checks shared by every way a record is written ----------------------------------------------------------

def _type(type_id: int | None) -> QualificationType:
    item = db.session.get(QualificationType, type_id) if type_id else None
    if item is None or not item.is_active:
        raise ServiceError("请选择一个在用的资质类型。", field="type_id")
    return item


def check_record(kind: QualificationType, *, level: str, number: str, valid_from: date | None,
                 valid_to: date | None, issued_on: date | None) -> list[tuple[str, str]]:
    """(field, Chinese message) for every rule the values break (also used by the Excel import)."""
    errors = []
    levels = kind.level_list
    if levels and level not in levels:
        errors.append(("level", f"{kind.name}请选择级别：{'、'.join(levels)}"))
    if not levels and level:
        errors.append(("level", f"{kind.name}没有级别，请留空"))
    if kind.expires and valid_to is None:
        errors.append(("valid_to", f"{kind.name}有有效期，请填写有效期至"))
    if valid_from and valid_to and valid_to < valid_from:
        errors.append(("valid_to", "有效期至不能早于有效期起"))
    if issued_on and issued_on > local_today():
        errors.append(("issued_on", "发证日期不能晚于今天"))
    if len(number) > 64:
        errors.append(("number", "证书编号不能超过 64 个字符"))
    return errors


def _number_taken(type_id: int, number: str, except_id: int | None = None) -> bool:
    if not number:
        return False
    stmt = select(Qualification.id).where(Qualification.type_id == type_id, Qualification.number == number,
                                          Qualification.status.notin_(("rejected", "withdrawn", "superseded")))
    if except_id:
        stmt = stmt.where(Qualification.id != except_id)
    return db.session.scalar(stmt.limit(1)) is not None


def _apply_values(record: Qualification, kind: QualificationType, values: dict) -> None:
    level, number = clean(values.get("level")), clean(values.get("number"))
    errors = check_record(kind, level=level, number=number, valid_from=values.get("valid_from"),
                          valid_to=values.get("valid_to"), issued_on=values.get("issued_on"))
    if errors:
        raise ServiceError(errors[0][1] + "。", field=errors[0][0])
    if _number_taken(kind.id, number, record.id):
        raise ServiceError(f"证书编号“{number}”已登记在另一条{kind.name}中。", field="number")
    record.type_id, record.level, record.number = kind.id, level, number
    record.issuer, record.scope = clean(values.get("issuer"))[:100], clean(values.get("scope"))[:200]
    record.note = clean(values.get("note"))[:2000]
    record.issued_on, record.valid_from, record.valid_to = (values.get("issued_on"), values.get("valid_from"),
                                                            values.get("valid_to"))


def _check_files(files) -> list[tuple[str, bytes]]:
    files = list(files)
    if len(files) > MAX_FILES:
        raise ServiceError(f"一次最多上传 {MAX_FILES} 个附件。", field="attachments")
    for upload in files:
        approvals.check_upload(*upload)
    return files


def _own_staff(user: User) -> Staff:
    if user.staff is None:
        raise ServiceError("您的账户没有关联人员档案，不能申请资质，请联系医务科。", status=403)
    return user.staff


# --- the clinician's application ---------------------------------------------------------------------------

@atomic()
def apply_qualification(user: User, values: dict, files=()) -> Qualification:
    """The clinician applies for a qualification of their own; it goes to the department head, then medical
    affairs, through the approval engine."""
    staff = _own_staff(user)
    kind = _type(values.get("type_id"))
    files = _check_files(files)
    if kind.requires_attachment and not files:
        raise ServiceError(f"{kind.name}需要上传证书扫描件或照片（PDF、JPG、PNG）。", field="attachments")
    record = Qualification(staff_id=staff.id, status="pending", source="application")
    _apply_values(record, kind, values)
    db.session.add(record)
    db.session.flush()
    audit.record("create", "qualification", record.id, label=_label(record), after=audit.snapshot(record, FIELDS))
    instance = approvals.submit("qualification", entity_type="qualification", entity_id=record.id,
                                title=f"资质申请：{staff.name} {record.display_name}", applicant=user,
                                department_id=staff.department_id, comment=clean(values.get("comment")),
                                files=files)
    record.approval_id = instance.id
    return record


@atomic()
def resubmit_application(record: Qualification, user: User, values: dict, files=()) -> Qualification:
    """The applicant corrects a returned application and sends it back to the first step."""
    if record.staff_id != (user.staff_id or 0):
        raise ServiceError("只能修改本人的资质申请。", status=403)
    if record.status != "returned":
        raise ServiceError(f"该申请{STATES[record.status]}，不能修改后重新提交。", status=409)
    kind = _type(values.get("type_id"))
    files = _check_files(files)
    if kind.requires_attachment and not files and not attachments_of(record):
        raise ServiceError(f"{kind.name}需要上传证书扫描件或照片（PDF、JPG、PNG）。", field="attachments")
    before = audit.snapshot(record, FIELDS)
    _apply_values(record, kind, values)
    record.status = "pending"
    db.session.flush()
    audit.record("update", "qualification", record.id, label=_label(record), before=before,
                 after=audit.snapshot(record, FIELDS))
    approvals.resubmit(record.approval_id, user, clean(values.get("comment")) or "已按意见修改", files)
    return record


def attachments_of(record: Qualification) -> list[ApprovalAttachment]:
    """The record's evidence: the attachments of its approval (the portal's one attachment store)."""
    if not record.approval_id:
        return []
    return list(db.session.scalars(select(ApprovalAttachment).where(
        ApprovalAttachment.instance_id == record.approval_id).order_by(ApprovalAttachment.id)))


def _label(record: Qualification) -> str:
    return f"{record.staff.name if record.staff else record.staff_id}：{record.display_name}"[:200]


def _activate(record: Qualification) -> None:
    """Granted: the record counts from now on; the person's earlier record of the same type is superseded."""
    before = audit.snapshot(record, FIELDS)
    record.status = "expired" if record.valid_to and record.valid_to < local_today() else "active"
    older = db.session.scalars(select(Qualification).where(
        Qualification.staff_id == record.staff_id, Qualification.type_id == record.type_id,
        Qualification.id != record.id, Qualification.status.in_(HELD_STATES)))
    for old in older:
        old_before = audit.snapshot(old, FIELDS)
        old.status, old.ended_on = "superseded", local_today()
        audit.record("update", "qualification", old.id, label=_label(old), before=old_before,
                     after={**audit.snapshot(old, FIELDS), "superseded_by": record.id})
        record.supersedes_id = record.supersedes_id or old.id
    db.session.flush()
    audit.record("update", "qualification", record.id, label=_label(record), before=before,
                 after=audit.snapshot(record, FIELDS))


class QualificationSubject(subjects.StatusSubject):
    entity_type = "qualification"
    label = "资质"

    def summary(self, entity_id: int) -> Summary | None:
        record = db.session.get(Qualification, entity_id)
        if record is None:
            return None
        staff = record.staff
        facts = [("申请人", f"{staff.name}（{staff.employee_no}）"), ("科室", staff.department.name),
                 ("资质类型", record.display_name), ("证书编号", record.number or "—"),
                 ("发证机关", record.issuer or "—"), ("发证日期", format_date(record.issued_on) or "—"),
                 ("有效期", f"{format_date(record.valid_from) or '—'} 至 {format_date(record.valid_to) or '长期'}")]
        if record.scope:
            facts.append(("范围", record.scope))
        return Summary(title=_label(record), url=f"/credentials/qualifications/{record.id}", facts=facts)

    def _set(self, entity_id: int, status: str) -> Qualification:
        record = db.session.get(Qualification, entity_id)
        before = audit.snapshot(record, FIELDS)
        record.status = status
        audit.record("update", "qualification", record.id, label=_label(record), before=before,
                     after=audit.snapshot(record, FIELDS))
        return record

    def on_approved(self, entity_id, instance):
        _activate(db.session.get(Qualification, entity_id))

    def on_resubmitted(self, entity_id, instance):
        """Sent back from the approval page itself (with a comment or new files, the values unchanged)."""
        if db.session.get(Qualification, entity_id).status == "returned":
            self._set(entity_id, "pending")


subjects.register(QualificationSubject())


# --- medical affairs ---------------------------------------------------------------------------------------

@atomic()
def register_qualification(staff: Staff, values: dict, within: frozenset[int] | None = None) -> Qualification:
    """Medical affairs enters a qualification it has verified (paper certificate seen): valid at once."""
    if within is not None and staff.department_id not in within:
        raise ServiceError("只能为您可以管理资质的科室人员登记。", status=403)
    kind = _type(values.get("type_id"))
    record = Qualification(staff_id=staff.id, status="pending", source="manual")
    _apply_values(record, kind, values)
    db.session.add(record)
    db.session.flush()
    audit.record("create", "qualification", record.id, label=_label(record), after=audit.snapshot(record, FIELDS))
    _activate(record)
    return record


TRANSITIONS = {  # action -> (allowed from, new state, Chinese verb)
    "suspend": (("active", "expired"), "suspended", "暂停"),
    "restore": (("suspended",), "active", "恢复"),
    "revoke": (("active", "expired", "suspended"), "revoked", "撤销"),
}


@atomic()
def change_state(record: Qualification, action: str, reason: str) -> Qualification:
    """Suspend, restore or revoke a granted qualification, with a reason; the holder is told."""
    if action not in TRANSITIONS:
        raise ServiceError("无效的操作。", status=400)
    allowed, new_state, verb = TRANSITIONS[action]
    if record.status not in allowed:
        raise ServiceError(f"该资质{STATES[record.status]}，不能{verb}。", status=409)
    reason = clean(reason)
    if not reason:
        raise ServiceError(f"请填写{verb}原因。", field="reason")
    if len(reason) > 500:
        raise ServiceError("原因不能超过 500 字。", field="reason")
    before = audit.snapshot(record, FIELDS)
    record.status = new_state
    record.ended_on = None if new_state == "active" else local_today()
    if new_state == "active" and record.valid_to and record.valid_to < local_today():
        record.status = "expired"
    db.session.flush()
    audit.record("update", "qualification", record.id, label=_label(record), before=before,
                 after={**audit.snapshot(record, FIELDS), "reason": reason})
    holder = db.session.scalar(select(User.id).where(User.staff_id == record.staff_id))
    notify([holder], "credentials", f"资质已{verb}：{record.display_name}", f"原因：{reason}",
           f"/credentials/qualifications/{record.id}")
    return record


# --- expiry ------------------------------------------------------------------------------------------------

def _department_heads(department_id: int) -> list[int]:
    dept = db.session.get(Department, department_id)
    while dept is not None:
        ids = active_user_ids_with_roles(("dept_head",), dept.id)
        if ids or dept.kind not in ("ward",):
            return ids
        dept = dept.parent
    return []


def due_reminder(record: Qualification, today: date) -> int | None:
    """The reminder day this record has reached and not yet been reminded of (None: nothing due today)."""
    if record.valid_to is None or record.reminded_on == today:
        return None
    left = (record.valid_to - today).days
    if left < 0:
        return None
    reached = [d for d in record.type.reminder_list if left <= d]
    if not reached:
        return None
    smallest = min(reached)
    if record.reminded_days is not None and record.reminded_days <= smallest:
        return None
    return smallest


def run_expiry(today: date | None = None) -> dict[str, int]:
    """The daily job: remind at each reminder day (holder and department head per record, medical affairs one
    summary), and flip records past their end to expired. Running it twice a day changes nothing the second time.
    """
    today = today or local_today()
    horizon = today + timedelta(days=max([d for t in all_types() for d in t.reminder_list] or [0]))
    candidates = db.session.scalars(select(Qualification).join(Staff, Staff.id == Qualification.staff_id).where(
        Qualification.status == "active", Qualification.valid_to.is_not(None), Qualification.valid_to <= horizon,
        Staff.is_active).order_by(Qualification.valid_to, Qualification.id))
    holders = {}
    reminded = expired = 0
    for record in candidates:
        if record.valid_to < today:
            before = audit.snapshot(record, FIELDS)
            record.status = "expired"
            audit.record("update", "qualification", record.id, label=_label(record), before=before,
                         after=audit.snapshot(record, FIELDS))
            expired += 1
            _tell(record, holders, f"资质已过期：{record.display_name}",
                  f"{record.staff.name}的{record.display_name}已于 {format_date(record.valid_to)} 到期，"
                  "请尽快办理换证并提交申请。")
            record.reminded_on = today
            continue
        days = due_reminder(record, today)
        if days is None:
            continue
        left = (record.valid_to - today).days
        _tell(record, holders, f"资质即将到期：{record.display_name}",
              f"{record.staff.name}的{record.display_name}将于 {format_date(record.valid_to)} 到期"
              f"（还有 {left} 天），请及时办理并提交申请。")
        record.reminded_days, record.reminded_on = days, today
        reminded += 1
    db.session.flush()
    if reminded or expired:
        office = active_user_ids_with_roles(("ma_admin", "ma_staff"))
        notify(office, "expiry", f"资质到期提醒：{reminded} 项即将到期，{expired} 项已过期",
               f"{format_date(today)} 到达提醒节点的资质 {reminded} 项，新过期 {expired} 项。",
               "/credentials/qualifications?state=expiring")
    return {"reminded": reminded, "expired": expired}


def _tell(record: Qualification, holders: dict, title: str, body: str) -> None:
    if record.staff_id not in holders:
        holders[record.staff_id] = db.session.scalar(select(User.id).where(User.staff_id == record.staff_id,
                                                                           User.is_active_flag))
    heads = [h for h in _department_heads(record.staff.department_id) if h != holders[record.staff_id]]
    if holders[record.staff_id]:
        notify([holders[record.staff_id]], "expiry", title, body, f"/credentials/qualifications/{record.id}")
    if heads:
        notify(heads, "expiry", title, body, f"/credentials/qualifications/{record.id}")

