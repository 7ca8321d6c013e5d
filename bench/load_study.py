"""Study records: medical affairs' matrix of departments x months (a year, and the whole hospital) and a
department's month and year pages."""

from .load import Load, LoadContext, Page
from .openloop import Request


def load(ctx: LoadContext) -> Load:
    from sqlalchemy import select

    from portal.auth.models import Department
    from portal.extensions import db
    from portal.study.models import StudyPlan

    ma = ctx.cookie("bma")
    with ctx.app.app_context():  # the department with the most plans: a full page
        dept = db.session.scalar(select(StudyPlan.department_id).order_by(StudyPlan.id).limit(1)) or \
            db.session.scalar(select(Department.id).where(Department.kind == "department"))
    head = ma
    month = f"{ctx.today:%Y-%m}"
    last_year = ctx.today.year - 1
    return Load(pages=[
        Page("study: matrix", 3, [Request("study: matrix", "/study", ma)]),
        Page("study: matrix last year", 1, [Request("study: matrix last year", f"/study?year={last_year}", ma)]),
        Page("study: department month", 3, [Request("study: department month",
                                                    f"/study/departments/{dept}/{month}", head)]),
        Page("study: department year", 1, [Request("study: department year", f"/study/departments/{dept}", head)]),
    ])
