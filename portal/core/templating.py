"""Jinja filters and globals shared by every template."""

from __future__ import annotations

from decimal import Decimal

from flask import Flask, current_app, render_template, request, url_for
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from . import labels, nav
from .listing import query_string
from .masking import mask_id_number, mask_name, mask_phone
from .permissions import REGISTRY, has_permission
from .timeutil import format_date, format_datetime, utcnow


def money(value) -> str:
    if value is None:
        return ""
    return f"¥{Decimal(value):,.2f}"


def percent(value) -> str:
    if value is None:
        return "—"
    return f"{float(value) * 100:.1f}%"


def bed(value) -> str:
    """A bed as people say it: "12" and "12床" both read "12床"."""
    text = str(value or "").strip()
    return text if not text or text.endswith("床") else f"{text}床"


def can(code: str) -> bool:
    return has_permission(current_user, REGISTRY[code])


def can_act_on(code: str, department_id: int | None) -> bool:
    """The permission is held and reaches this department (scope belongs to the permission)."""
    return can(code) and current_user.principal.can_act_on(code, department_id)


# Static asset URLs depend only on where the portal is mounted: built once, not on every page.
_assets: dict[tuple, str] = {}


def asset(filename: str, v: str | None = None) -> str:
    """url_for('static', filename=..., v=...), cached per mount point."""
    key = (request.script_root, current_app.name, filename, v)
    url = _assets.get(key)
    if url is None:
        url = _assets[key] = url_for("static", filename=filename, **({"v": v} if v else {}))
    return url


# A number no record has (ids stop at 2**31 - 1): where url_pattern() puts the row's id.
_ROW_ID = 9876543210


def url_pattern(endpoint: str, field: str, **values) -> str:
    """url_for(endpoint, field=<id>, **values) as a %-pattern (``pattern % row.id``): a list builds each row's
    link from one url_for per page instead of one per row (url_for costs some microseconds)."""
    url = url_for(endpoint, **{field: _ROW_ID}, **values)
    return url.replace("%", "%%").replace(str(_ROW_ID), "%d")


def rendered_once(template: str, **constants) -> Markup:
    """A partial made only of constants (labels and choices fixed in the code, never the request's or the
    database's values): rendered once per worker, then the same markup on every page."""
    kept = current_app.extensions.setdefault("portal.rendered_once", {})
    html = kept.get(template)
    if html is None:
        html = kept[template] = Markup(render_template(template, **constants))
    return html


def nav_html() -> Markup:
    return nav.rendered(current_user)


def init_app(app: Flask) -> None:
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    app.jinja_env.filters.update(
        datetime=format_datetime,
        date=format_date,
        money=money,
        percent=percent,
        bed=bed,
        mask_name=mask_name,
        mask_phone=mask_phone,
        mask_id=mask_id_number,
    )
    app.jinja_env.globals.update(can=can, can_act_on=can_act_on, query_string=query_string, csrf_token=generate_csrf,
                                 now_utc=utcnow, asset=asset, nav_html=nav_html)
    app.jinja_env.globals.update(describe_changes=labels.describe_changes, describe_filters=labels.describe_filters,
                                 value_label=labels.value_label)

    @app.context_processor
    def _layout():
        return {"hospital_name": current_app.config["HOSPITAL_NAME"]}
