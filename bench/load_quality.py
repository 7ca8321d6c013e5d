"""Medical quality: the indicator dashboard (a month, a year), the indicator report over five years, the
discharge and surgery lists, the surgery reports (a month, five years), a department head's own indicators and
surgeons, and HIS pushing discharges."""

import json

from .load import ApiCall, Load, LoadContext, Page
from .openloop import Request


def load(ctx: LoadContext) -> Load:
    first = ctx.today.replace(day=1)
    last_month = f"{first.year - (first.month == 1)}-{12 if first.month == 1 else first.month - 1:02d}"
    end = first.fromordinal(first.toordinal() - 1)
    five_years = f"date_from={first.year - 5}-{first.month:02d}-01&date_to={end.isoformat()}"
    ma = ctx.cookie("bma")

    def page(name: str, weight: int, path: str, cookie: str = ma) -> Page:
        return Page(name, weight, [Request(name, path, cookie)])

    pages = [
        page("quality: indicators (month)", 4, f"/quality/indicators?period={last_month}"),
        page("quality: indicators (year)", 2, f"/quality/indicators?period={first.year - 1}"),
        page("quality: indicator report (5 years)", 1, f"/reports/quality_indicators?{five_years}"),
        page("quality: discharges", 3, f"/quality/discharges?month={last_month}"),
        page("quality: surgeries (grade 4)", 3, f"/quality/surgeries?month={last_month}&grade=4"),
        page("quality: surgery report by department (month)", 2,
             f"/reports/quality_surgery_by_department?month={last_month}"),
        page("quality: surgery report by surgeon (5 years)", 1, f"/reports/quality_surgery_by_surgeon?{five_years}"),
        page("quality: surgery report by month (5 years)", 1, f"/reports/quality_surgery_by_month?{five_years}"),
        page("quality: event rates by department (month)", 1,
             f"/reports/quality_events_by_department?month={last_month}"),
        page("quality: core monitoring (month)", 1, f"/reports/quality_core_monitoring?month={last_month}"),
    ]
    if "bh000" in ctx.sessions:
        pages.append(page("dept head: indicators", 3, f"/quality/indicators?period={last_month}",
                          ctx.cookie("bh000")))
        pages.append(page("dept head: surgery report by surgeon (month)", 1,
                          f"/reports/quality_surgery_by_surgeon?month={last_month}", ctx.cookie("bh000")))
    token = ctx.token("基准 HIS 质量", "bma", ["quality.push"])
    body = json.dumps({"items": [{"record_id": f"BDLOAD{n:04d}", "mrn": f"BZL{n:05d}", "department_id": "BK000",
                                  "admission_date": end.replace(day=1).isoformat(), "discharge_date": end.isoformat(),
                                  "discharge_mode": "1"} for n in range(20)]}).encode()
    headers = (("Authorization", f"Bearer {token}"), ("Content-Type", "application/json"))
    post = Request("quality API: POST 20 discharges", "/api/v1/quality/discharges", method="POST", body=body,
                   headers=headers)
    # The first push creates them; the measured ones are unchanged resubmissions (idempotent by record id).
    from .load_violations import load as violations_load

    pages += violations_load(ctx).pages  # the violation pages of the same domain
    return Load(pages=pages, api=[ApiCall("quality API (POST of 20 unchanged discharges)", [post], rate=100,
                                          warmup=[post])])
