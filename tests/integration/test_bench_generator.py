"""The benchmark data generator at its `small` scale: what it makes, that the pages work on it, that the audit
chain it writes in bulk verifies, and that the same seed makes the same data."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from bench.generate_credentials import RECORDS as QUALIFICATION_RECORDS
from bench.generate_privileges import PRIVILEGES
from bench.kit import PASSWORD, SCALES, run
from portal.approvals.models import ApprovalInstance
from portal.auth.models import User
from portal.casemgmt.models import CareTask, LedgerEntry, Patient, PlanItem
from portal.core import migrate
from portal.core.audit import AuditLog, verify_chain
from portal.core.timeutil import local_today
from portal.extensions import db
from tests.backends import fresh_database
from tests.conftest import PortalClient, build_app


@pytest.fixture
def bench_app(tmp_path, redis_server):
    """A fresh database loaded with the small scale."""
    with fresh_database(tmp_path, "bench") as url:
        migrate.upgrade(url)
        app = build_app(url, redis_server, tmp_path / "instance",
                        AUDIT_ANCHOR_PATH=str(tmp_path / "anchors.jsonl"))
        app.test_client_class = PortalClient
        try:
            with app.app_context():
                ctx = run("small", echo=None)
                db.session.remove()
            yield app, ctx
        finally:
            app.extensions["db.engine"].dispose()


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_small_scale_makes_what_it_says_and_the_chain_verifies(bench_app):
    app, ctx = bench_app
    scale = SCALES["small"]
    with app.app_context():
        assert _count(Patient) == scale.patients
        tasks = _count(CareTask)
        assert abs(tasks - scale.tasks) <= scale.tasks * 0.02
        assert _count(LedgerEntry) == db.session.scalar(select(func.count()).where(CareTask.status == "done"))
        # The bulk-inserted ledger has its monthly summaries (the long-period reports read them).
        from portal.casemgmt.models import LedgerMonth

        assert db.session.scalar(select(func.sum(LedgerMonth.services))) == _count(LedgerEntry)
        assert _count(PlanItem) == scale.plan_items
        # Pathway tasks name their step, as the 17:05 build's own tasks do.
        pathway_tasks = select(func.count()).where(CareTask.source == "pathway")
        assert db.session.scalar(pathway_tasks) > 0
        assert db.session.scalar(pathway_tasks.where(CareTask.pathway_step_id.is_(None))) == 0
        from portal.credentials.models import Qualification

        assert _count(Qualification) == QUALIFICATION_RECORDS["small"]
        # Quality data: the counts it declares, and flags and monthly summary equal to a rebuild from the records.
        from bench.generate_quality import SIZES
        from portal.quality import summary as quality_summary
        from portal.quality.models import Discharge as QualityDischarge
        from portal.quality.models import QualityEvent, QualityMonth, Surgery

        assert (_count(QualityDischarge), _count(Surgery), _count(QualityEvent)) == SIZES["small"]

        def months():
            return {(r.month, r.department_id): tuple(getattr(r, k) for k in quality_summary.COUNTS)
                    for r in db.session.scalars(select(QualityMonth)) if r.discharges}

        generated = months()
        assert generated and sum(v[1] for v in generated.values()) > 0
        quality_summary.rebuild()
        assert months() == generated
        from portal.quality.models import SurgeonMonth, SurgeryMonth
        from portal.quality.reports import summary as surgery_summary

        for model in (SurgeryMonth, SurgeonMonth):  # the surgery reports' summaries equal the records
            keys = [c.name for c in model.__table__.primary_key.columns]
            assert {tuple(getattr(r, k) for k in keys): tuple(getattr(r, m) for m in surgery_summary.SURGERY_MEASURES)
                    for r in db.session.scalars(select(model))} == surgery_summary.counts(model)
        from portal.quality.models import OUTCOME_MEASURES
        from portal.quality.outcomes import summary as outcome_summary

        for model, keys in outcome_summary.TABLES.items():  # the outcomes summaries too
            outcomes = {tuple(getattr(r, k) for k in keys): [getattr(r, m) for m in OUTCOME_MEASURES]
                        for r in db.session.scalars(select(model))}
            assert outcomes and outcomes == outcome_summary.counts((), keys)
        db.session.rollback()
        from portal.credentials.models import Privilege

        assert _count(Privilege) == PRIVILEGES["small"]
        states = dict(db.session.execute(select(Privilege.status, func.count()).group_by(Privilege.status)).all())
        assert states["active"] and states["pending"] == 20  # (120 days of history: no renewals yet)
        # Every chain link points at an older record of the same person.
        older = select(func.count()).select_from(Privilege).join(
            Privilege.__table__.alias("o"), text("o.id = privileges.supersedes_id")).where(
            text("o.id < privileges.id AND o.staff_id = privileges.staff_id"))
        assert db.session.scalar(older) == db.session.scalar(select(func.count()).where(
            Privilege.supersedes_id.is_not(None)))
        states = set(db.session.scalars(select(ApprovalInstance.status).distinct()))
        assert states == {"pending", "approved", "rejected", "returned", "withdrawn"}
        assert db.session.scalar(select(func.count()).where(User.login_name.like("bcm%"))) == scale.case_managers
        # The printed counts are the rows in the database.
        # Study records: a plan per department and month (some behind), records of held sessions, attendance.
        months = SCALES["small"].days * 12 // 365
        plans = ctx.counts["study_plans"]
        assert scale.departments * months * 2 // 3 <= plans < scale.departments * months
        assert ctx.counts["study_sessions"] == 2 * plans
        assert 0 < ctx.counts["study_records"] < ctx.counts["study_sessions"]
        assert ctx.counts["study_attendance"] >= 5 * ctx.counts["study_records"]
        # The catalogue: its entries, each entry's revisions numbered 1..revision, the last one its current state.
        from portal.catalogue.models import Technology, TechnologyRevision

        assert _count(Technology) == 300 + 42  # the dictionary, then the restricted and new technologies
        assert _count(TechnologyRevision) == db.session.scalar(select(func.sum(Technology.revision)))
        assert ctx.counts["technology_revisions"] > 300
        for table in ("care_tasks", "ledger_entries", "login_events", "notifications", "staff", "qualifications",
                      "privileges", "technologies", "technology_revisions", "technology_departments",
                      "quality_discharges", "quality_surgeries", "quality_events", "study_plans",
                      "study_sessions", "study_records", "study_attendance"):
            assert ctx.counts[table] == db.session.execute(text(f"SELECT count(*) FROM {table}")).scalar()
        from bench.generate_budget import LINES, sizes
        from portal.budget.models import BudgetLine, BudgetProject, Expenditure

        projects, expenditures = sizes("small")
        assert (_count(BudgetProject), _count(BudgetLine), _count(Expenditure)) == (projects, projects * LINES,
                                                                                    expenditures)
        assert sizes("hospital") == (200, 100_000) and 200 * LINES == 2_000  # five years: the targets' data
        from portal.budget.execution import summary as budget_summary
        from portal.budget.models import SpendingMonth

        def spending_months():
            return {(r.project_id, r.line_id, r.month): (r.expenditures, r.committed, r.spent)
                    for r in db.session.scalars(select(SpendingMonth).execution_options(populate_existing=True))}

        generated = spending_months()
        assert generated and sum(v[0] for v in generated.values()) == expenditures
        budget_summary.rebuild()
        assert spending_months() == generated
        db.session.rollback()
        audit_rows = _count(AuditLog)
        assert audit_rows >= scale.audit_extra + _count(LedgerEntry)
        # Medical-affairs projects: one every six days (20 over the small scale's 120 days), the newest a draft,
        # six departments (all of them) x four materials each, files for every uploaded item, approvals in step.
        from portal.projects.models import ItemFile, Project, ProjectItem

        assert _count(Project) == 20
        assert _count(ProjectItem) == 19 * 6 * 4
        assert set(db.session.scalars(select(ProjectItem.status).distinct())) == {
            "pending", "uploaded", "submitted", "passed", "returned"}
        assert _count(ItemFile) == ctx.counts["project_item_files"] > 0
        assert db.session.scalar(select(func.count()).where(ProjectItem.status.in_(
            ("submitted", "passed", "returned")), ProjectItem.approval_id.is_(None))) == 0
        report = verify_chain()
        assert report.ok, report.reason
        assert report.checked == audit_rows and report.legacy == 0


def test_pages_load_on_the_generated_data(bench_app):
    app, _ = bench_app
    pages = {"bsup": ["/", "/casemgmt/tasks/overview", "/casemgmt/kpis", "/casemgmt/patients", "/casemgmt/ledger",
                      "/casemgmt/ledger/report"],
             "bcm00": ["/", "/casemgmt/tasks", "/casemgmt/patients", "/casemgmt/ledger"],
             "bma": ["/approvals/todo", "/supervision", "/", "/catalogue/technologies",
                     "/catalogue/technologies?as_of=" + (local_today() - timedelta(days=60)).isoformat(),
                     "/catalogue/technologies/1", "/catalogue/departments", "/catalogue/filings",
                     "/catalogue/newtech?status=trial", "/catalogue/filings/1", "/catalogue/newtech/1",
                     "/credentials/qualifications", "/credentials/qualifications?expiring=30", "/study",
                     "/study?year=2025", "/budget"],
             "baudit": ["/audit/"], "bsys": ["/admin/users"]}
    for login, urls in pages.items():
        client = app.test_client()
        client.login(login, PASSWORD)
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, (login, url, response.status_code)
    client = app.test_client()
    client.login("bcm00", PASSWORD)
    assert "待完成" in client.get("/casemgmt/tasks").get_data(as_text=True)  # today's list has open tasks


def _fingerprint() -> str:
    rows = db.session.execute(select(CareTask.due_date, CareTask.patient_id, CareTask.status, CareTask.task_type)
                              .order_by(CareTask.id)).all()
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def test_the_same_seed_makes_the_same_data(bench_app, tmp_path, redis_server):
    app, _ = bench_app
    with app.app_context():
        first = _fingerprint()
    with fresh_database(tmp_path, "bench2") as url:
        migrate.upgrade(url)
        other = build_app(url, redis_server, tmp_path / "instance2")
        try:
            with other.app_context():
                run("small", echo=None)
                assert _fingerprint() == first
                db.session.remove()
        finally:
            other.extensions["db.engine"].dispose()


def test_the_bare_endpoint_exists_only_when_benchmarking(app, client, database_url, redis_server, tmp_path):
    assert client.get("/bench/bare").status_code == 404
    assert "main.bench_bare" not in app.view_functions
    benchmarked = build_app(database_url, redis_server, tmp_path / "instance", BENCH=True)
    try:
        response = benchmarked.test_client().get("/bench/bare")
        assert response.status_code == 200 and response.get_data(as_text=True) == "ok"
    finally:
        benchmarked.extensions["db.engine"].dispose()


def test_every_page_and_api_call_the_domains_declare_for_the_load_answers(bench_app):
    """The benchmark replays exactly these requests: each must succeed for the user it is declared as."""
    import re

    from bench.harness import mix
    from bench.load import LoadContext, bench_token, collect

    app, _ = bench_app
    logins = ["bsup", "bsys", "bma", "baudit", "bplan", "bh000", "bcm00", "bcm01"]
    sessions = {}
    for login in logins:
        client = app.test_client()
        client.login(login, PASSWORD)
        home = client.get("/").get_data(as_text=True)
        csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', home).group(1)
        cookie = "; ".join(f"{c.key}={c.value}" for c in client._cookies.values())
        sessions[login] = (cookie, csrf, sorted(set(re.findall(r'hx-get="(/panels/[^"]+)"', home))))

    def token(name, login, scopes):
        with app.app_context():
            return bench_token(name, login, scopes)

    load = collect(LoadContext(app, sessions, local_today(), token))
    names = [page.name for page in load.pages]
    assert len(names) == len(set(names)), "two domains declare the same page name"
    assert {"cm: task list", "cm: complete task", "audit log", "home panels"} <= set(names)
    assert all(page.weight > 0 for page in load.pages)

    def send(request):
        headers = [("Cookie", request.cookie)] if request.cookie else []
        return app.test_client(use_cookies=False).open(request.path, method=request.method, data=request.body or None,
                                      headers=headers + list(request.headers))

    for page in load.pages:
        assert page.requests, page.name
        for request in page.requests[:5]:
            response = send(request)
            assert response.status_code == 200, (page.name, request.path, response.status_code)
    for call in load.api:
        for request in [*call.warmup, *call.requests]:
            response = send(request)
            assert response.status_code in (200, 201), (call.name, request.path, response.get_data(as_text=True))
    # The mix draws by weight and covers every page.
    drawn = {request.kind for request in mix(load.pages, n=3000)}
    assert drawn == set(names)

    # Completing: every declared request records a real attempt and leaves its task open (none runs out), and
    # reset() puts the tasks back as they were, so the next run (or benchmark) sends the same requests again.
    complete = next(page for page in load.pages if page.name == "cm: complete task")
    state = select(CareTask.id, CareTask.status, CareTask.attempts, CareTask.last_attempt_at, CareTask.note)
    with app.app_context():
        complete.reset()
        before = db.session.execute(state.order_by(CareTask.id)).all()
        ledger = _count(LedgerEntry)
    assert len({request.path for request in complete.requests}) >= 10
    for _ in range(2):
        for request in complete.requests:
            response = send(request)
            assert response.status_code == 200, (request.path, response.status_code)
            assert "次未联系上，任务保留在清单中" in response.get_data(as_text=True)
        with app.app_context():
            assert _count(LedgerEntry) == ledger
            complete.reset()
            assert db.session.execute(state.order_by(CareTask.id)).all() == before
