"""The architecture rules, checked on the source: the engines import no domain, central modules name none."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from portal.config import ROOT
from portal.domains import INSTALLED

PORTAL = ROOT / "portal"
# Accounts, departments and sessions are what every part of the portal stands on; WeCom is notify's channel.
BASE = {"auth"}
ENGINES = {"approvals", "io", "notify"}
ENGINE_MAY_IMPORT = {"portal.core", "portal.extensions", "portal.config", "portal.auth", "portal.wecom",
                     *(f"portal.{name}" for name in ENGINES)}
CORE_MAY_IMPORT = {"portal.core", "portal.extensions", "portal.config"}
DOMAIN_NAMES = [package.rsplit(".", 1)[1] for package in INSTALLED]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, module: str | None = None) -> set[str]:
    """Every module a file imports (relative imports made absolute), at any depth of the file."""
    module = module or _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def _outside(modules: set[str], allowed: set[str]) -> set[str]:
    """Imports of portal packages or jobs/ not under an allowed prefix (library imports are not checked)."""
    def ours(name: str) -> bool:
        return name == "jobs" or name.startswith(("jobs.", "portal."))

    def permitted(name: str) -> bool:
        return any(name == prefix or name.startswith(prefix + ".") for prefix in allowed)

    # "portal.core.x" from "from portal.core import x" is covered by its package; names that are
    # attributes ("portal.extensions.db") are under an allowed prefix too.
    return {name for name in modules if ours(name) and not permitted(name)}


def test_the_core_imports_nothing_outside_itself():
    offending = {}
    for path in sorted((PORTAL / "core").rglob("*.py")):
        bad = _outside(imported_modules(path), CORE_MAY_IMPORT)
        if bad:
            offending[str(path.relative_to(ROOT))] = sorted(bad)
    assert offending == {}


def test_the_engines_import_no_domain_and_not_jobs():
    offending = {}
    for engine in sorted(ENGINES):
        for path in sorted((PORTAL / engine).rglob("*.py")):
            bad = _outside(imported_modules(path), ENGINE_MAY_IMPORT)
            if bad:
                offending[str(path.relative_to(ROOT))] = sorted(bad)
    assert offending == {}


def test_the_import_check_sees_relative_nested_and_jobs_imports(tmp_path):
    # The rule's own check: a domain import inside a function, a relative one, and a jobs/ import are caught.
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from jobs.io import run_import\n    from ..casemgmt import plans\n"
                      "from portal.core import nav\n", encoding="utf-8")
    bad = _outside(imported_modules(sample, "portal.io.sample"), ENGINE_MAY_IMPORT)
    assert {"jobs.io", "portal.casemgmt"} <= bad
    assert not any(name.startswith("portal.core") for name in bad)


CENTRAL = ["portal/__init__.py", "portal/domains.py", "portal/core", "portal/main", "jobs/__init__.py",
           "jobs/schedule.py", "migrations/env.py"]


def _central_files() -> list[Path]:
    files = []
    for entry in CENTRAL:
        path = ROOT / entry
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return files


def test_central_modules_name_no_domain():
    """The factory, the core, the home page, the schedules, Alembic and the benchmarks read declarations."""
    named = {}
    for path in _central_files():
        if path == ROOT / "portal" / "domains.py":
            continue  # the one list of installed domains
        text = path.read_text(encoding="utf-8")
        modules = imported_modules(path)
        for name in DOMAIN_NAMES:
            if name in BASE or path.is_relative_to(PORTAL / name):
                continue
            by_import = {m for m in modules if m == f"portal.{name}" or m.startswith(f"portal.{name}.")
                         or m == f"jobs.{name}" or m.startswith(f"jobs.{name}.")}
            # Dotted mentions in strings: "portal.casemgmt...", "jobs.casemgmt...", "casemgmt.list_tasks".
            by_text = re.findall(rf"(?:portal\.|jobs\.|[\"']){name}\.", text)
            if by_import or by_text:
                named.setdefault(str(path.relative_to(ROOT)), []).append(name)
    assert named == {}


def test_installed_domains_are_packages_with_their_own_name():
    for package in INSTALLED:
        assert package.startswith("portal.")
        assert (ROOT / Path(*package.split(".")) / "__init__.py").exists(), package
    assert len(set(INSTALLED)) == len(INSTALLED)
