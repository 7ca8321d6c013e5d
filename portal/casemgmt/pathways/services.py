"""Management pathways (管理路径): ordered steps per disease and package, published as versions.

Publishing never edits a version in place: it writes a new version, so tasks already made from
older steps, and enrolments started on them, keep exactly the steps they had.
"""

from __future__ import annotations

import re

from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from portal.core import audit
from portal.core.service import ServiceError, clean
from portal.extensions import db

from ..models import ANCHORS, PACKAGES, TASK_TYPES, Pathway, PathwayStep, PathwayVersion

MAX_STEPS = 100
ICD10_PREFIX = re.compile(r"^[A-Z]([0-9]{1,2}(\.[0-9A-Z]{0,4})?)?$")  # C, C3, C34, C34.1
MAX_OFFSET = 3650


def _check_pathway(name: str, icd10_prefix: str, package: str) -> tuple[str, str]:
    name = clean(name)
    if not name or len(name) > 100:
        raise ServiceError("请填写路径名称（100 字以内）。", field="name")
    prefix = clean(icd10_prefix).upper()
    if not ICD10_PREFIX.fullmatch(prefix):
        raise ServiceError("ICD-10 编码前缀格式不正确（如 C34、C34.1）。", field="icd10_prefix")
    if package not in (*PACKAGES, "any"):
        raise ServiceError("请选择适用的服务包。", field="package")
    return name, prefix


def create_pathway(*, name: str, icd10_prefix: str, package: str = "any", description: str = "") -> Pathway:
    name, prefix = _check_pathway(name, icd10_prefix, package)
    if db.session.scalar(select(Pathway.id).where(Pathway.name == name)):
        raise ServiceError("已有同名的管理路径。", field="name")
    pathway = Pathway(name=name, icd10_prefix=prefix, package=package, description=clean(description))
    db.session.add(pathway)
    db.session.flush()
    audit.record("create", "pathway", pathway.id, label=name,
                 after={"name": name, "icd10_prefix": prefix, "package": package})
    return pathway


def check_step(raw: dict, position: int) -> dict:
    """One step as the form or a caller gives it, checked; the message names the step's row."""
    where = f"第 {position} 步："
    title = clean(raw.get("title"))
    if not title or len(title) > 100:
        raise ServiceError(where + "请填写步骤名称（100 字以内）。", field="steps")
    if raw.get("task_type") not in TASK_TYPES:
        raise ServiceError(where + "请选择任务类型。", field="steps")
    if raw.get("anchor") not in ANCHORS:
        raise ServiceError(where + "请选择锚定事件（入组、入院、手术或出院）。", field="steps")
    numbers = {}
    for key, label, low in (("offset_days", "偏移天数", -MAX_OFFSET), ("window_days", "时间窗（天）", 0),
                            ("recur_every_days", "重复间隔（天）", 1), ("recur_times", "重复次数", 1)):
        value = raw.get(key)
        if value in (None, ""):
            numbers[key] = None
            continue
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ServiceError(where + f"{label}应为整数。", field="steps") from None
        if not low <= number <= MAX_OFFSET:
            raise ServiceError(where + f"{label}应在 {low} 到 {MAX_OFFSET} 之间。", field="steps")
        numbers[key] = number
    if (numbers["recur_every_days"] is None) != (numbers["recur_times"] is None):
        raise ServiceError(where + "重复的步骤需同时填写重复间隔和重复次数。", field="steps")
    fields = raw.get("outcome_fields") or []
    if isinstance(fields, str):
        fields = [f for f in (clean(x) for x in fields.replace("，", ",").replace("、", ",").split(",")) if f]
    if len(fields) > 10 or any(len(f) > 30 for f in fields) or len(set(fields)) != len(fields):
        raise ServiceError(where + "结果字段最多 10 个、每个不超过 30 字且不重复。", field="steps")
    return {"title": title, "task_type": raw["task_type"], "anchor": raw["anchor"],
            "offset_days": numbers["offset_days"] or 0, "window_days": numbers["window_days"] or 0,
            "recur_every_days": numbers["recur_every_days"], "recur_times": numbers["recur_times"],
            "outcome_fields": list(fields)}


def publish_version(pathway: Pathway, steps: list[dict], note: str = "") -> PathwayVersion:
    """Save the steps as the pathway's next version; new enrolments start on it."""
    if not steps:
        raise ServiceError("路径至少需要一个步骤。", field="steps")
    if len(steps) > MAX_STEPS:
        raise ServiceError(f"路径步骤不超过 {MAX_STEPS} 个。", field="steps")
    checked = [check_step(raw, i) for i, raw in enumerate(steps, start=1)]
    note = clean(note)
    if len(note) > 200:
        raise ServiceError("版本说明不超过 200 字。", field="note")
    number = (db.session.scalar(select(func.max(PathwayVersion.number))
                                .where(PathwayVersion.pathway_id == pathway.id)) or 0) + 1
    version = PathwayVersion(pathway_id=pathway.id, number=number, note=note,
                             steps=[PathwayStep(position=i, **data) for i, data in enumerate(checked, start=1)])
    db.session.add(version)
    db.session.flush()
    db.session.refresh(pathway, ["versions"])
    audit.record("publish", "pathway", pathway.id, label=f"{pathway.name} 第 {number} 版",
                 changes={"version": number, "steps": [s["title"] for s in checked], "note": note})
    return version


def set_pathway_active(pathway: Pathway, active: bool) -> Pathway:
    """Switch a pathway on or off for new enrolments; enrolments already on it keep their version."""
    if pathway.is_active == active:
        return pathway
    pathway.is_active = active
    db.session.flush()
    audit.record("activate" if active else "deactivate", "pathway", pathway.id, label=pathway.name,
                 before={"is_active": not active}, after={"is_active": active})
    return pathway


PATHWAY_STATES = {"active": "启用", "inactive": "停用"}


def pathways_query(q: str = "", status: str = ""):
    """Pathways by ICD-10 prefix; q matches the start of the name or of the prefix."""
    stmt = (select(Pathway).options(selectinload(Pathway.versions))
            .order_by(Pathway.is_active.desc(), Pathway.icd10_prefix, Pathway.name, Pathway.id))
    if q:
        stmt = stmt.where(or_(Pathway.name.startswith(q, autoescape=True),
                              Pathway.icd10_prefix.startswith(q.upper(), autoescape=True)))
    if status == "active":
        stmt = stmt.where(Pathway.is_active)
    elif status == "inactive":
        stmt = stmt.where(Pathway.is_active.is_(False))
    return stmt


def step_counts(version_ids: list[int]) -> dict[int, int]:
    if not version_ids:
        return {}
    return dict(db.session.execute(select(PathwayStep.version_id, func.count()).where(
        PathwayStep.version_id.in_(version_ids)).group_by(PathwayStep.version_id)).all())


def enrolment_counts(pathway: Pathway) -> dict[int, dict[str, int]]:
    """Per version of the pathway: how many enrolments started on it, and how many are still active."""
    from ..models import Enrolment

    out: dict[int, dict[str, int]] = {}
    for version_id, status, count in db.session.execute(
            select(Enrolment.pathway_version_id, Enrolment.status, func.count())
            .join(PathwayVersion, PathwayVersion.id == Enrolment.pathway_version_id)
            .where(PathwayVersion.pathway_id == pathway.id).group_by(Enrolment.pathway_version_id, Enrolment.status)):
        out.setdefault(version_id, {"active": 0, "total": 0})
        out[version_id]["total"] += count
        if status == "active":
            out[version_id]["active"] += count
    return out
