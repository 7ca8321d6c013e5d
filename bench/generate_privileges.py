"""Privileges over five years for the benchmark: per member of staff a grade privilege and technology
privileges, each a chain of records (renewed every two or three years, some upgraded), so that older records
are superseded or expired and current ones end across the coming years (some within 90 days); a few
suspended, revoked and pending ones.

Runs from ``bench.generate_credentials.generate`` (after the qualifications). The catalogue's own generator
may not be installed: ONLY IF the ``technologies`` table is empty, this writes the hospital's catalogue itself
(3,000 operations at the hospital scale, with departments, a few restricted / new ones and prerequisites).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from portal.auth.models import Department, Staff
from portal.catalogue.models.technologies import CATEGORIES, Technology, TechnologyDepartment
from portal.credentials.models.privileges import Privilege

from .kit import Context

PRIVILEGES = {"small": 1_200, "medium": 25_000, "hospital": 50_000}
TECHNOLOGIES = {"small": 300, "medium": 1_500, "hospital": 3_000}
CATS = list(CATEGORIES)
CAT_WEIGHTS = [50, 15, 12, 5, 13, 5]


def _catalogue(ctx: Context) -> list[tuple[int, int, str, bool, list[int]]]:
    """(id, grade, category, own_only, department ids) of every entry; written first when the table is empty."""
    clinical = [did for code, did in sorted(ctx.departments.items()) if code.startswith("BK")]
    if not clinical:
        clinical = [did for (did,) in ctx.connection.execute(select(Department.id).where(Department.kind ==
                                                                                          "department"))]
    rng = ctx.rng
    if not ctx.connection.execute(select(func.count()).select_from(Technology)).scalar():
        total = TECHNOLOGIES.get(ctx.scale.name, 300)
        rows, links = [], []
        for n in range(total):
            category = rng.choices(CATS, CAT_WEIGHTS)[0]
            grade = rng.choices((1, 2, 3, 4), (15, 35, 32, 18))[0]
            restricted, new = n % 40 == 7, n % 50 == 11
            prereq = ["RADIATION"] if category == "interventional" and n % 5 == 0 else []
            rows.append((f"BT{n:05d}", f"{n // 100:02d}.{n % 100:02d}{n % 7:02d}", f"YB{n:06d}", f"基准手术{n:05d}",
                         category, grade, grade == 4, category == "endoscopy", n % 9 == 0, restricted, new, prereq,
                         "active" if n % 97 else "disabled", 1, "", ctx.at(ctx.day(ctx.scale.days), 8)))
        ids = ctx.bulk(Technology, ("code", "national_code", "insurance_code", "name", "category", "grade",
                                    "perf_grade4", "minimally_invasive", "day_surgery", "restricted", "new_tech",
                                    "prerequisites", "status", "revision", "note", "created_at"), rows)
        for tid in ids:
            for dept in rng.sample(clinical, min(len(clinical), rng.choice((1, 1, 2, 3)))):
                links.append((tid, dept))
        ctx.bulk(TechnologyDepartment, ("technology_id", "department_id"), links, ids=False)
    depts: dict[int, list[int]] = {}
    for tid, did in ctx.connection.execute(select(TechnologyDepartment.technology_id,
                                                  TechnologyDepartment.department_id)):
        depts.setdefault(tid, []).append(did)
    return [(tid, grade, cat, bool(r or n), depts.get(tid, [])) for tid, grade, cat, r, n in ctx.connection.execute(
        select(Technology.id, Technology.grade, Technology.category, Technology.restricted, Technology.new_tech)
        .where(Technology.status == "active").order_by(Technology.id))]


def generate(ctx: Context) -> dict:
    rng, today = ctx.rng, ctx.today
    techs = _catalogue(ctx)
    staff = list(ctx.connection.execute(select(Staff.id, Staff.department_id, Department.path)
                                        .join(Department, Department.id == Staff.department_id)
                                        .where(Staff.employee_no.like("B0%")).order_by(Staff.id)))
    by_dept: dict[int, list] = {}
    for tech in techs:
        for did in tech[4]:
            by_dept.setdefault(did, []).append(tech)
    total = PRIVILEGES.get(ctx.scale.name, ctx.scale.staff * 16)
    base = ctx._start("privileges")
    rows: list[tuple] = []
    horizon = ctx.scale.days

    def chain(sid, kind, grade, cats, tech_id, order, perform):
        # Most staff held it before the history begins; one in ten was granted within it (new staff).
        start = ctx.day(horizon + rng.randrange(0, 400) if rng.random() < 0.9 else rng.randrange(30, horizon))
        previous = None
        while len(rows) < total:
            end = start + timedelta(days=365 * rng.choice((2, 3)))
            pid = base + len(rows)
            ended = end < today
            renewed = ended and rng.random() < 0.9
            if ended:
                status = "superseded" if renewed else "expired"
            else:
                roll = rng.random()
                status = "suspended" if roll < 0.01 else "revoked" if roll < 0.015 else "active"
            created = ctx.at(start - timedelta(days=rng.randrange(1, 20)), 10)
            rows.append((pid, sid, kind, grade, cats, tech_id, order, perform, start, end, status,
                         "apply" if previous is None else "renew", "", "import" if previous is None else "adjustment",
                         previous, created, created, end + timedelta(days=1) if renewed else None))
            if not renewed:
                return
            previous, start = pid, end + timedelta(days=1)
            if kind == "grade" and grade < 4 and rng.random() < 0.3:
                grade += 1

    n = 0
    while len(rows) < total and staff:
        sid, dept, path = staff[n % len(staff)]
        round_ = n // len(staff)
        n += 1
        ids = {dept, *(int(p) for p in path.strip("/").split("/") if p)}
        if round_ == 0:
            cats = ",".join(sorted(rng.sample(CATS[:5], rng.choice((1, 1, 2)))))
            chain(sid, "grade", rng.choice((1, 2, 2, 3, 3, 4)), cats, None, True, True)
            continue
        options = [t for d in ids for t in by_dept.get(d, ())]
        if not options:
            options = techs
        tech = options[rng.randrange(len(options))]
        chain(sid, "technology", None, "", tech[0], True, rng.random() < 0.9)
        if round_ > 40:
            break
    pending = []
    for k in range(min(20, len(staff))):
        sid = staff[(k * 37) % len(staff)][0]
        tech = techs[(k * 11) % len(techs)]
        pending.append((base + len(rows) + len(pending), sid, "technology", None, "", tech[0], True, True, today,
                        today + timedelta(days=3 * 365), "pending", "apply", "申请单项技术授权", "application", None,
                        ctx.at(today, 9), ctx.at(today, 9), None))
    rows = rows[:total - len(pending)] + pending
    ctx.bulk(Privilege, ("id", "staff_id", "kind", "grade", "categories", "technology_id", "can_order",
                         "can_perform", "valid_from", "valid_to", "status", "action", "reason", "source",
                         "supersedes_id", "created_at", "updated_at", "ended_on"), rows)
    if ctx.postgres:
        ctx.connection.exec_driver_sql(
            "SELECT setval(pg_get_serial_sequence('privileges', 'id'), (SELECT max(id) FROM privileges))")
    reviewer = ctx.users.get("bma")
    for row in rows[::100]:
        ctx.audit.add(row[15], ctx.user(reviewer), "privilege", row[0], "create", label=f"授权{row[0]}")
    ending = sum(1 for r in rows if r[10] == "active" and r[9] <= today + timedelta(days=90))
    return {"privileges": len(rows), "privileges ending in 90 days": ending,
            "technologies": ctx.connection.execute(select(func.count()).select_from(Technology)).scalar()}
