"""Medical quality data over the whole history: discharges of every clinical department, surgeries of about
two in three of them (a few with two operations), and complications, unplanned reoperations, infections and
SSI linked to their surgeries; each discharge's indicator flags and the monthly summary are written with them,
as the imports keep them (the bench test checks them against a rebuild).

Hospital scale: 750,000 discharges, 500,000 surgeries and 60,000 events over five years.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import select

from portal.auth.models import Staff
from portal.catalogue.models import Technology
from portal.core.timeutil import LOCAL_TZ
from portal.quality.models import (
    FLAGS,
    SURGERY_MEASURES,
    Discharge,
    QualityEvent,
    QualityMonth,
    SurgeonMonth,
    Surgery,
    SurgeryMonth,
)
from portal.quality.outcomes import summary as outcome_summary
from portal.quality.reports import summary as surgery_summary
from portal.quality.reports import technologies as surgeon_technologies

from .kit import Context

SIZES = {"small": (3_000, 2_000, 240), "medium": (150_000, 100_000, 12_000), "hospital": (750_000, 500_000, 60_000)}
CATEGORIES = (("surgery", 70), ("interventional", 15), ("endoscopy", 10), ("invasive", 5))
EVENT_KINDS = ("complication",) * 40 + ("reoperation",) * 20 + ("infection",) * 25 + ("ssi",) * 15
MODES = ("1",) * 92 + ("2",) * 2 + ("4",) * 2 + ("5",) + ("9",) + ("home_bed",) * 2
KIND_OF = {"surgery": "surgery", "interventional": "interventional"}


def _catalogue(ctx: Context) -> list[tuple]:
    """The catalogue's active entries; a generated one of 300 entries when the catalogue has none."""
    columns = (Technology.id, Technology.code, Technology.national_code, Technology.name, Technology.grade,
               Technology.category, Technology.minimally_invasive, Technology.perf_grade4)
    found = list(ctx.connection.execute(select(*columns).where(Technology.status == "active")))
    if found:
        return [tuple(r) for r in found]
    rng, rows = ctx.rng, []
    weights = [w for _, w in CATEGORIES]
    for n in range(300):
        category = rng.choices([c for c, _ in CATEGORIES], weights)[0]
        grade = rng.choices((1, 2, 3, 4), (10, 30, 35, 25))[0]
        rows.append((f"BT{n:04d}", f"{n // 100 + 30:02d}.{n % 100:02d}00", f"基准手术{n:03d}", grade, category,
                     rng.random() < 0.35, category == "interventional" and grade >= 3))
    ids = ctx.bulk(Technology, ("code", "national_code", "name", "grade", "category", "minimally_invasive",
                                "perf_grade4", "status"), [(*r, "active") for r in rows])
    return [(i, *r) for i, r in zip(ids, rows, strict=True)]


class _Coverage:
    """Who in a team holds a performing privilege for an entry on a day (grade and category, or the entry itself),
    as ``generate_privileges`` wrote them: as in a hospital, an operation goes to a covered surgeon who is not in
    another theatre at the time, when the team has one, so the violations are the exceptions they are on a ward."""

    def __init__(self, ctx: Context) -> None:
        from portal.credentials.models import Privilege

        self.own_only = {tid for tid, flag in ctx.connection.execute(
            select(Technology.id, Technology.restricted | Technology.new_tech)) if flag}
        self.grades: dict[int, list[tuple]] = defaultdict(list)
        self.techs: dict[tuple[int, int], list[tuple]] = defaultdict(list)
        self.busy: dict[tuple, list[tuple]] = defaultdict(list)
        for sid, kind, grade, cats, tid, start, end, status, ended in ctx.connection.execute(
                select(Privilege.staff_id, Privilege.kind, Privilege.grade, Privilege.categories,
                       Privilege.technology_id, Privilege.valid_from, Privilege.valid_to, Privilege.status,
                       Privilege.ended_on)
                .where(Privilege.can_perform.is_(True), Privilege.status.in_(("active", "expired", "superseded")))):
            if status == "superseded":  # it counted until the record that replaced it began
                end = min(end, ended - timedelta(days=1)) if ended else start - timedelta(days=1)
            if kind == "technology":
                self.techs[(sid, tid)].append((start, end))
            else:
                self.grades[sid].append((grade or 0, frozenset(c for c in (cats or "").split(",") if c), start, end))

    def covers(self, sid: int, tid: int, grade: int, category: str, day) -> bool:
        if any(start <= day <= end for start, end in self.techs.get((sid, tid), ())):
            return True
        return tid not in self.own_only and any(
            held >= grade and (not cats or category in cats) and start <= day <= end
            for held, cats, start, end in self.grades.get(sid, ()))

    def anyone(self, team: list, tid: int, grade: int, category: str, day) -> bool:
        return any(sid is not None and self.covers(sid, tid, grade, category, day) for sid in team)

    def surgeon(self, team: list, made: int, tid: int, grade: int, category: str, start, end):
        """From this operation's turn on: the first covered member free at the time, else the first covered one,
        else the one whose turn it is."""
        day, covered = start.date(), None
        for k in range(len(team)):
            sid = team[(made + k) % len(team)]
            if sid is None or not self.covers(sid, tid, grade, category, day):
                continue
            if not any(s < end and start < e for s, e in self.busy[(sid, day)]):
                covered = sid
                break
            covered = covered or sid
        chosen = covered or team[made % len(team)]
        self.busy[(chosen, day)].append((start, end))
        return chosen


def generate_quality(ctx: Context) -> dict:
    discharges_total, surgeries_total, events_total = SIZES.get(ctx.scale.name, SIZES["small"])
    rng, days = ctx.rng, ctx.scale.days
    catalogue = _catalogue(ctx)
    departments = ctx.ids["departments"]
    surgeons: dict[int, list[int]] = defaultdict(list)
    for sid, dept in ctx.connection.execute(select(Staff.id, Staff.department_id)
                                            .where(Staff.employee_no.like("B0%"))):
        surgeons[dept].append(sid)
    # Each department performs a share of the catalogue.
    offered = {d: rng.sample(catalogue, min(len(catalogue), 40)) for d in departments}
    covered = _Coverage(ctx)
    now = ctx.now
    surgical_share = surgeries_total / discharges_total
    discharge_rows, surgery_rows = [], []
    flags_of: dict[str, list[bool]] = {}
    made = 0
    for n in range(discharges_total):
        dept = departments[n % len(departments)]
        day = ctx.day(rng.randrange(1, days))
        stay = rng.randint(1, 14)
        record, mrn = f"BD{n:08d}", f"BZ{n:08d}"
        mode = rng.choice(MODES)
        is_day = stay == 1 and rng.random() < 0.5
        flags = [False] * len(FLAGS)
        operations = 0
        # A little above the share, so the total is always reached (the cap stops it).
        if made < surgeries_total and rng.random() < surgical_share / 1.12 * 1.05:
            operations = 1 if rng.random() < 0.88 else 2
        team = surgeons[dept] or [None]
        for k in range(min(operations, surgeries_total - made)):
            # A team does what someone in it holds a privilege for: another draw when no one does (twice at most).
            for _ in range(3):
                tech = rng.choice(offered[dept])
                if covered.anyone(team, tech[0], tech[4], tech[5], day):
                    break
            tid, code, national, name, grade, category, mi, perf4 = tech
            kind = KIND_OF.get(category, "procedure")
            urgency = "elective" if rng.random() < 0.8 else ("emergency" if rng.random() < 0.7 else "limited")
            start = datetime(day.year, day.month, day.day, 8, tzinfo=LOCAL_TZ) - timedelta(
                days=max(0, stay - 1 - k), hours=-rng.randint(0, 8))
            end = start + timedelta(minutes=rng.randint(30, 300))
            incision = "I" if kind == "surgery" and rng.random() < 0.45 else ("II" if kind == "surgery" else "")
            healing = ("C" if rng.random() < 0.015 else "A") if incision else ""
            day_surgery = is_day and urgency == "elective"
            surgeon = covered.surgeon(team, made, tid, grade, category, start.astimezone(LOCAL_TZ), end)
            planned = surgeon if made % 50 else team[(made + 1) % len(team)]
            surgery_rows.append((f"BS{made:08d}", record, mrn, dept, surgeon,
                                 team[(made + 1) % len(team)], "全身麻醉", tid, code, national, name, grade, perf4,
                                 kind, mi, incision, healing, urgency, start.astimezone(LOCAL_TZ).date(), start, end,
                                 day_surgery, planned, "bench", now, now))
            made += 1
            if kind in KIND_OF.values():
                flags[0] = True
                flags[1] |= mi
                flags[2] |= grade == 4 or perf4
                flags[3] |= urgency == "elective"
                flags[4] |= urgency == "elective" and (day_surgery or is_day)
                flags[8] |= incision == "I"
                flags[9] |= incision == "I" and healing == "C"
        flags[4] = flags[4] and flags[3]
        flags_of[record] = flags
        discharge_rows.append([record, mrn, 1, f"BP{n:08d}", dept, day - timedelta(days=stay - 1), day, mode, is_day,
                               "bench", now, now])
    ctx.bulk(Surgery, ("record_id", "discharge_record_id", "mrn", "department_id", "surgeon_id", "assistant1_id",
                       "anaesthesia_method", "technology_id", "operation_code", "national_code", "operation_name",
                       "grade", "perf_grade4", "kind", "minimally_invasive", "incision", "healing", "urgency",
                       "operation_date", "started_at", "ended_at", "day_surgery", "planned_surgeon_id", "source",
                       "created_at", "updated_at"), surgery_rows)
    # Events: linked to surgeries of counted kinds (an unplanned return within hours to weeks).
    first_id = ctx.connection.execute(select(Surgery.id).where(Surgery.record_id == "BS00000000")).scalar() or 1
    event_rows = []
    counted = [i for i, row in enumerate(surgery_rows) if row[13] in KIND_OF.values()]
    for e in range(min(events_total, len(counted))):
        index = rng.choice(counted)
        row = surgery_rows[index]
        kind = rng.choice(EVENT_KINDS)
        ended = row[20]
        hours = rng.choice((6, 20, 40, 60, 200, 600, 900)) if kind == "reoperation" else None
        when = ended + timedelta(hours=hours or rng.randint(12, 240))
        flags = flags_of[row[1]]
        if kind == "reoperation":
            flags[5] |= hours <= 48
            flags[6] |= hours <= 31 * 24
        elif kind == "complication":
            flags[7] = True
        event_rows.append((kind, f"BE{e:08d}", "matched", first_id + index, row[0], row[2], row[18],
                           when.astimezone(LOCAL_TZ).date(), "基准事件", "superficial" if kind == "ssi" else "",
                           when if kind == "reoperation" else None, hours, "", "bench", now, now))
    ctx.bulk(QualityEvent, ("kind", "event_no", "status", "surgery_id", "surgery_record_id", "mrn", "operation_date",
                            "event_date", "name", "ssi_depth", "reoperated_at", "interval_hours", "note", "source",
                            "created_at", "updated_at"), event_rows)
    months: dict[tuple, list[int]] = defaultdict(lambda: [0] * (len(FLAGS) + 1))
    for row in discharge_rows:
        flags = flags_of[row[0]]
        row.extend(flags)
        if row[7] != "home_bed":
            counts = months[(row[6].replace(day=1), row[4])]
            counts[0] += 1
            for i, flag in enumerate(flags, start=1):
                counts[i] += flag
    ctx.bulk(Discharge, ("record_id", "mrn", "admission_no", "patient_pseudonym", "department_id", "admission_date",
                         "discharge_date", "discharge_mode", "day_surgery", "source", "created_at", "updated_at",
                         *FLAGS), [tuple(r) for r in discharge_rows])
    ctx.bulk(QualityMonth, ("month", "department_id", "discharges", *FLAGS),
             [(month, dept, *counts) for (month, dept), counts in months.items()], ids=False)
    by_department: dict[tuple, list[int]] = defaultdict(lambda: [0] * len(SURGERY_MEASURES))
    by_surgeon: dict[tuple, list[int]] = defaultdict(lambda: [0] * len(SURGERY_MEASURES))
    for row in surgery_rows:
        values = surgery_summary.vector({"grade": row[11], "kind": row[13], "minimally_invasive": row[14],
                                         "urgency": row[17], "day_surgery": row[21]})
        for target, key in ((by_department, (row[18].replace(day=1), row[3])),
                            (by_surgeon, (row[18].replace(day=1), row[3], row[4]))):
            target[key] = [a + b for a, b in zip(target[key], values, strict=True)]
    ctx.bulk(SurgeryMonth, ("month", "department_id", *SURGERY_MEASURES),
             [(*key, *values) for key, values in by_department.items()], ids=False)
    ctx.bulk(SurgeonMonth, ("month", "department_id", "surgeon_id", *SURGERY_MEASURES),
             [(*key, *values) for key, values in by_surgeon.items()], ids=False)
    outcome_summary.rebuild()  # quality_outcome_months: one INSERT ... SELECT over the surgeries and events
    surgeon_technologies.rebuild()  # the same, the surgeons' technologies by month bits
    from .generate_violations import generate_violations

    return {"discharges": len(discharge_rows), "surgeries": len(surgery_rows), "quality events": len(event_rows),
            **generate_violations(ctx)}
