"""Qualification records over the whole history: each member of staff's certificates, renewed as they end,
so that older records are superseded or expired and current ones end across the coming years (some within
the reminder days)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from portal.auth.models import Staff
from portal.credentials.models.qualifications import Qualification, QualificationType
from portal.credentials.qualifications.services import ensure_qualification_types

from .kit import Context

RECORDS = {"small": 300, "medium": 8_000, "hospital": 20_000}
# type code, level choices, years valid (None: no end)
HELD = [("PRACTICE_LICENSE", ("",), 5), ("PHYSICIAN_CERT", ("",), None), ("TITLE", ("中级", "副高级", "正高级"), None),
        ("ANTIBIOTIC", ("非限制使用级", "限制使用级", "特殊使用级"), 3), ("CONSULTATION", ("",), 3),
        ("NARCOTIC", ("",), 2), ("RADIATION", ("",), 4)]


def generate(ctx: Context) -> dict:
    ensure_qualification_types()
    total = RECORDS.get(ctx.scale.name, ctx.scale.staff * 7)
    types = {code: tid for code, tid in ctx.connection.execute(select(QualificationType.code, QualificationType.id))}
    staff = [sid for (sid,) in ctx.connection.execute(select(Staff.id).where(Staff.employee_no.like("B%"))
                                                      .order_by(Staff.id))]
    reviewer = ctx.users.get("bma")
    rng, today, days = ctx.rng, ctx.today, ctx.scale.days
    rows = []
    n = 0
    while len(rows) < total and staff:
        sid = staff[n % len(staff)]
        code, levels, years = HELD[(n // len(staff)) % len(HELD)]
        n += 1
        start = ctx.day(rng.randrange(days))
        if years is None:
            rows.append((sid, types[code], rng.choice(levels), f"{code[:2]}{n:08d}", "自治区卫生健康委员会", start,
                         start, None, "", "active", "import", None, ctx.at(start, 9)))
            continue
        # The expired predecessor (superseded when renewed) and the current record ending in the future.
        end = start + timedelta(days=365 * years)
        level = rng.choice(levels)
        if end < today and len(rows) < total - 1:
            rows.append((sid, types[code], level, f"{code[:2]}{n:08d}A", "自治区卫生健康委员会", start, start, end,
                         "", "superseded", "import", end + timedelta(days=1), ctx.at(start, 9)))
            start = end + timedelta(days=1)
            end = start + timedelta(days=365 * years)
        rows.append((sid, types[code], level, f"{code[:2]}{n:08d}", "自治区卫生健康委员会", start, start, end, "",
                     "active" if end >= today else "expired", "import", None, ctx.at(start, 9)))
    ids = ctx.bulk(Qualification, ("staff_id", "type_id", "level", "number", "issuer", "issued_on", "valid_from",
                                   "valid_to", "scope", "status", "source", "ended_on", "created_at"), rows[:total])
    for qid, row in zip(ids[::50], rows[:total:50], strict=False):
        ctx.audit.add(row[-1], ctx.user(reviewer), "qualification", qid, "create", label=f"资质{qid}")
    expiring = sum(1 for r in rows[:total] if r[9] == "active" and r[7] and r[7] <= today + timedelta(days=30))
    from .generate_privileges import generate as generate_privileges

    return {"qualifications": len(ids), "qualifications expiring in 30 days": expiring, **generate_privileges(ctx)}
