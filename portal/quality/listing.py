"""What the quality lists share: the month filter (default last month), the department filter and the scope."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from types import SimpleNamespace

from flask import abort

from portal.core.listing import arg_int, arg_month
from portal.core.months import month_bounds
from portal.core.scoping import scope_query
from portal.core.timeutil import local_today
from portal.core.workercache import Derived


def kept(name: str, key, principal, perm, build) -> Derived:
    """`build()` (wrapped with what pages derive from it) from this worker's copy while the quality generation is
    unchanged: for parts that read only discharges, operations, events, the quality summaries, departments, staff
    and the catalogue, whose every write moves it (a trigger, in the writing transaction). The key adds the
    departments `perm` reaches for the user and today (a period in progress counts up to today)."""
    from portal.core import workercache

    from .outcomes.queries import generation

    current = generation()  # before the rows: a write committed later always moves it on
    return workercache.kept(f"quality_{name}", current, (key, principal.departments_for(perm), local_today()),
                            lambda: Derived(build()), 256)


def last_month() -> date:
    first = local_today().replace(day=1)
    return date(first.year - 1, 12, 1) if first.month == 1 else date(first.year, first.month - 1, 1)


def period_and_department(principal, perm) -> tuple[date, date, date, int | None]:
    """(month, first day, last day, department id) from the query string; a department out of scope is a 404."""
    month = arg_month("month") or last_month()
    department_id = arg_int("department_id")
    if department_id is not None and not principal.can_act_on(perm, department_id):
        abort(404)
    start, end = month_bounds(month)
    return month, start, end, department_id


def plain(item, names: tuple[str, ...]) -> SimpleNamespace:
    """The attributes a list row shows, as plain values ("department.name" nested): a kept page outlives the
    session its rows came from."""
    values: dict = {}
    for name in names:
        head, _, rest = name.partition(".")
        if rest:
            values.setdefault(head, SimpleNamespace()).__dict__[rest] = getattr(getattr(item, head), rest)
        else:
            values[name] = getattr(item, name)
    return SimpleNamespace(**values)


def kept_list(name: str, args: dict, principal, perm, query, names: tuple[str, ...], template: str):
    """A quality list's page (`query()`, its rows as `plain` values) and its rows' markup (`template` with `page`
    and `args`), kept while the quality generation is unchanged; `args` holds every filter."""
    from flask import current_app, render_template, request
    from markupsafe import Markup

    from portal.core.listing import paginate

    number, size = arg_int("page", 1), current_app.config["PAGE_SIZE"]

    def build():
        page = paginate(query(), number, size)
        return replace(page, items=[plain(item, names) for item in page.items])

    part = kept(name, (tuple(args.items()), number, size), principal, perm, build)
    # the rows' count is swapped out of band for htmx requests only (macros/list.html oob_count)
    body = part.derive((request.script_root, bool(request.headers.get("HX-Request"))), lambda: Markup(
        render_template(template, page=part.value, args=args)))
    return part.value, body


def scoped(stmt, column, principal, perm, department_id: int | None):
    if department_id is not None:
        stmt = stmt.where(column == department_id)
    return scope_query(stmt, column, principal, perm)
