"""The sidebar: each domain adds its entries; a user sees those their permissions allow."""

from __future__ import annotations

from dataclasses import dataclass

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


def for_user(user) -> list[tuple[str, list[NavItem]]]:
    visible = [item for item in ITEMS if has_permission(user, item.permission)]
    out = []
    for section in SECTIONS:
        items = sorted((i for i in visible if i.section == section), key=lambda i: i.order)
        if items:
            out.append((section, items))
    return out
