"""The catalogue list as Excel: now (filters applied, big lists by a job) or as of a date.

The columns are the import's headers with values the import reads back, so an exported file imports unchanged.
"""

from __future__ import annotations

from portal.core.listing import Sort, arg_choice, arg_date, arg_int, arg_str, bad_request, parse_sort
from portal.core.scoping import MAX_ID
from portal.core.timeutil import local_today
from portal.io.export import Column, ExportSpec, register_export

from .. import VIEW
from ..models import CATEGORIES, FLAGS, GRADES, STATUSES
from . import queries
from .queries import Filters, PastEntry

YES_NO = {True: "是", False: "否"}
NAME = "技术目录"


def read_filters() -> tuple[Filters, Sort]:
    """The list's filters and sort from the query string; bad values are a 400 with a Chinese message."""
    as_of = arg_date("as_of")
    if as_of is not None and as_of > local_today():
        raise bad_request("截至日期不能晚于今天")
    grade = arg_int("grade", minimum=1, maximum=4)
    filters = Filters(q=arg_str("q", 50), category=arg_choice("category", CATEGORIES), grade=grade,
                      status=arg_choice("status", STATUSES), department_id=arg_int("department_id", maximum=MAX_ID),
                      flags={f: arg_choice(f, ("1", "0")) for f in FLAGS}, as_of=as_of,
                      changed_from=arg_date("changed_from"))
    filters.flags = {f: v for f, v in filters.flags.items() if v}
    sort = parse_sort(queries.SORTS, queries.DEFAULT_SORT)
    return filters, sort


def _departments(entry) -> str:
    if isinstance(entry, PastEntry):
        return "、".join(entry.data.get("departments", []))
    return "、".join(d.code for d in entry.departments)


def columns() -> list[Column]:
    return [
        Column("院内编码", lambda e: e.code, 16),
        Column("国家临床版3.0编码", lambda e: e.national_code, 20),
        Column("医保版2.0编码", lambda e: e.insurance_code, 20),
        Column("名称", lambda e: e.name, 36),
        Column("类别", lambda e: CATEGORIES.get(e.category, e.category), 10),
        Column("等级", lambda e: GRADES.get(e.grade, e.grade), 8),
        *(Column(label, (lambda f: lambda e: YES_NO[bool(getattr(e, f))])(flag), 12) for flag, label in FLAGS.items()),
        Column("可开展科室", _departments, 30),
        Column("前置资质", lambda e: "、".join(e.prerequisites or []), 20),
        Column("状态", lambda e: STATUSES.get(e.status, e.status), 8),
        Column("备注", lambda e: e.note, 30),
        Column("版本", lambda e: e.revision, 6),
    ]


def build(user, args: dict[str, str]) -> ExportSpec:
    """The current list exactly as filtered (the as-of list is written by the view from its revisions)."""
    filters, sort = read_filters()
    stmt = queries.list_query(filters, sort.key, sort.descending)
    return ExportSpec(stmt, columns(), NAME, "technology", filters.args())


CURRENT = register_export("catalogue_technologies", build, VIEW)
