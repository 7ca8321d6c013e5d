"""The case-management pages, one module per area (each registers its routes on ``bp``)."""

from . import event_views, kpi_views, ledger_views, pathway_views, patient_views, plan_views, task_views  # noqa: F401
