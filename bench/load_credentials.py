"""Credentials: medical affairs' privilege pages in the mix, and HIS's privilege check measured alone at 200
requests/s against its target (P99 <= 20 ms)."""

from __future__ import annotations

import random

from .load import ApiCall, Load, LoadContext, Page
from .openloop import Request


def load(ctx: LoadContext) -> Load:
    from sqlalchemy import select

    from portal.auth.models import Staff
    from portal.catalogue.models.technologies import Technology
    from portal.credentials.models.privileges import Privilege
    from portal.extensions import db

    rng = random.Random(11)
    with ctx.app.app_context():
        staff = list(db.session.scalars(select(Staff.employee_no).where(Staff.employee_no.like("B0%"))
                                        .order_by(Staff.id).limit(3000)))
        techs = list(db.session.execute(select(Technology.code, Technology.national_code).order_by(Technology.id)
                                        .limit(3000)))
        held = list(db.session.execute(select(Staff.employee_no, Technology.code)
                                       .join(Privilege, Privilege.staff_id == Staff.id)
                                       .join(Technology, Technology.id == Privilege.technology_id)
                                       .where(Privilege.status == "active").limit(2000)))
    token = ctx.token("基准 HIS 授权校验", "bma", ["privileges.check"])
    headers = (("Authorization", f"Bearer {token}"),)
    requests = []
    for n in range(400):
        if held and n % 2 == 0:  # half ask about a technology the surgeon holds, half about any operation
            number, code = held[rng.randrange(len(held))]
        else:
            number = staff[rng.randrange(len(staff))] if staff else "B000000"
            local, national = techs[rng.randrange(len(techs))] if techs else ("BT00000", "")
            code = national if national and n % 3 == 0 else local
        right = "perform" if n % 4 else "order"
        requests.append(Request("privilege check", f"/api/v1/privileges/check?staff={number}&code={code}"
                                f"&right={right}&date={ctx.today.isoformat()}", headers=headers))
    ma = ctx.cookie("bma")
    pages = [
        Page("ma: privileges", 3, [Request("ma: privileges", "/credentials/privileges", ma)]),
        Page("ma: privileges ending 90 days", 1, [Request("ma: privileges ending 90 days",
                                                          "/credentials/privileges?ending=90", ma)]),
        Page("ma: renewals", 1, [Request("ma: renewals", "/credentials/privileges/renewals", ma)]),
        Page("ma: interception alerts", 1, [Request("ma: interception alerts", "/credentials/privileges/alerts", ma)]),
    ]
    from .load_capability import load as capability_load

    pages += capability_load(ctx).pages  # the capability pages (能力展示) of the same domain
    return Load(pages=pages, api=[ApiCall("privilege check", requests, rate=200, p99_target_ms=20)])
