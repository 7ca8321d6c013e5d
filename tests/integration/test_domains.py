"""Each domain's declaration names only what is there, and the seeds built from them are unchanged."""

from __future__ import annotations

import importlib
import inspect

from croniter import croniter
from flask import Blueprint
from sqlalchemy import select

from portal.approvals.seed import COMMITTEES
from portal.auth.models import Role
from portal.auth.seed import ROLES
from portal.core import audit, domains, nav
from portal.core.permissions import REGISTRY, Permission

# The built-in roles' grants before the declarations existed (copied from the old auth seed): the union of
# the domains' grants must stay exactly this.
CM_MANAGER = ["casemgmt.view_patients", "casemgmt.enrol", "casemgmt.tasks", "casemgmt.ledger", "casemgmt.events"]
CM_SUPERVISOR = [*CM_MANAGER, "casemgmt.view_all", "casemgmt.reveal", "casemgmt.pathways", "casemgmt.assign",
                 "casemgmt.kpi", "io.import"]
CM_ISSUER = ["casemgmt.view_patients", "casemgmt.view_all", "casemgmt.plan", "casemgmt.kpi", "casemgmt.assess",
             "casemgmt.ledger", "io.import"]
# Added with the credentials domain (qualifications).
QUALIFICATIONS = ["credentials.view_qualifications", "credentials.manage_qualifications",
                  "credentials.apply_qualification", "io.import"]
PREVIOUS_GRANTS = {
    "sysadmin": ["admin.users", "admin.roles", "admin.departments", "staff.view", "staff.edit", "notify.outbox",
                 "io.import", "api.tokens"],
    "auditor": ["audit.view"],
    "ma_admin": ["staff.view", "staff.edit", "approvals.manage", "approvals.view_all", "notify.outbox",
                 "supervision.view", "supervision.issue", "casemgmt.kpi", "casemgmt.assess", "casemgmt.view_all",
                 *QUALIFICATIONS, "credentials.configure_qualifications"],
    "ma_staff": ["staff.view", "approvals.view_all", "supervision.view", "supervision.issue", *QUALIFICATIONS],
    "committee": [],
    "dept_head": ["staff.view", "staff.edit", "supervision.view", "supervision.answer",
                  "credentials.view_qualifications", "credentials.apply_qualification"],
    "dept_secretary": ["staff.view", "supervision.view", "supervision.answer", "credentials.view_qualifications"],
    "clinician": ["credentials.apply_qualification"],
    "cm_supervisor": ["staff.view", *CM_SUPERVISOR],
    "case_manager": CM_MANAGER,
    "plan_issuer": CM_ISSUER,
}


# Domains added since then grant only their own permissions, listed here so that a change is deliberate.
PRIVILEGES = ["credentials.view_privileges", "credentials.manage_privileges", "credentials.apply_privilege",
              "credentials.apply_department_privileges"]
ADDED_GRANTS = {
    "sysadmin": ["admin.workdays"],
    "ma_admin": ["catalogue.view", "catalogue.manage", "catalogue.filings", "catalogue.newtech", "admin.workdays",
                 "io.import", *PRIVILEGES, "credentials.configure_privilege_rules", "quality.view", "quality.import",
                 "quality.violations", "study.view", "study.signin", "budget.view", "budget.manage", "budget.change",
                 "projects.view", "projects.manage", "projects.templates"],
    "ma_staff": ["catalogue.view", "catalogue.manage", "catalogue.filings", "catalogue.newtech", "io.import",
                 *PRIVILEGES, "quality.view", "quality.import", "quality.violations", "study.view", "study.signin",
                 "budget.view", "budget.manage", "budget.change", "projects.view", "projects.manage",
                 "projects.templates"],
    "dept_head": ["catalogue.view", "catalogue.newtech", "credentials.view_privileges", "credentials.apply_privilege",
                  "credentials.apply_department_privileges", "credentials.confirm_overrides", "quality.view",
                  "quality.violations", "study.view", "study.submit", "study.signin", "budget.view", "budget.change",
                  "projects.view", "projects.submit"],
    "dept_secretary": ["credentials.view_privileges", "credentials.apply_department_privileges", "quality.view",
                       "study.view", "study.submit", "study.signin", "budget.view", "projects.view",
                       "projects.submit"],
    "clinician": ["catalogue.newtech", "credentials.apply_privilege", "study.signin"],
}


def expected_grants() -> dict[str, set[str]]:
    return {role: set(PREVIOUS_GRANTS[role]) | set(ADDED_GRANTS.get(role, ())) for role in PREVIOUS_GRANTS}


def test_the_union_of_declared_grants_is_the_previous_seed_plus_the_new_domains():
    grants = domains.default_grants()
    assert {role: grants.get(role, set()) for role in ROLES} == expected_grants()


def test_a_fresh_database_seeds_the_declared_grants(session):
    seeded = {role.code: {g.permission for g in role.grants} for role in session.scalars(select(Role))}
    assert {code: seeded[code] for code in ROLES} == expected_grants()


def test_every_granted_permission_exists_and_every_granted_role_is_built_in():
    for domain in domains.installed():
        for role, permissions in domain.grants.items():
            assert role in ROLES, f"{domain.name} grants to unknown role {role}"
            for permission in permissions:
                code = permission if isinstance(permission, str) else permission.code
                assert code in REGISTRY, f"{domain.name} grants {code} to {role}, but no such permission"


def test_every_permission_is_declared_by_exactly_one_domain():
    declared: dict[str, str] = {}
    for domain in domains.installed():
        for permission in domain.permissions:
            assert isinstance(permission, Permission)
            assert REGISTRY.get(permission.code) is permission, f"{domain.name}: {permission.code} not registered"
            assert permission.code not in declared, f"{permission.code} declared by {declared.get(permission.code)}"
            declared[permission.code] = domain.name
    undeclared = sorted(code for code, p in REGISTRY.items() if not p.implicit and code not in declared)
    assert undeclared == []


def test_declared_modules_blueprints_and_callables_exist(app):
    names = set()
    for domain in domains.installed():
        assert domain.name not in names and domain.label
        names.add(domain.name)
        for module in domain.modules:
            importlib.import_module(module)  # raises for a module that is not there
        for blueprint in domain.blueprints:
            resolved = domains.resolve(blueprint) if isinstance(blueprint, str) else blueprint
            assert isinstance(resolved, Blueprint), blueprint
            assert app.blueprints.get(resolved.name) is resolved, f"{domain.name}: {resolved.name} not registered"
        for dotted in (domain.demo, domain.bench, domain.bench_load, domain.home):
            if dotted:
                assert callable(domains.resolve(dotted)), dotted


def test_nav_entries_lead_to_endpoints_with_known_permissions(app):
    for domain in domains.installed():
        for entry in domain.nav:
            assert entry.endpoint in app.view_functions, f"{domain.name}: no endpoint {entry.endpoint}"
            assert entry.section in nav.SECTIONS, entry
            assert REGISTRY.get(entry.permission.code) is entry.permission, entry
    assert {item.endpoint for item in nav.ITEMS} >= {e.endpoint for d in domains.installed() for e in d.nav}


def test_schedules_name_job_functions_with_valid_times():
    seen = set()
    for schedule in domains.schedules():
        assert schedule.name not in seen
        seen.add(schedule.name)
        assert schedule.job.startswith("jobs."), schedule.job
        job = domains.resolve(schedule.job)
        assert inspect.isfunction(job), schedule.job
        assert (schedule.cron is None) != (schedule.interval is None), schedule
        if schedule.cron:
            assert croniter.is_valid(schedule.cron), schedule


def test_processes_name_built_in_roles_and_committees():
    codes = set()
    for process in domains.processes():
        assert process.code not in codes
        codes.add(process.code)
        assert process.steps
        for step in process.steps:
            assert step.rule in ("dept_head", "role", "committee"), step
            if step.rule == "role":
                assert step.target in ROLES, step
            if step.rule == "committee":
                assert step.target in COMMITTEES, step


def test_the_default_processes_are_those_of_the_installed_domains():
    # An existing database keeps its rows; a new process is declared by its domain.
    assert [p.code for p in domains.processes()] == ["rectification", "newtech", "newtech_report", "qualification",
                                                     "privilege_grant", "privilege_committee", "study_plan",
                                                     "study_record_review", "budget_change", "budget_overspend",
                                                     "project_material"]


def test_audit_labels_are_registered(app):
    for domain in domains.installed():
        for entity, label in domain.audit_labels.items():
            assert audit.ENTITY_TYPES[entity] == label


def test_a_new_domain_plugs_in_with_its_package_and_one_line(app, monkeypatch, tmp_path):
    """The readers pick up a new package's declaration without any other file changing."""
    package = tmp_path / "sample_domain"
    package.mkdir()
    (package / "__init__.py").write_text(
        "from portal.core.domains import Domain, Process, Schedule, Step\n"
        "DOMAIN = Domain(name='sample_domain', label='示例', grants={'clinician': ['staff.view']},\n"
        "    processes=[Process('sample_signoff', '示例审批', '', True, [Step('科主任审核', 'dept_head')])],\n"
        "    schedules=[Schedule('sample_job', 'jobs.audit.verify_audit_chain', cron='0 9 * * *')])\n",
        encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr("portal.domains.INSTALLED", [*domains.installed_names(), "sample_domain"])
    assert "staff.view" in domains.default_grants()["clinician"]
    assert "sample_signoff" in [p.code for p in domains.processes()]
    assert "sample_job" in [s.name for s in domains.schedules()]
