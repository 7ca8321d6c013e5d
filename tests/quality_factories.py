"""Quality data for tests: a small operation catalogue, surgeons, and records written through the services."""

from __future__ import annotations

import itertools
from datetime import date, datetime

from portal.catalogue.models import Technology
from portal.extensions import db
from portal.quality.discharges import services as discharges
from portal.quality.events import services as events
from portal.quality.lookups import operation_table
from portal.quality.surgeries import services as surgeries
from tests.factories import make_staff

_seq = itertools.count(1)

# code, national code, name, category, grade, minimally invasive, perf_grade4
CATALOGUE = (
    ("T-LC", "51.2301", "腹腔镜下胆囊切除术", "surgery", 3, True, False),
    ("T-GAS", "43.7x00", "胃癌根治术", "surgery", 4, False, False),
    ("T-HER", "53.0000", "腹股沟疝修补术", "surgery", 2, False, False),
    ("T-PCI", "36.0600", "经皮冠状动脉支架置入术", "interventional", 3, True, True),
    ("T-EGD", "45.1300", "胃镜检查", "endoscopy", 1, False, False),
)


def make_catalogue() -> dict[str, Technology]:
    out = {}
    for code, national, name, category, grade, mi, perf4 in CATALOGUE:
        tech = Technology(code=code, national_code=national, name=name, category=category, grade=grade,
                          minimally_invasive=mi, perf_grade4=perf4)
        db.session.add(tech)
        out[code] = tech
    db.session.commit()
    return out


def make_surgeon(department, name: str = "外科医生", employee_no: str | None = None):
    return make_staff(name, department, employee_no=employee_no or f"S{next(_seq):05d}")


def discharge(record_id: str, department, day: date, mode: str = "1", **extra) -> dict:
    return {"record_id": record_id, "mrn": extra.pop("mrn", f"ZY{record_id}"), "admission_no": 1,
            "patient_pseudonym": f"P{record_id}", "department_id": department.id,
            "admission_date": extra.pop("admission_date", day), "discharge_date": day, "discharge_mode": mode,
            "day_surgery": extra.pop("day_surgery", False), **extra}


def surgery(record_id: str, discharge_record_id: str, department, surgeon, code: str, start: datetime,
            urgency: str = "elective", **extra) -> dict:
    table = operation_table()
    return surgeries.clean({"record_id": record_id, "discharge_record_id": discharge_record_id,
                            "mrn": extra.pop("mrn", f"ZY{discharge_record_id}"), "department_id": department.id,
                            "surgeon_id": surgeon.id, "operation": table[code.upper()], "urgency": urgency,
                            "started_at": start, **extra})


def save(discharge_rows=(), surgery_rows=(), event_rows: dict | None = None) -> None:
    if discharge_rows:
        discharges.save_discharges(list(discharge_rows), "import")
    if surgery_rows:
        surgeries.save_surgeries(list(surgery_rows), "import")
    for kind, rows in (event_rows or {}).items():
        events.save_events(kind, [{**r, "event_no": r.get("event_no") or events.stable_event_no(kind, r)}
                                  for r in rows], "import")
    db.session.commit()
