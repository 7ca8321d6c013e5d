"""One declaration per domain: everything a domain adds to the portal, read by the app factory, the nav,
the seeds, the schedules, the demo builder and Alembic.

A domain package declares ``DOMAIN = Domain(...)`` in its ``__init__.py``; ``portal/domains.py`` lists the
installed packages. Nothing outside a domain names it: the readers below walk the declarations.
Modules and callables are named by dotted strings ("portal.x.views", "portal.x.demo:build") so that
declaring them imports nothing; ``load`` imports them once, in the order of the installed list.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .permissions import Permission


@dataclass(frozen=True)
class NavEntry:
    """A sidebar entry (sections: core.nav.SECTIONS)."""

    section: str
    label: str
    endpoint: str
    permission: Permission
    order: int = 100


@dataclass(frozen=True)
class Schedule:
    """A job run by RQ's cron: ``cron`` in Beijing time ("5 17 * * *" is 17:05) or ``interval`` in seconds
    (or the name of the setting that holds them).

    ``job`` is the job function's dotted name ("jobs.<domain>.<function>").
    """

    name: str
    job: str
    cron: str | None = None
    interval: int | str | None = None


@dataclass(frozen=True)
class Step:
    """One step of a default approval process: rule "dept_head", "role" (target = role code) or
    "committee" (target = committee code, mode "all"/"any"); hours = time limit."""

    name: str
    rule: str
    target: str = ""
    mode: str = ""
    hours: int = 72


@dataclass(frozen=True)
class Process:
    """A default approval process, created once when missing; administrators edit it afterwards."""

    code: str
    name: str
    description: str
    allow_withdraw: bool
    steps: Sequence[Step]


@dataclass
class Demo:
    """What the demo builders share: each domain's builder reads and adds to it, in installed order."""

    password: str | None = None
    departments: dict[str, Any] = field(default_factory=dict)
    users: dict[str, Any] = field(default_factory=dict)
    logins: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Domain:
    name: str
    label: str
    blueprints: Sequence[Any] = ()  # Blueprint objects or "module:attr"
    models: Sequence[str] = ()  # modules defining tables
    permissions: Sequence[Permission] = ()  # created with core.permissions.register
    grants: dict[str, Sequence[Permission | str]] = field(default_factory=dict)  # built-in role code -> perms
    subjects: Sequence[str] = ()  # modules registering approval subjects
    processes: Sequence[Process] = ()  # default approval processes
    imports: Sequence[str] = ()  # modules registering import types (io.imports.register)
    exports: Sequence[str] = ()  # modules registering exports (io.export.register_export)
    reports: Sequence[str] = ()  # modules registering reports
    panels: Sequence[str] = ()  # modules registering home-page panels
    api: Sequence[str] = ()  # modules adding /api/v1 routes to the API blueprint
    nav: Sequence[NavEntry] = ()
    schedules: Sequence[Schedule] = ()
    audit_labels: dict[str, str] = field(default_factory=dict)  # audit entity type -> Chinese label
    notify_categories: dict[str, str] = field(default_factory=dict)  # notification category -> Chinese label
    home: str | None = None  # "module:function"(user) -> endpoint of the user's start page, or None
    seed: str | None = None  # "module:function"(): reference data a fresh database needs, created when missing
    demo: str | None = None  # "module:function", called with a Demo
    bench: str | None = None  # "module:function" returning {what: rows}
    bench_load: str | None = None  # "module:function"(bench.load.LoadContext) -> bench.load.Load
    # "module:function"(month: date | None) -> rows: recompute the summary tables the writes keep current
    # (one month or all), for `cli.py rebuild-summaries`
    summaries: str | None = None

    @property
    def modules(self) -> tuple[str, ...]:
        """Every module whose import registers something, in the order they are loaded."""
        return (*self.models, *self.subjects, *self.imports, *self.exports, *self.reports, *self.panels,
                *self.api)


def resolve(name: str) -> Any:
    """ "package.module:attr" or "package.module.attr" -> the object; "package.module" -> the module."""
    if ":" in name:
        module, attr = name.split(":", 1)
        return getattr(importlib.import_module(module), attr)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        module, _, attr = name.rpartition(".")
        if not module or error.name != name:  # a missing module inside, not "the last part is an attribute"
            raise
        return getattr(importlib.import_module(module), attr)


def installed_names() -> list[str]:
    return list(importlib.import_module("portal.domains").INSTALLED)


def installed() -> list[Domain]:
    """The installed domains' declarations (importing each package, not yet its modules)."""
    domains = []
    for package in installed_names():
        declaration = getattr(importlib.import_module(package), "DOMAIN", None)
        if not isinstance(declaration, Domain):
            raise RuntimeError(f"{package} declares no DOMAIN = Domain(...)")
        domains.append(declaration)
    return domains


_loaded = False


def load() -> list[Domain]:
    """Import every declared module once (models, subjects, import types, exports, reports, panels, API
    routes), then add the nav entries and audit labels."""
    global _loaded
    domains = installed()
    if _loaded:
        return domains
    from . import audit, nav

    for domain in domains:
        for module in domain.modules:
            importlib.import_module(module)
        for entry in domain.nav:
            nav.add(entry.section, entry.label, entry.endpoint, entry.permission, entry.order)
        for entity, label in domain.audit_labels.items():
            audit.register_entity(entity, label)
    _loaded = True
    return domains


def blueprints() -> list:
    """Every declared blueprint, with the modules that add routes to shared blueprints already imported."""
    return [resolve(bp) if isinstance(bp, str) else bp for domain in load() for bp in domain.blueprints]


def init_app(app) -> None:
    for blueprint in blueprints():
        app.register_blueprint(blueprint)


def model_modules() -> None:
    """Import every domain's models (Alembic, core.migrate)."""
    for domain in installed():
        for module in domain.models:
            importlib.import_module(module)


def _code(permission: Permission | str) -> str:
    return permission if isinstance(permission, str) else permission.code


def default_grants() -> dict[str, set[str]]:
    """Built-in role code -> permission codes: the union of every domain's grants."""
    grants: dict[str, set[str]] = {}
    for domain in installed():
        for role, permissions in domain.grants.items():
            grants.setdefault(role, set()).update(_code(p) for p in permissions)
    return grants


def processes() -> list[Process]:
    return [process for domain in installed() for process in domain.processes]


def seed_reference_data() -> None:
    """Each domain's reference data (qualification types ...), idempotent, in installed order."""
    for domain in installed():
        if domain.seed:
            resolve(domain.seed)()


def schedules() -> list[Schedule]:
    return [schedule for domain in installed() for schedule in domain.schedules]


def notify_categories() -> dict[str, str]:
    return {code: label for domain in installed() for code, label in domain.notify_categories.items()}


def build_demo(password: str | None = None) -> Demo:
    """Run each domain's demo builder in installed order; the first ones make the hospital and accounts."""
    demo = Demo(password=password)
    for domain in installed():
        if domain.demo:
            builder: Callable[[Demo], Any] = resolve(domain.demo)
            builder(demo)
    return demo


def home_endpoint(user) -> str | None:
    """The first start page a domain claims for this user (a case manager's is the day's task list)."""
    for domain in installed():
        if domain.home:
            endpoint = resolve(domain.home)(user)
            if endpoint:
                return endpoint
    return None


def labels() -> dict[str, str]:
    """Domain name -> Chinese label (e.g. for notification categories)."""
    return {domain.name: domain.label for domain in installed()}
