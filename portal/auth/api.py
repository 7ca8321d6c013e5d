"""HR / HIS push: POST /api/v1/departments and POST /api/v1/staff, batch upserts (see auth/sync.py)."""

from __future__ import annotations

from flask import jsonify

from portal.api.errors import ApiError
from portal.api.params import batch_items
from portal.api.registry import arr, boolean, endpoint, integer, obj, scope, text

from . import sync
from .permissions import EDIT_STAFF, MANAGE_DEPARTMENTS

MAX_BODY_BYTES = 4 * 1024 * 1024
DEPARTMENTS = scope("departments", "科室同步", "HR / HIS 推送科室（按科室代码新增或更新）")
STAFF = scope("staff", "人员同步", "HR / HIS 推送人员（按工号新增、更新或停用）")
ERRORS = ("BAD_REQUEST", "TOO_LARGE", "VALIDATION")
ANSWER = obj(created=integer(), updated=integer(), unchanged=integer(), deactivated=integer(),
             created_keys=arr(text()), updated_keys=arr(text()), deactivated_keys=arr(text()))
DEPARTMENT = obj(("code", "name", "kind"), code=text("科室代码（唯一，按它识别）"), name=text("科室名称"),
                 kind=text("类型", enum=["hospital", "division", "department", "ward"]),
                 parent=text("上级科室代码（医院不填）"), active=boolean("false：停用（不删除）"),
                 sort_order=integer("排序"))
PERSON = obj(("employee_no", "name", "department"), employee_no=text("工号（唯一，按它识别；不区分大小写）"),
             name=text("姓名"), department=text("所属科室代码"), title=text("职称"), position=text("职务"),
             active=boolean("false：离职，停用人员及其平台账户（不删除）"))


def _run(upsert):
    try:
        outcome = upsert(batch_items(MAX_BODY_BYTES, max_items=sync.MAX_ITEMS))
    except sync.BatchRejected as rejected:
        raise ApiError("VALIDATION", rejected.message, details=[p.as_dict() for p in rejected.problems]) from None
    return jsonify(outcome.as_dict())


@endpoint("POST", "/departments", scope=DEPARTMENTS, permission=MANAGE_DEPARTMENTS, summary="批量推送科室",
          request=obj(("items",), items=arr(DEPARTMENT, sync.MAX_ITEMS)), response=ANSWER, errors=ERRORS)
def push_departments():
    """Create or update departments by code; all or nothing per batch (details list every problem)."""
    return _run(sync.upsert_departments)


@endpoint("POST", "/staff", scope=STAFF, permission=EDIT_STAFF, summary="批量推送人员（入职、调动、离职）",
          request=obj(("items",), items=arr(PERSON, sync.MAX_ITEMS)), response=ANSWER, errors=ERRORS)
def push_staff():
    """Create or update staff by 工号; active: false deactivates (never deletes); all or nothing per batch."""
    return _run(sync.upsert_staff)
