"""Case management: the case managers' day (task list, completions, patients, ledger), the supervisor's pages
and HIS's plan API."""

import json
from datetime import timedelta

from .load import ApiCall, Load, LoadContext, Page
from .openloop import Request


def load(ctx: LoadContext) -> Load:
    from sqlalchemy import select

    from portal.auth.models import User
    from portal.casemgmt.models import CareTask
    from portal.extensions import db

    cms = ctx.case_managers()
    with ctx.app.app_context():
        ids = {login: db.session.scalar(select(User.id).where(User.login_name == login)) for login in cms}
        open_tasks = {login: list(db.session.scalars(select(CareTask.id).where(
            CareTask.case_manager_id == uid, CareTask.due_date == ctx.today, CareTask.status == "open")
            .order_by(CareTask.id))) for login, uid in ids.items()}
    complete = []
    for login in cms:
        headers = (("Content-Type", "application/x-www-form-urlencoded"), ("X-CSRFToken", ctx.csrf(login)),
                   ("HX-Request", "true"))
        body = f"outcome=not_reached&note=&mode=list&day={ctx.today.isoformat()}".encode()
        complete += [Request("cm: complete task", f"/casemgmt/tasks/{task_id}/complete", ctx.cookie(login), "POST",
                             body, headers) for task_id in open_tasks[login]]
    sup = ctx.cookie("bsup")

    def each(name: str, path: str) -> list[Request]:
        return [Request(name, path, ctx.cookie(login)) for login in cms]

    pages = [
        Page("cm: task list", 24, each("cm: task list", "/casemgmt/tasks")),
        Page("cm: patients", 8, each("cm: patients", "/casemgmt/patients")),
        Page("cm: ledger", 8, each("cm: ledger", "/casemgmt/ledger")),
        # Each completion records "not reached": the task stays on the list, so the data can be reused.
        Page("cm: complete task", 6, complete, in_mix_only=True),
        Page("supervisor: overview", 4, [Request("supervisor: overview", "/casemgmt/tasks/overview", sup)]),
        Page("supervisor: KPIs", 3, [Request("supervisor: KPIs", "/casemgmt/kpis", sup)]),
        Page("supervisor: patients", 3, [Request("supervisor: patients", "/casemgmt/patients?page=20", sup)]),
        Page("supervisor: ledger", 3, [Request("supervisor: ledger", "/casemgmt/ledger?page=50", sup)]),
    ]
    token = ctx.token("基准 HIS", "bplan", ["plans"])
    day = ctx.today + timedelta(days=2)
    body = json.dumps({"items": [{"id": f"B{n:05d}", "patient": f"BZY{n * 7 + 1:06d}",
                                  "service": "accompany_admission", "ward": "BW000", "bed": str(n % 60),
                                  "time_slot": "morning"} for n in range(20)]}).encode()
    headers = (("Authorization", f"Bearer {token}"), ("Content-Type", "application/json"))
    post = Request("plan API: POST 20 items", f"/api/v1/plans/{day}", method="POST", body=body, headers=headers)
    get = Request("plan API: GET", f"/api/v1/plans/{day}", headers=headers)
    # The first submission creates the plan; the measured ones are unchanged resubmissions and reads (1 : 3).
    return Load(pages=pages, api=[ApiCall("plan API (POST of 20 unchanged items : GET = 1 : 3)",
                                          [post, get, get, get], warmup=[post])])
