"""Demo quality data: five months of discharges and surgeries of the demo hospital's surgical departments, with
complications, unplanned reoperations, infections and SSI, so every indicator shows real numbers.

Written through the same services as imports and pushes (so flags and the monthly summary are as in use).
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

from sqlalchemy import select

from portal.auth.models import Staff
from portal.catalogue.models import Technology
from portal.core.timeutil import local_today
from portal.extensions import db

from .discharges import services as discharges
from .events import services as events
from .lookups import operation_table
from .surgeries import services as surgeries

# Used only when the catalogue is still empty (its own demo builder, when there is one, runs before this one
# and wins): a few entries per department so the demo's surgeries have codes to name.
# (code, 国家临床版3.0, name, category, grade, 微创, 绩效四级, department code)
FALLBACK_CATALOGUE = (
    ("PTWK-001", "51.2301", "腹腔镜下胆囊切除术", "surgery", 3, True, False, "PTWK"),
    ("PTWK-002", "43.7x01", "腹腔镜下胃癌根治术", "surgery", 4, True, False, "PTWK"),
    ("PTWK-003", "53.0201", "腹股沟疝无张力修补术", "surgery", 2, False, False, "PTWK"),
    ("PTWK-004", "45.7300", "右半结肠切除术", "surgery", 4, False, False, "PTWK"),
    ("GK-001", "81.5101", "全髋关节置换术", "surgery", 4, False, False, "GK"),
    ("GK-002", "80.2600", "膝关节镜检查术", "surgery", 2, True, False, "GK"),
    ("GK-003", "79.3501", "股骨骨折切开复位内固定术", "surgery", 3, False, False, "GK"),
    ("XXGNK-001", "36.0700", "经皮冠状动脉药物洗脱支架置入术", "interventional", 3, True, True, "XXGNK"),
    ("XXGNK-002", "37.2200", "左心导管检查术", "interventional", 2, True, False, "XXGNK"),
    ("XXGNK-003", "37.3401", "心房颤动射频消融术", "interventional", 4, True, True, "XXGNK"),
    ("ZLK-001", "86.0701", "植入式静脉输液港置入术", "surgery", 2, True, False, "ZLK"),
    ("ZLK-002", "45.1300", "胃镜检查", "endoscopy", 1, False, False, "ZLK"),
)
SURGEONS = {"PTWK": ("S0001", "S0002"), "GK": ("G0001",), "XXGNK": ("C0001", "C0002"), "ZLK": ("T0001",)}
PER_DAY = {"PTWK": 5, "GK": 3, "XXGNK": 4, "ZLK": 3}
MODES = ("1",) * 90 + ("2",) * 3 + ("4",) * 3 + ("5",) * 1 + ("9",) * 1 + ("home_bed",) * 2


def _catalogue(departments) -> None:
    if db.session.scalar(select(Technology.id).limit(1)) is not None:
        return
    for code, national, name, category, grade, mi, perf4, dept in FALLBACK_CATALOGUE:
        tech = Technology(code=code, national_code=national, name=name, category=category, grade=grade,
                          minimally_invasive=mi, perf_grade4=perf4, day_surgery=grade <= 2)
        tech.departments = [departments[dept]]
        db.session.add(tech)
    db.session.flush()


def _operations_by_department() -> dict[str, list]:
    table = {entry.code: entry for entry in operation_table().values() if hasattr(entry, "code")}
    out = {}
    for dept in SURGEONS:
        mine = [e for e in table.values() if e.code.startswith(f"{dept}-")]
        out[dept] = mine or list(table.values())
    return out


def _coverage() -> dict[tuple[str, str], list[tuple[date, date]]]:
    """(工号, 院内编码) -> the periods of the demo surgeons' privileges covering it (the rule the after-the-fact
    check applies: `covering_condition`)."""
    from portal.credentials.models import Privilege
    from portal.credentials.privileges.check import covering_condition

    numbers = [n for numbers in SURGEONS.values() for n in numbers]
    out: dict = {}
    for number, code, start, end in db.session.execute(
            select(Staff.employee_no, Technology.code, Privilege.valid_from, Privilege.valid_to)
            .join(Privilege, Privilege.staff_id == Staff.id).join(Technology, covering_condition("perform"))
            .where(Staff.employee_no.in_(numbers), Privilege.status.in_(("active", "expired")))):
        out.setdefault((number, code), []).append((start, end))
    return out


def _pick(rng, dept: str, operations: list, on: date, stray: bool, coverage: dict):
    """An operation and a surgeon holding a privilege for it that day: one of the department's, else any demo
    surgeon's; `stray`: any of them, a violation the after-the-fact check finds."""

    def allowed(number: str, op) -> bool:
        return any(start <= on <= end for start, end in coverage.get((number, op.code), ()))

    if stray:
        return rng.choice(operations), rng.choice(SURGEONS[dept])
    everyone = [n for numbers in SURGEONS.values() for n in numbers]
    for pool in (SURGEONS[dept], everyone):
        for op in rng.sample(operations, len(operations)):
            able = [number for number in pool if allowed(number, op)]
            if able:
                return op, rng.choice(able)
    return rng.choice(operations), rng.choice(SURGEONS[dept])


def build(demo) -> None:
    departments = demo.departments
    if not all(code in departments for code in SURGEONS):
        return
    rng = random.Random(20261201)
    _catalogue(departments)
    operations = _operations_by_department()
    staff = dict(db.session.execute(select(Staff.employee_no, Staff.id)).all())
    anaesthetist = staff.get("S0002")
    today = local_today()
    back = today.year * 12 + today.month - 1 - 5  # five whole months before this one
    first = date(back // 12, back % 12 + 1, 1)
    discharge_rows, surgery_rows, complications, reoperations, infections, ssis = [], [], [], [], [], []
    n = 0
    day = first
    theatre: dict = {}
    coverage = _coverage()
    while day < today:
        for dept, per_day in PER_DAY.items():
            for _ in range(rng.randint(per_day - 2, per_day + 2)):
                n += 1
                record = f"CY{day:%Y%m%d}{n:05d}"
                mrn = f"ZY{200000 + n}"
                stay = rng.randint(1, 12)
                admitted = day - timedelta(days=stay)
                is_day = stay == 1 and rng.random() < 0.6
                discharge_rows.append({"record_id": record, "mrn": mrn, "admission_no": 1,
                                       "patient_pseudonym": f"P{n:06d}", "department_id": departments[dept].id,
                                       "admission_date": admitted, "discharge_date": day,
                                       "discharge_mode": rng.choice(MODES), "day_surgery": is_day})
                if rng.random() > (0.75 if dept != "ZLK" else 0.35):
                    continue
                for k in range(1 if rng.random() < 0.85 else 2):
                    on = admitted + timedelta(days=min(1, stay - 1))
                    op, surgeon = _pick(rng, dept, operations[dept], on, rng.random() < 0.01, coverage)
                    start = datetime.combine(on, datetime.min.time()) + timedelta(hours=8 + 3 * k + rng.randint(0, 5))
                    minutes = rng.randint(40, 240)
                    # A surgeon's operations of a day follow each other; now and then one overlaps the last.
                    busy = theatre.get((surgeon, on))
                    if busy and start < busy + timedelta(minutes=20):
                        start = (busy - timedelta(minutes=30)) if rng.random() < 0.02 else busy + timedelta(minutes=20)
                    theatre[(surgeon, on)] = max(busy or start, start + timedelta(minutes=minutes))
                    class1 = op.kind == "surgery" and rng.random() < 0.5
                    urgency = "elective" if rng.random() < 0.8 else rng.choice(("emergency", "limited"))
                    row = surgeries.clean({
                        "record_id": f"SS{n:06d}{k}", "discharge_record_id": record, "mrn": mrn,
                        "department_id": departments[dept].id, "surgeon_id": staff[surgeon],
                        "assistant1_id": staff[rng.choice(SURGEONS[dept])], "anaesthetist_id": anaesthetist,
                        "anaesthesia_method": "全身麻醉" if op.kind == "surgery" else "局部麻醉", "operation": op,
                        "urgency": urgency, "started_at": start, "ended_at": start + timedelta(minutes=minutes),
                        "incision": "I" if class1 else ("II" if op.kind == "surgery" else ""),
                        "healing": ("C" if rng.random() < 0.02 else "A") if class1 else "",
                        "day_surgery": is_day and urgency == "elective",
                        # The planned surgeon differs now and then (the planned-vs-actual check reads it).
                        "planned_surgeon_id": staff[surgeon if rng.random() < 0.97
                                                    else rng.choice(SURGEONS[dept])]})
                    surgery_rows.append(row)
                    ended = row["ended_at"]
                    chance = rng.random()
                    if chance < 0.03:
                        complications.append({"surgery_record_id": row["record_id"], "event_date": day,
                                              "name": rng.choice(("术后出血", "吻合口瘘", "切口裂开", "深静脉血栓"))})
                    elif chance < 0.045:
                        back = ended + timedelta(hours=rng.choice((6, 20, 40, 90, 300)))
                        reoperations.append({"surgery_record_id": row["record_id"], "event_date": back.date(),
                                             "reoperated_at": back, "name": "再次手术止血探查"})
                    elif chance < 0.055:
                        infections.append({"mrn": mrn, "operation_date": row["operation_date"], "event_date": day,
                                           "name": rng.choice(("肺部感染", "泌尿系感染"))})
                    elif chance < 0.062:
                        ssis.append({"surgery_record_id": row["record_id"], "event_date": day, "name": "切口感染",
                                     "ssi_depth": rng.choice(("superficial", "deep", "organ"))})
        day += timedelta(days=1)
    # Two events whose surgery is not known yet: listed for correction.
    complications.append({"surgery_record_id": "SS-UNKNOWN-1", "event_date": today - timedelta(days=3),
                          "name": "术后肺不张", "note": "上报系统中的手术记录号有误"})
    infections.append({"mrn": "ZY999999", "operation_date": date(today.year, today.month, 1),
                       "event_date": today - timedelta(days=2), "name": "切口感染"})
    discharges.save_discharges(discharge_rows, "demo")
    surgeries.save_surgeries(surgery_rows, "demo")
    for kind, rows in (("complication", complications), ("reoperation", reoperations), ("infection", infections),
                       ("ssi", ssis)):
        events.save_events(kind, [{**r, "event_no": events.stable_event_no(kind, r)} for r in rows], "demo")
    db.session.flush()
