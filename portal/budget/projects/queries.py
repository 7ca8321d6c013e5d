"""Lookups shared by the budget views: a project in scope, its detail context."""

from __future__ import annotations

from flask import abort
from flask_login import current_user

from portal.core.scoping import get_scoped_or_404
from portal.core.timeutil import local_today

from .. import CHANGE, MANAGE, VIEW
from ..changes.services import project_changes
from ..execution.queries import execution, project_warnings, versions
from ..execution.warnings import elapsed_share
from ..models import BudgetProject


def project_or_404(project_id, perm=VIEW) -> BudgetProject:
    return get_scoped_or_404(BudgetProject, project_id, current_user.principal, perm,
                             seen_with=VIEW if perm is not VIEW else None)


def detail_context(project: BudgetProject, version: int | None = None) -> dict:
    """What the project page shows: execution against a version, warnings, versions, changes, actions."""
    known = versions(project.id)
    if version is not None and version not in [v.number for v in known]:
        abort(404)
    principal = current_user.principal
    active = project.status == "active"
    return {"project": project, "execution": execution(project, version), "warnings": project_warnings(project.id),
            "versions": known, "changes": project_changes(project.id),
            "elapsed": elapsed_share(project, local_today()),
            "can_manage": active and principal.can_act_on(MANAGE, project.department_id),
            "can_change": active and principal.can_act_on(CHANGE, project.department_id)}
