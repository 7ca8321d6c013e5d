"""Read-side of patients: the patient list, the patient view (pathway progress, services, notes) and caseloads."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Select, Subquery, and_, case, func, or_, select
from sqlalchemy.orm import aliased, selectinload

from portal.auth.models import Department, Role, Staff, User, user_roles
from portal.auth.org import kept_while_org_unchanged
from portal.core import masking, reveal
from portal.extensions import db

from .. import scoping
from ..models import GENDERS, CareTask, Enrolment, HandoverNote, LedgerEntry, PathwayStep, Patient, WardCoverage
from .services import caseloads

_active = aliased(Enrolment, name="active_enrolment")
PATIENT_STATES = {"active": "管理中", "closed": "已结案", "none": "未入组"}
# "name" sorts by the masked name (first character, length, last character): the hidden characters
# must not show through the order. The ORDER BY terms are in SORT_TERMS.
PATIENT_SORTS = {"created": Patient.id, "name": Patient.name, "hospital_no": Patient.hospital_no,
                 "start_date": _active.start_date}
SORT_TERMS = {"name": reveal.masked_name_order(Patient.name)}


@dataclass
class PatientFilters:
    q: str = ""
    status: str = ""  # a key of PATIENT_STATES
    case_manager_id: int | None = None
    ward_id: int | None = None


def patients_query(filters: PatientFilters, user, sort_key: str = "created", descending: bool = True) -> Select:
    """Patients the user may see, filtered; the active enrolment is joined (at most one per patient)."""
    stmt = (select(Patient).outerjoin(_active, and_(_active.patient_id == Patient.id, _active.status == "active"))
            .options(selectinload(Patient.enrolments).selectinload(Enrolment.case_manager)))
    return _filtered(stmt, filters, user, sort_key, descending)


def _order(sort_key: str, descending: bool) -> list:
    terms = SORT_TERMS.get(sort_key, (PATIENT_SORTS[sort_key],))
    last = Patient.id.desc() if descending else Patient.id.asc()
    return [*(t.desc() if descending else t.asc() for t in terms), last]


def _filtered(stmt: Select, filters: PatientFilters, user, sort_key: str, descending: bool) -> Select:
    """Visibility, the filters and the order, on a select from Patient joined to its active enrolment (_active)."""
    stmt = scoping.scope_patients(stmt, Patient.id, user)
    if filters.q:
        stmt = stmt.where(search_condition(search_term(filters.q, user)))
    if filters.status == "active":
        stmt = stmt.where(_active.id.is_not(None))
    elif filters.status == "closed":
        stmt = stmt.where(_active.id.is_(None), Patient.enrolments.any())
    elif filters.status == "none":
        stmt = stmt.where(~Patient.enrolments.any())
    if filters.case_manager_id:
        stmt = stmt.where(_active.case_manager_id == filters.case_manager_id)
    if filters.ward_id:
        stmt = stmt.where(_active.ward_id == filters.ward_id)
    return stmt.order_by(*_order(sort_key, descending))


class ActiveEnrolmentRow:
    """The active enrolment as the patient list shows it."""

    __slots__ = ("bed", "case_manager_name", "disease_name", "icd10_code", "start_date", "ward_name")

    def __init__(self, row):
        for name in self.__slots__:
            setattr(self, name, row[name])


class PatientRow:
    """One line of the patient list, read-only (masked fields only), with its active enrolment if any."""

    __slots__ = (
        "active_enrolment",
        "ever_enrolled",
        "gender_label",
        "hospital_no",
        "id",
        "id_number_masked",
        "masked_name",
        "phone_masked",
    )

    def __init__(self, row):
        self.id, self.hospital_no = row["id"], row["hospital_no"]
        self.id_number_masked, self.phone_masked = row["id_number_masked"], row["phone_masked"]
        self.masked_name = masking.mask_name(row["name"])
        self.gender_label = GENDERS.get(row["gender"], "")
        self.active_enrolment = ActiveEnrolmentRow(row) if row["enrolment_id"] is not None else None
        self.ever_enrolled = row["ever_enrolled"]


def _patient_row_select() -> Select:
    """The list's columns: the patient's masked fields, the active enrolment with its ward and manager's name,
    and whether the patient was ever enrolled. Built once (aliases are costly to build per request)."""
    ward, manager, manager_staff = aliased(Department), aliased(User), aliased(Staff)
    ever = select(Enrolment.id).where(Enrolment.patient_id == Patient.id).exists()
    return (select(Patient.id, Patient.name, Patient.gender, Patient.hospital_no, Patient.id_number_masked,
                   Patient.phone_masked, _active.id.label("enrolment_id"), _active.disease_name, _active.icd10_code,
                   _active.bed, _active.start_date, ward.name.label("ward_name"),
                   case((manager_staff.id.is_not(None), manager_staff.name), else_=manager.login_name)
                   .label("case_manager_name"), ever.label("ever_enrolled"))
            .outerjoin(_active, and_(_active.patient_id == Patient.id, _active.status == "active"))
            .outerjoin(ward, ward.id == _active.ward_id)
            .outerjoin(manager, manager.id == _active.case_manager_id)
            .outerjoin(manager_staff, manager_staff.id == manager.staff_id))


_PATIENT_ROW_SELECT = _patient_row_select()


_PATIENT_KEYS = select(Patient.id)
_PATIENT_KEYS_ACTIVE = _PATIENT_KEYS.outerjoin(_active, and_(_active.patient_id == Patient.id,
                                                             _active.status == "active"))


def patient_rows_query(filters: PatientFilters, user, sort_key: str = "created",
                       descending: bool = True) -> tuple[Select, Callable[[Subquery], Select]]:
    """patients_query() as plain rows for the list page (PatientRow); the export keeps the ORM query.

    Two parts for paginate(keys, ..., rows=rows): the filtered, ordered patient ids (joined to the active
    enrolment only when a filter or the order needs it), and the page's shown columns for those ids. So the
    ward, manager and staff are joined for the 20 rows shown, not for every visible patient the total counts."""
    needs_active = bool(filters.status or filters.case_manager_id or filters.ward_id) or sort_key == "start_date"
    keys = _filtered(_PATIENT_KEYS_ACTIVE if needs_active else _PATIENT_KEYS, filters, user, sort_key, descending)
    order = _order(sort_key, descending)

    def rows(page: Subquery) -> Select:
        return _PATIENT_ROW_SELECT.where(Patient.id == page.c.id).order_by(*order)

    return keys, rows


def search_term(q: str, user) -> reveal.SearchTerm:
    """The patient search box under the reveal rule (portal.core.reveal): a full ID number or phone only for
    holders of casemgmt.reveal; raises RevealRefused for anyone else (unless it is a hospital number they see)."""
    from .. import REVEAL

    def visible_hospital_no(text: str) -> bool:
        stmt = scoping.scope_patients(select(Patient.id).where(Patient.hospital_no == text), Patient.id, user)
        return db.session.scalar(stmt.limit(1)) is not None

    return reveal.search_term(q, may_reveal=REVEAL.code in user.principal.permissions,
                              permission_label=REVEAL.label, shown_in_clear=visible_hospital_no)


def search_condition(term: reveal.SearchTerm):
    """Exact hospital number, the masked name, and (for who may reveal) the full ID number or phone."""
    conditions = [Patient.hospital_no == term.text]
    name = reveal.masked_name_condition(Patient.name, term.text)
    if name is not None:
        conditions.append(name)
    if term.hashes:
        conditions += [Patient.id_number_hash.in_(term.hashes), Patient.phone_hash.in_(term.hashes)]
    return or_(*conditions)



def case_managers(include_ids: tuple[int, ...] = ()) -> list[User]:
    """Active case managers by employee number (and any users named in include_ids, e.g. a former manager)."""
    from portal.auth.queries import active_user_ids_with_roles

    ids = set(active_user_ids_with_roles(("case_manager",))) | {i for i in include_ids if i}
    if not ids:
        return []
    return list(db.session.scalars(select(User).outerjoin(Staff, User.staff_id == Staff.id)
                                   .where(User.id.in_(ids)).order_by(Staff.employee_no, User.login_name)))


def wards(include_ids: tuple[int, ...] = ()) -> list[Department]:
    """Wards and departments in use, in tree order: where an enrolled patient can lie."""
    from portal.auth.org import department_tree

    return [d for d in department_tree(include_inactive=True)
            if d.kind in ("ward", "department") and (d.is_active or d.id in include_ids)]


def manager_choices() -> list[tuple[int, str]]:
    """The list filter's active case managers, (id, "工号 姓名") by employee number: case_managers() as plain rows.
    Kept per worker while users, roles and staff are unchanged."""
    def read():
        holders = (select(user_roles.c.user_id).join(Role, Role.id == user_roles.c.role_id)
                   .where(Role.code == "case_manager"))
        rows = db.session.execute(select(User.id, User.login_name, Staff.id, Staff.employee_no, Staff.name)
                                  .outerjoin(Staff, User.staff_id == Staff.id)
                                  .where(User.id.in_(holders), User.is_active_flag)
                                  .order_by(Staff.employee_no, User.login_name))
        return tuple((user_id, f"{employee_no} {name}" if staff_id is not None else login_name)
                     for user_id, login_name, staff_id, employee_no, name in rows)

    return list(kept_while_org_unchanged("casemgmt.manager_choices", None, read))


def ward_choices() -> list[tuple[int, str]]:
    """The list filter's active wards and departments, (id, name) in tree order: wards() as plain rows.
    Kept per worker while departments are unchanged."""
    return list(kept_while_org_unchanged("casemgmt.ward_choices", None, _read_ward_choices))


def _read_ward_choices() -> tuple[tuple[int, str], ...]:
    rows = db.session.execute(select(Department.id, Department.name, Department.parent_id, Department.sort_order,
                                     Department.kind, Department.is_active)).all()
    children: dict[int | None, list] = {}
    for row in rows:
        children.setdefault(row.parent_id, []).append(row)
    ordered: list[tuple[int, str]] = []

    def walk(parent_id):  # as portal.auth.org.department_tree: parents first, siblings by sort order and name
        for row in sorted(children.get(parent_id, []), key=lambda r: (r.sort_order, r.name)):
            if row.kind in ("ward", "department") and row.is_active:
                ordered.append((row.id, row.name))
            walk(row.id)

    known = {row.id for row in rows}
    walk(None)
    for orphan_parent in [pid for pid in children if pid is not None and pid not in known]:
        walk(orphan_parent)
    return tuple(ordered)


@dataclass
class StepProgress:
    """One occurrence of a pathway step for an enrolment, and where it stands."""

    step: PathwayStep
    occurrence: int | None
    due: date | None
    window_end: date | None
    task: CareTask | None
    label: str
    state: str  # badge state: ok, warn, bad, off, wait

    @property
    def title(self) -> str:
        if self.occurrence is None or self.step.occurrences == 1:
            return self.step.title
        return f"{self.step.title}（第 {self.occurrence} 次）"


def pathway_progress(enrolment: Enrolment, today: date) -> list[StepProgress]:
    """Every step occurrence of the enrolment's pathway version, with its task where one was made."""
    from ..models import ANCHORS
    from ..tasks.services import step_occurrences

    if enrolment.pathway_version is None:
        return []
    made = {(t.pathway_step_id, t.occurrence): t for t in db.session.scalars(
        select(CareTask).where(CareTask.enrolment_id == enrolment.id, CareTask.pathway_step_id.is_not(None)))}
    rows = []
    for step in enrolment.pathway_version.steps:
        occurrences = step_occurrences(step, enrolment)
        if not occurrences:
            missing = enrolment.anchor_date(step.anchor) is None
            label = f"待定（尚无{ANCHORS.get(step.anchor, '')}日期）" if missing else "不在服务期内"
            rows.append(StepProgress(step, None, None, None, None, label, "off"))
            continue
        for occurrence, due, window_end in occurrences:
            task = made.get((step.id, occurrence))
            if task is not None:
                if task.status == "done":
                    label, state = f"已完成：{task.outcome_label}", "ok"
                elif task.status in ("declined", "unreached"):
                    label, state = task.status_label, "off" if task.status == "declined" else "warn"
                elif task.status == "open" and task.attempts:
                    label, state = f"未联系上（第 {task.attempts} 次）", "warn"
                elif task.status == "cancelled":
                    label, state = "已取消", "off"
                elif task.is_overdue(today):
                    label, state = "已逾期", "bad"
                else:
                    label, state = "待完成", "wait"
            elif due > today:
                label, state = "未到期", "off"
            elif window_end < today:
                label, state = "未执行（已过时间窗）", "bad"
            else:
                label, state = "待生成任务", "warn"
            rows.append(StepProgress(step, occurrence, due, window_end, task, label, state))
    return rows


def special_needs(patient_id: int, today: date, days: int = 30) -> tuple[list[str], list[str]]:
    """Special needs and notes from the patient's open tasks and those of the last `days` days."""
    labels: list[str] = []
    notes: list[str] = []
    since = today - timedelta(days=days)
    for task in db.session.scalars(select(CareTask).where(
            CareTask.patient_id == patient_id, or_(CareTask.status == "open", CareTask.due_date >= since))
            .order_by(CareTask.due_date.desc()).limit(200)):
        labels += [x for x in task.special_need_labels if x not in labels]
        if task.special_note and task.special_note not in notes:
            notes.append(task.special_note)
    return labels, notes


def services_query(patient_id: int) -> Select:
    """The patient's past services (the ledger), newest first."""
    return (select(LedgerEntry).where(LedgerEntry.patient_id == patient_id)
            .order_by(LedgerEntry.service_date.desc(), LedgerEntry.id.desc()))


def handover_notes(patient_id: int, limit: int = 50) -> list[HandoverNote]:
    return list(db.session.scalars(select(HandoverNote).where(HandoverNote.patient_id == patient_id)
                                   .order_by(HandoverNote.id.desc()).limit(limit)))


@dataclass
class CaseloadRow:
    user: User
    active: int
    norm: int
    wards: list[str]

    @property
    def ratio(self) -> float:
        return self.active / self.norm if self.norm else 0.0

    @property
    def state(self) -> str:
        if self.active > self.norm:
            return "bad"
        return "warn" if self.ratio >= 0.9 else "ok"

    @property
    def state_label(self) -> str:
        return {"bad": "超出配比", "warn": "接近上限", "ok": "正常"}[self.state]


def caseload_rows(norm: int) -> list[CaseloadRow]:
    """Every active case manager with their active caseload against the staffing norm, heaviest first."""
    managers = case_managers()
    counts = caseloads([m.id for m in managers]) if managers else {}
    covered: dict[int, list[str]] = {}
    for user_id, name in db.session.execute(
            select(WardCoverage.case_manager_id, Department.name)
            .join(Department, Department.id == WardCoverage.ward_id).order_by(Department.name)):
        covered.setdefault(user_id, []).append(name)
    rows = [CaseloadRow(m, counts.get(m.id, 0), norm, covered.get(m.id, [])) for m in managers]
    return sorted(rows, key=lambda r: (-r.active, r.user.display_name))


def unassigned_active() -> int:
    return db.session.scalar(select(func.count()).select_from(Enrolment).where(
        Enrolment.status == "active", Enrolment.case_manager_id.is_(None)))


def coverage_by_ward() -> list[tuple[Department, list[WardCoverage]]]:
    """Each ward in use (and any covered department) with the case managers covering it."""
    rows = db.session.scalars(select(WardCoverage).options(selectinload(WardCoverage.case_manager))).all()
    by_ward: dict[int, list[WardCoverage]] = {}
    for row in rows:
        by_ward.setdefault(row.ward_id, []).append(row)
    out = []
    for dept in wards(include_ids=tuple(by_ward)):
        if dept.kind == "ward" or dept.id in by_ward:
            out.append((dept, sorted(by_ward.get(dept.id, []), key=lambda c: c.case_manager.display_name)))
    return out
