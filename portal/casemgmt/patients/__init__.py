"""Patients and enrolments: registration, caseloads, ward coverage, handover notes, the patient import."""
