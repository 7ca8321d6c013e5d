"""The layout rules a newcomer relies on to find any feature in one guess (docs/architecture.md).

Case management is a package of sub-areas with the same rooms; forms live in forms.py; views neither import
other views nor end the transaction; no case-management file grows past what one reads in a sitting.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PORTAL = ROOT / "portal"
CASEMGMT = PORTAL / "casemgmt"
TEMPLATES = ROOT / "templates" / "casemgmt"

# Each sub-area and the rooms it has (imports.py where the area has an Excel import type).
AREAS = {
    "patients": {"views", "forms", "services", "queries", "imports"},
    "pathways": {"views", "forms", "services"},
    "plans": {"views", "forms", "services", "queries", "imports"},
    "tasks": {"views", "services", "queries"},
    "ledger": {"views", "forms", "services"},
    "feedback": {"views", "forms", "services"},
    "kpis": {"views", "queries"},
    "assessment": {"views", "forms", "services"},
}
# What a sub-area may hold besides its rooms: the next-day plan is split along its seams.
EXTRA_MODULES = {"plans": {"clock", "parsing", "validation", "matching"}, "ledger": {"summary"}, "kpis": {"window"}}
ROOMS = {"views", "forms", "services", "queries", "imports", "reports", "api", "panels"}
MAX_LINES = 500
FORMS_ELSEWHERE: set[str] = set()  # every form lives in a forms.py


def _python_files(base: Path) -> list[Path]:
    return sorted(p for p in base.rglob("*.py") if "__pycache__" not in p.parts)


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _is_view_module(path: Path) -> bool:
    return path.name == "views.py" or path.name.endswith("_views.py")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_modules(path: Path) -> set[str]:
    """Every module an import statement of `path` names (relative imports resolved, `from x import y` as x.y too)."""
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("area", sorted(AREAS))
def test_each_sub_area_has_the_rooms_it_declares(area):
    folder = CASEMGMT / area
    modules = {p.stem for p in folder.glob("*.py")} - {"__init__"}
    assert modules >= AREAS[area], f"casemgmt/{area} lacks {sorted(AREAS[area] - modules)}"
    unknown = modules - ROOMS - EXTRA_MODULES.get(area, set())
    assert not unknown, f"casemgmt/{area} holds modules that are not rooms: {sorted(unknown)}"
    assert (TEMPLATES / area).is_dir(), f"templates/casemgmt/{area}/ is missing"


def test_case_management_is_only_sub_areas_and_shared_modules():
    """No flat feature files left beside the sub-areas: only the shared pieces."""
    shared = {"__init__", "scoping", "labels", "demo", "panels", "reports", "api", "summaries"}
    flat = {p.stem for p in CASEMGMT.glob("*.py")} - shared
    assert not flat, f"case-management modules outside a sub-area: {sorted(flat)}"
    assert {p.name for p in TEMPLATES.glob("*.html")} == set(), "case-management templates belong in an area folder"
    models = {p.stem for p in (CASEMGMT / "models").glob("*.py")}
    assert models >= {"__init__", "choices"} | (set(AREAS) - {"kpis"})


def test_every_template_a_case_management_module_names_exists():
    names: set[str] = set()
    for path in _python_files(CASEMGMT):
        names.update(re.findall(r"[\"'](casemgmt/[\w/]+\.html)[\"']", path.read_text(encoding="utf-8")))
    for path in TEMPLATES.rglob("*.html"):
        names.update(re.findall(r"[\"'](casemgmt/[\w/]+\.html)[\"']", path.read_text(encoding="utf-8")))
    assert names, "no template names found: the pattern is wrong"
    missing = sorted(n for n in names if not (ROOT / "templates" / n).is_file())
    assert not missing, f"templates named but missing: {missing}"


def test_no_view_module_imports_another_view_module():
    offenders = []
    for path in _python_files(PORTAL):
        if not _is_view_module(path):
            continue
        for module in _imported_modules(path):
            last = module.rsplit(".", 1)[-1]
            if module.startswith("portal.") and (last == "views" or last.endswith("_views")) \
                    and module != _module_name(path):
                offenders.append(f"{_rel(path)} imports {module}")
    assert not offenders, "\n".join(offenders)


def test_form_classes_live_in_forms_modules():
    offenders = []
    for path in _python_files(PORTAL):
        if path.name == "forms.py" or _rel(path) in FORMS_ELSEWHERE:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and node.name.endswith("Form"):
                offenders.append(f"{_rel(path)}: class {node.name}")
    assert not offenders, "\n".join(offenders)


def _session_calls(path: Path, names: tuple[str, ...]) -> list[int]:
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in names:
            target = node.func.value
            if isinstance(target, ast.Attribute) and target.attr == "session":
                lines.append(node.lineno)
    return lines


def test_views_neither_commit_nor_roll_back():
    """Services flush; the request's end commits or rolls back; a refused action is undone by its savepoint."""
    offenders = []
    for path in _python_files(PORTAL):
        if not _is_view_module(path):
            continue
        allowed = ("rollback",) if _rel(path) == "portal/main/views.py" else ()  # healthz ends its own probe
        for line in _session_calls(path, tuple(n for n in ("commit", "rollback") if n not in allowed)):
            offenders.append(f"{_rel(path)}:{line}")
    assert not offenders, "\n".join(offenders)


def test_no_case_management_file_is_oversized():
    sizes = {_rel(p): len(p.read_text(encoding="utf-8").splitlines()) for p in _python_files(CASEMGMT)}
    big = {name: lines for name, lines in sizes.items() if lines > MAX_LINES}
    assert not big, f"over {MAX_LINES} lines: {big}"


def test_the_rules_see_what_they_check():
    """The walkers above find views, forms and session calls at all (else every rule passes vacuously)."""
    views = [p for p in _python_files(PORTAL) if _is_view_module(p)]
    assert len(views) >= 15
    assert _session_calls(PORTAL / "main" / "views.py", ("rollback",))
    assert "portal.casemgmt.scoping" in _imported_modules(CASEMGMT / "tasks" / "views.py")
    assert "portal.casemgmt.tasks.services" in _imported_modules(CASEMGMT / "tasks" / "views.py")
