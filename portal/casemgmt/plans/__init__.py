"""The next-day service plan (次日服务计划): issued before the 17:00 cutoff, by form, Excel or the HIS API.

clock.py (the cutoff), parsing.py (one item as given), validation.py (a submission as a whole),
services.py (writing and cancelling), matching.py (unknown patients), queries.py (reading).
What code outside the area calls (the HIS API) is named here.
"""

from .clock import cutoff_for  # noqa: F401
from .queries import item_rows, plan_for, task_states  # noqa: F401
from .services import submission_digest, submit_plan, unchanged_submission  # noqa: F401
from .validation import PlanError  # noqa: F401
