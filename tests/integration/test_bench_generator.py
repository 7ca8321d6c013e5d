"""The benchmark data generator at its `small` scale: what it makes, that the pages work on it, that the audit
chain it writes in bulk verifies, and that the same seed makes the same data."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import func, select, text

from bench.kit import PASSWORD, SCALES, run
from portal.approvals.models import ApprovalInstance
from portal.auth.models import User
from portal.casemgmt.models import CareTask, LedgerEntry, Patient, PlanItem
from portal.core import migrate
from portal.core.audit import AuditLog, verify_chain
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
        states = set(db.session.scalars(select(ApprovalInstance.status).distinct()))
        assert states == {"pending", "approved", "rejected", "returned", "withdrawn"}
        assert db.session.scalar(select(func.count()).where(User.login_name.like("bcm%"))) == scale.case_managers
        # The printed counts are the rows in the database.
        for table in ("care_tasks", "ledger_entries", "login_events", "notifications", "staff"):
            assert ctx.counts[table] == db.session.execute(text(f"SELECT count(*) FROM {table}")).scalar()
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
             "bma": ["/approvals/todo", "/supervision"], "baudit": ["/audit/"], "bsys": ["/admin/users"]}
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
    from bench.load import LoadContext, collect
    from portal.api.tokens import create_token
    from portal.core.timeutil import local_today

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

    def token(name, login):
        with app.app_context():
            _, secret = create_token(name=name, login_name=login)
            db.session.commit()
        return secret

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
