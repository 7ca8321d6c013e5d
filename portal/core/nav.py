"""The sidebar: each domain adds its entries; a user sees those their permissions allow."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, render_template, request, url_for
from markupsafe import Markup

from .permissions import Permission, has_permission

SECTIONS = ["工作台", "医务管理", "个案管理", "系统管理"]


@dataclass(frozen=True)
class NavItem:
    section: str
    label: str
    endpoint: str
    permission: Permission
    order: int = 100


ITEMS: list[NavItem] = []


def add(section: str, label: str, endpoint: str, permission: Permission, order: int = 100) -> None:
    if section not in SECTIONS:
        raise ValueError(f"unknown navigation section {section}")
    if any(item.endpoint == endpoint for item in ITEMS):
        return
    ITEMS.append(NavItem(section, label, endpoint, permission, order))


@dataclass(frozen=True)
class NavLink:
    label: str
    endpoint: str
    url: str


# The sidebar depends only on the permissions held (and where the portal is mounted): built once per
# permission set, its URLs resolved then, not on every page.
_built: dict[tuple, list[tuple[str, list[NavLink]]]] = {}
_BUILT_SIZE = 256


def for_user(user) -> list[tuple[str, list[NavLink]]]:
    if not getattr(user, "is_authenticated", False):
        return []
    key = (user.principal.permissions, len(ITEMS), request.script_root, current_app.name)
    sections = _built.get(key)
    if sections is None:
        sections = build([item for item in ITEMS if has_permission(user, item.permission)])
        if len(_built) >= _BUILT_SIZE:
            _built.clear()
        _built[key] = sections
    return sections


def build(visible: list[NavItem]) -> list[tuple[str, list[NavLink]]]:
    out = []
    for section in SECTIONS:
        items = sorted((i for i in visible if i.section == section), key=lambda i: i.order)
        if items:
            out.append((section, [NavLink(i.label, i.endpoint, url_for(i.endpoint)) for i in items]))
    return out


# The rendered sidebar: the same HTML for everyone holding the same permissions on the same page (the current
# entry is marked), so each (permissions, endpoint) is rendered once per worker, not twice on every page.
_rendered: dict[tuple, Markup] = {}
_RENDERED_SIZE = 2048


def rendered(user) -> Markup:
    if not getattr(user, "is_authenticated", False):
        return Markup("")
    key = (user.principal.permissions, len(ITEMS), request.endpoint, request.script_root, current_app.name)
    html = _rendered.get(key)
    if html is None:
        html = Markup(render_template("_nav.html", nav_sections=for_user(user)))
        if len(_rendered) >= _RENDERED_SIZE:
            _rendered.clear()
        _rendered[key] = html
    return html
