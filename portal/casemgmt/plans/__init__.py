"""The next-day service plan (次日服务计划): issued before the 17:00 cutoff, by form, Excel or the HIS API.

What code outside the area calls (the HIS API): a whole plan arrives through `submit_plan`.
"""

from .services import PlanError, cutoff_for, plan_for, submit_plan, task_states  # noqa: F401
