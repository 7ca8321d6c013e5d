"""Case management: the case managers' day (task list, completions, patients, ledger), the supervisor's pages
and HIS's plan API."""

import json
from datetime import timedelta

from .load import ApiCall, Load, LoadContext, Page
from .openloop import Request

# The columns a "not reached" changes on a task that stays open (tasks/services.py _record_attempt).
ATTEMPT_COLUMNS = ("attempts", "last_attempt_at", "outcome", "outcome_values", "note", "updated_at")


def load(ctx: LoadContext) -> Load:
    from sqlalchemy import bindparam, select, update

    from portal.auth.models import User
    from portal.casemgmt.models import CareTask
    from portal.casemgmt.tasks.services import max_attempts
    from portal.extensions import db

    cms = ctx.case_managers()
    with ctx.app.app_context():
        ids = {login: db.session.scalar(select(User.id).where(User.login_name == login)) for login in cms}
        # Open tasks on each list (due today or carried over) that a "not reached" leaves open, with what it changes.
        keep_open = max_attempts() - 1
        rows = db.session.execute(select(CareTask.id, CareTask.case_manager_id, *(
            getattr(CareTask, name) for name in ATTEMPT_COLUMNS)).where(
            CareTask.case_manager_id.in_(list(ids.values())), CareTask.due_date <= ctx.today,
            CareTask.status == "open", CareTask.attempts < keep_open).order_by(CareTask.id)).mappings().all()
    saved = [{"task_id": row["id"], **{f"old_{name}": row[name] for name in ATTEMPT_COLUMNS}} for row in rows]
    login_of = {uid: login for login, uid in ids.items()}
    body = f"outcome=not_reached&note=&mode=list&day={ctx.today.isoformat()}".encode()

    def completion(task_id: int, login: str) -> Request:
        headers = (("Content-Type", "application/x-www-form-urlencoded"), ("X-CSRFToken", ctx.csrf(login)),
                   ("HX-Request", "true"))
        return Request("cm: complete task", f"/casemgmt/tasks/{task_id}/complete", ctx.cookie(login), "POST",
                       body, headers)

    # Each task as often as a "not reached" keeps it open, every task once before any twice (the mix takes the
    # requests in order), so every request records a real attempt and no task closes.
    complete = [completion(row["id"], login_of[row["case_manager_id"]])
                for attempt in range(keep_open) for row in rows if row["attempts"] <= attempt]

    def reset() -> None:
        """Put the tasks back as they were before the run: the attempts recorded since are taken off again."""
        if saved:
            table = CareTask.__table__
            restore = (update(table).where(table.c.id == bindparam("task_id"), table.c.status == "open")
                       .values({name: bindparam(f"old_{name}", type_=table.c[name].type)
                                for name in ATTEMPT_COLUMNS}))
            db.session.execute(restore, saved)
            db.session.commit()

    sup = ctx.cookie("bsup")

    def each(name: str, path: str) -> list[Request]:
        return [Request(name, path, ctx.cookie(login)) for login in cms]

    pages = [
        Page("cm: task list", 24, each("cm: task list", "/casemgmt/tasks")),
        Page("cm: patients", 8, each("cm: patients", "/casemgmt/patients")),
        Page("cm: ledger", 8, each("cm: ledger", "/casemgmt/ledger")),
        # Each completion records "not reached": the task stays on the list; reset() takes the attempts off again.
        Page("cm: complete task", 6, complete, in_mix_only=True, reset=reset),
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
