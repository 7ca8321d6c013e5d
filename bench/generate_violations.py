"""Violations over the generated surgeries: computed by the same set-based function the imports call
(`quality.violations.detect.evaluate`), over the whole history, with the alerts recorded as already sent.

Not declared by a domain on its own (a domain has one generator): `generate_quality` calls it last.
"""

from __future__ import annotations

import time

from sqlalchemy import func, select

from portal.extensions import db
from portal.quality.models import QualityViolation, Surgery
from portal.quality.violations import detect

from .kit import Context


def generate_violations(ctx: Context) -> dict:
    start, end = db.session.execute(select(func.min(Surgery.operation_date), func.max(Surgery.operation_date))).one()
    if start is None:
        return {}
    began = time.perf_counter()
    detect.evaluate(detect.for_period(start, end), notify=False)
    seconds = time.perf_counter() - began
    count = db.session.scalar(select(func.count()).select_from(QualityViolation))
    print(f"violations: {count} over {start}..{end} in {seconds:.1f} s")
    return {"quality violations": count}
