"""Who sees which patients, tasks and ledger rows: one place for case-management data scoping.

Holders of casemgmt.view_all (supervisor, plan issuer) see everything. A case manager sees the
patients they manage (active enrolment), patients in the wards they cover, and patients with a
task on their list; tasks and ledger rows only where they are the case manager.
"""

from __future__ import annotations

from flask import abort
from flask_login import current_user
from sqlalchemy import Select, any_, func, select

from portal.core.scoping import get_or_404
from portal.extensions import db

from .models import CareTask, CareTaskPatient, Enrolment, Patient, WardCoverage

VIEW_ALL_CODE = "casemgmt.view_all"


def me():
    """The signed-in user itself (not the request proxy): what views hand to services and queries."""
    return current_user._get_current_object()


def sees_all(user) -> bool:
    return VIEW_ALL_CODE in user.principal.permissions


def covered_ward_ids(user_id: int) -> Select:
    return select(WardCoverage.ward_id).where(WardCoverage.case_manager_id == user_id)


def visible_patient_ids(user_id: int) -> Select:
    """A subquery of the patient ids a case manager may open.

    Besides their patients and those of their wards: the ones they registered themselves and nobody
    has enrolled yet (else a patient would vanish from its author right after being saved).
    """
    # Managed and in a covered ward are two branches, each on its own index (one OR of the two read every
    # enrolment and misjudged the rows by twenty times).
    managed = select(Enrolment.patient_id).where(Enrolment.status == "active", Enrolment.case_manager_id == user_id)
    in_ward = select(Enrolment.patient_id).where(Enrolment.status == "active",
                                                 Enrolment.ward_id.in_(covered_ward_ids(user_id)))
    # Patients on their tasks: the pairs the task table's triggers keep (a few hundred rows, not five years of tasks).
    tasked = select(CareTaskPatient.patient_id).where(CareTaskPatient.case_manager_id == user_id)
    registered = select(Patient.id).where(Patient.created_by_id == user_id, ~Patient.enrolments.any())
    return managed.union(in_ward, tasked, registered)


def _visible(patient_id_column, user_id: int):
    """patient_id_column among the visible ids. On PostgreSQL as `= ANY(ARRAY(...))`: the ids are computed once
    and each looked up by index, where `IN (...)` led the planner to merge-join the list with every patient."""
    ids = visible_patient_ids(user_id)
    if db.session.get_bind().dialect.name == "postgresql":
        return patient_id_column == any_(func.array(ids.scalar_subquery()))
    return patient_id_column.in_(ids)


def scope_patients(stmt: Select, patient_id_column, user) -> Select:
    if sees_all(user):
        return stmt
    return stmt.where(_visible(patient_id_column, user.id))


def scope_to_manager(stmt: Select, manager_column, user) -> Select:
    """Tasks, ledger rows and the like: one's own unless one sees everything."""
    if sees_all(user):
        return stmt
    return stmt.where(manager_column == user.id)


def may_see_patient(patient: Patient, user) -> bool:
    return sees_all(user) or db.session.scalar(
        select(Patient.id).where(Patient.id == patient.id, _visible(Patient.id, user.id))) is not None


def get_patient_or_404(patient_id, user) -> Patient:
    """One patient the user may open, or 404 exactly as if it did not exist."""
    patient = get_or_404(Patient, patient_id)
    if not may_see_patient(patient, user):
        abort(404)
    return patient


def get_task_or_404(task_id, user) -> CareTask:
    """A task the user may see; acting on it is checked by the service (someone else's task is 403)."""
    task = get_or_404(CareTask, task_id)
    if not sees_all(user) and task.case_manager_id != user.id:
        abort(404)
    return task
