"""Home-page panels (工作台): each domain declares the cards it adds; a user sees those their permissions allow.

A panel is a declaration (code, title, permission, kind, order, phone priority and a ``build(user)``
callable). ``build`` runs when the panel's own partial is requested (htmx, after the page has loaded),
costs one or two cheap queries, and returns a :class:`PanelContent`: figures that link to their rows, a
short list, or bars of a chart, plus the empty state that says what to do next. The home page itself runs
no panel: one slow or failing panel never holds or breaks the page.

Declare panels in ``<domain>/panels.py`` and register each with one call (``register(PANEL)``). The core
imports no domain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .permissions import Permission, has_permission

KINDS = ("count", "list", "chart")  # figures with links / a short list / bars
MAX_ROWS = 5
MAX_PHONE_PRIORITY = 9


@dataclass(frozen=True)
class Figure:
    """One number on a card and the list of exactly the rows it counts.

    state colours the number as UI.md's badges do (ok / warn / bad / wait / off); the label says the same in words.
    """

    label: str
    value: int | str
    url: str
    state: str = ""
    hint: str = ""


@dataclass(frozen=True)
class Row:
    """One entry of a short list: a line of text that opens its record."""

    text: str
    url: str
    meta: str = ""
    badge: str = ""
    state: str = ""


@dataclass(frozen=True)
class Bar:
    """One bar of a chart (drawn in HTML, a table underneath, so it prints and needs no script)."""

    label: str
    value: int
    url: str = ""
    state: str = ""


@dataclass
class PanelContent:
    figures: list[Figure] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    # Shown instead of the list (and under the figures) when there is nothing to do: say what to do next.
    empty: str = ""
    note: str = ""
    more_url: str = ""
    more_label: str = "查看全部"
    # A prominent action (e.g. 打开今日任务): a 44 px button on tablets.
    action_url: str = ""
    action_label: str = ""

    @property
    def bar_max(self) -> int:
        return max((b.value for b in self.bars), default=0) or 1


@dataclass(frozen=True)
class Panel:
    code: str
    title: str
    permission: Permission
    kind: str
    build: Callable[[object], PanelContent]
    order: int = 100  # desktop and tablet: lower first
    phone_priority: int = 5  # phone (one column): 1 first (the to-do), up to 9
    # Holders of this permission see a wider panel instead (a supervisor's overview, not their own day).
    hidden_with: Permission | None = None
    # htmx events (HX-Trigger names) after which the panel reloads itself, e.g. "approvals-changed".
    refresh_on: tuple[str, ...] = ()

    def visible_to(self, user) -> bool:
        if not has_permission(user, self.permission):
            return False
        return self.hidden_with is None or not has_permission(user, self.hidden_with)

    @property
    def trigger(self) -> str:
        return ", ".join(["load", *(f"{event} from:body" for event in self.refresh_on)])


REGISTRY: dict[str, Panel] = {}


def register(panel: Panel) -> Panel:
    """Add one panel to the home page (one call per panel, from the domain's declaration)."""
    if REGISTRY.get(panel.code) is panel:
        return panel
    if panel.code in REGISTRY:
        raise ValueError(f"home panel {panel.code} registered twice")
    if not panel.code.replace("_", "").replace(".", "").isalnum():
        raise ValueError(f"home panel code {panel.code} must be letters, digits, dots and underscores")
    if panel.kind not in KINDS:
        raise ValueError(f"home panel {panel.code}: kind must be one of {KINDS}")
    if not 1 <= panel.phone_priority <= MAX_PHONE_PRIORITY:
        raise ValueError(f"home panel {panel.code}: phone_priority must be 1..{MAX_PHONE_PRIORITY}")
    REGISTRY[panel.code] = panel
    return panel


def for_user(user) -> list[Panel]:
    """The panels a user may see, in desktop order (the permission set read once, not once per panel)."""
    if not getattr(user, "is_authenticated", False):
        return []
    held = user.principal.permissions

    def holds(perm: Permission) -> bool:
        return perm.implicit or perm.code in held

    shown = (p for p in REGISTRY.values()
             if holds(p.permission) and (p.hidden_with is None or not holds(p.hidden_with)))
    return sorted(shown, key=lambda p: (p.order, p.code))
