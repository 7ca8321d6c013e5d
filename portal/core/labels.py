"""What users read for internal names: one registry that audit display, exports and pages share.

Field labels are registered per entity (audit entity type, e.g. "care_task") or for every entity ("*");
value labels per (entity, field): a domain registers its own enumeration dicts (by reference, not a copy)
or a function for values that need a lookup (a user id becomes the user's name). Booleans read 是/否.
`describe_filters` turns a list's query arguments into "日期：2026-12-02，个案管理师：张三".

The core imports no domain: each domain registers its labels where its enumerations live.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flask import has_request_context, request

from . import masking

ANY = "*"
EMPTY = "（空）"
YES_NO = {True: "是", False: "否"}

Values = Mapping[Any, str] | Callable[[Any], str | None]

_fields: dict[str, dict[str, str]] = {ANY: {}}
_values: dict[tuple[str, str], Values] = {}
# Some filters are not fields of the entity (group, manager_id on a list) or read differently (status "done").
_filter_fields: dict[str, dict[str, str]] = {ANY: {}}
_filter_values: dict[tuple[str, str], Values] = {}
# Arguments that say how a list is shown, not which rows: left out of a filter line.
NOT_FILTERS = {"page", "sort", "per_page", "format"}


def register_fields(entity: str, labels: Mapping[str, str]) -> None:
    """Chinese labels of an entity's fields (entity "*" for every entity); later registrations add, never replace."""
    target = _fields.setdefault(entity, {})
    for name, label in labels.items():
        target.setdefault(name, label)


def register_values(entity: str, field: str, values: Values) -> None:
    """The labels of a field's values: an enumeration dict (kept by reference) or a function value -> label."""
    _values.setdefault((entity, field), values)


def register_filters(entity: str, labels: Mapping[str, str] | None = None,
                     values: Mapping[str, Values] | None = None) -> None:
    """Labels for a list's filter arguments where they differ from the entity's fields."""
    target = _filter_fields.setdefault(entity, {})
    for name, label in (labels or {}).items():
        target.setdefault(name, label)
    for name, choices in (values or {}).items():
        _filter_values.setdefault((entity, name), choices)


def field_label(entity: str, field: str) -> str:
    for table in (_fields.get(entity, {}), _fields[ANY]):
        if field in table:
            return table[field]
    return field


def _lookup(table: dict[tuple[str, str], Values], entity: str, field: str, value: Any) -> str | None:
    for key in ((entity, field), (ANY, field)):
        choices = table.get(key)
        if choices is None:
            continue
        if callable(choices) and not isinstance(choices, Mapping):
            shown = _looked_up(choices, value)
            if shown:
                return shown
            continue
        for candidate in (value, str(value)):
            try:
                if candidate in choices:
                    return choices[candidate]
            except TypeError:  # an unhashable value is nobody's code
                break
    return None


def _looked_up(choices: Callable[[Any], str | None], value: Any) -> str | None:
    """A lookup's answer, once per request for each value: a page of audit records names the same user or
    system on many rows, and each lookup is a query (the session does not keep unreferenced rows)."""
    try:
        memo = request.environ.setdefault("portal.label_lookups", {}) if has_request_context() else None
        key = (choices, value)
        if memo is not None and key in memo:
            return memo[key]
    except TypeError:  # an unhashable value: looked up every time
        memo = None
    try:
        shown = choices(value)
    except (TypeError, ValueError):
        shown = None
    if memo is not None:
        memo[key] = shown
    return shown


def value_label(entity: str, field: str, value: Any) -> str:
    """One value as a user reads it: its registered label, 是/否, a list joined with 、, a mapping as 字段：值."""
    if value is None or value == "" or value == [] or value == {}:
        return EMPTY
    if isinstance(value, bool):
        return YES_NO[value]
    if isinstance(value, Mapping):
        return "；".join(f"{field_label(entity, str(k))}：{value_label(entity, str(k), v)}" for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return "、".join(value_label(entity, field, v) for v in value)
    shown = _lookup(_values, entity, field, value)
    return shown if shown is not None else str(value)


@dataclass(frozen=True)
class Change:
    label: str
    before: str | None  # None: not a before/after change, `after` is the recorded value
    after: str

    @property
    def text(self) -> str:
        return f"{self.label}：{self.after}" if self.before is None else f"{self.label}：{self.before} → {self.after}"


def _pair(change: Any) -> tuple[Any, Any] | None:
    if isinstance(change, Mapping):
        if set(change) <= {"before", "after"} and change:
            return change.get("before"), change.get("after")
        if set(change) <= {"from", "to"} and change:
            return change.get("from"), change.get("to")
    return None


def describe_changes(entity: str, changes: Mapping | None) -> list[Change]:
    """An audit record's changes, field by field, in Chinese: labels and values, never internal names."""
    out = []
    for key, change in (masking.audited_changes(entity, changes) or {}).items():
        label = field_label(entity, str(key))
        if key == "filters" and isinstance(change, Mapping):  # an export's filters: the same line as its header
            out.append(Change(label, None, describe_filters(change, entity)))
            continue
        pair = _pair(change)
        if pair is not None:
            out.append(Change(label, value_label(entity, str(key), pair[0]), value_label(entity, str(key), pair[1])))
        elif change is not None and change != "" and change != [] and change != {}:  # an empty note says nothing
            out.append(Change(label, None, value_label(entity, str(key), change)))
    return out


def changes_text(entity: str, changes: Mapping | None) -> str:
    return "；".join(c.text for c in describe_changes(entity, changes))


def describe_filters(args: Mapping[str, Any] | Iterable[tuple[str, Any]], entity: str = ANY) -> str:
    """A list's query arguments as a line people read: "日期：2026-12-02，个案管理师：张三" ("全部" when none)."""
    items = args.items() if isinstance(args, Mapping) else args
    parts = []
    for key, value in items:
        if key in NOT_FILTERS or value in (None, "", [], False):
            continue
        label = next((t[key] for t in (_filter_fields.get(entity, {}), _filter_fields[ANY]) if key in t), None) \
            or field_label(entity, key)
        shown = _lookup(_filter_values, entity, key, value)
        parts.append(f"{label}：{shown if shown is not None else value_label(entity, key, value)}")
    return "，".join(parts) or "全部"


# Shared by every entity: the usual field and filter names.
register_fields(ANY, {
    "id": "编号", "name": "名称", "code": "代码", "title": "标题", "description": "说明", "status": "状态",
    "note": "备注", "notes": "备注", "comment": "意见", "is_active": "启用", "is_active_flag": "启用",
    "created_at": "创建时间", "updated_at": "修改时间", "day": "日期", "date": "日期", "date_from": "开始日期",
    "date_to": "结束日期", "month": "月份", "year": "年份", "q": "搜索", "user": "操作人", "user_id": "用户",
    "department_id": "科室", "ward_id": "病区", "manager_id": "个案管理师", "case_manager_id": "个案管理师",
    "patient_id": "患者", "staff_id": "人员", "filters": "筛选条件", "action": "操作", "entity_type": "对象类型",
    "entity_id": "对象编号", "event": "事件", "ip": "IP 地址", "login_name": "登录名", "kind": "类型",
    "parent_id": "上级", "sort_order": "排序", "position": "职务", "employee_no": "工号", "deadline": "期限",
    "source": "来源", "revision": "版本", "late": "迟报", "is_late": "迟报", "is_cancelled": "已取消",
    "created": "新增", "updated": "更新", "cancelled": "取消", "unchanged": "未变", "rows": "行数",
    "role_codes": "角色", "role_id": "角色", "permissions": "权限", "data_scope": "数据范围",
    "wecom_userid": "企业微信账号", "password": "密码", "locked_until": "锁定至", "process": "审批流程",
    "entity": "审批对象", "rectification": "整改情况",
})
