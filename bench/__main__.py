"""Run the benchmarks: python -m bench (make bench). Prints milliseconds per request of list pages."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from portal import create_app
from portal.config import TestConfig
from portal.core import domains, migrate
from portal.core.redis_conn import stop_embedded_redis
from portal.extensions import db

PAGES = ["/", "/admin/users", "/admin/users?q=u01&sort=-name", "/admin/staff?page=20", "/audit/?page=3",
         "/approvals/todo"]
# Case management, as a case manager at the 1:500 norm sees it (the tablet list and the ledger) ...
CASE_MANAGER_PAGES = ["/casemgmt/tasks", "/casemgmt/tasks?status=open&group=ward", "/casemgmt/ledger",
                      "/casemgmt/patients", "/casemgmt/patients?q=BZY000021"]
# ... and as the supervisor and the hospital see it (all case managers, the month's KPIs).
SUPERVISOR_PAGES = ["/casemgmt/tasks/overview", "/casemgmt/ledger?page=50", "/casemgmt/kpis",
                    "/casemgmt/ledger/report", "/casemgmt/patients?page=100"]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        migrate.upgrade(url)
        app = create_app(TestConfig, DATABASE_URL=url, REDIS_URL="", INSTANCE_PATH=tmp,
                         PASSWORD_HASH_METHOD="scrypt:1024:8:1")
        with app.app_context():
            sizes = {}
            for domain in domains.installed():  # each domain's data generator, in installed order
                if domain.bench:
                    sizes.update(domains.resolve(domain.bench)())
            from portal.auth import services
            from portal.auth.seed import ensure_roles

            admin = services.create_user(login_name="benchadmin", password="Bench#2026ok", staff_id=None,
                                         wecom_userid=None, role_ids=[r.id for r in ensure_roles().values()])
            admin.must_change_password = False
            db.session.commit()
        print(f"data: {sizes}")
        print(f"{'page':48} {'median ms':>10} {'p95 ms':>8}")
        for login, pages in (("benchadmin", PAGES + SUPERVISOR_PAGES), ("bcm00", CASE_MANAGER_PAGES)):
            client = _signed_in(app, login)
            for page in pages:
                _measure(client, page)
        _measure_plan_api(app)
        stop_embedded_redis(tmp)
    from .imports import report as report_imports

    report_imports()  # rows per second of a 20,000-row staff import (its own fresh database)


def _measure_plan_api(app, items: int = 200) -> None:
    """HIS posting tomorrow's plan of `items` items (the first time, then unchanged resubmissions)."""
    from datetime import timedelta

    from portal.api.tokens import create_token
    from portal.core.timeutil import local_today

    with app.app_context():
        _, token = create_token(name="基准 HIS", login_name="benchadmin")
        db.session.commit()
    day = local_today() + timedelta(days=1)
    body = {"items": [{"id": f"B{n:05d}", "patient": f"BZY{n * 37 % 10000:06d}", "service": "accompany_admission",
                       "ward": f"BW{n % 20:02d}", "bed": str(n % 60), "time_slot": "morning"} for n in range(items)]}
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    url = f"/api/v1/plans/{day:%Y-%m-%d}"
    timings = []
    for _ in range(20):
        start = time.perf_counter()
        response = client.post(url, json=body, headers=headers)
        timings.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (url, response.status_code, response.get_data(as_text=True)[:300])
    first, rest = timings[0], sorted(timings[1:])
    label = f"POST {url} ({items} items)"
    print(f"{label:48} first {first:.1f} ms; again: median {statistics.median(rest):.1f}, p95 {rest[-1]:.1f}")
    _measure(client_with_token(app, headers), url)


def client_with_token(app, headers: dict):
    client = app.test_client()
    client.environ_base.update({"HTTP_AUTHORIZATION": headers["Authorization"]})
    return client


def _signed_in(app, login: str):
    from itsdangerous import URLSafeTimedSerializer

    client = app.test_client()
    with client.session_transaction() as sess:
        sess["csrf_token"] = "bench"
    token = URLSafeTimedSerializer(app.secret_key, salt="wtf-csrf-token").dumps("bench")
    response = client.post("/login", data={"login_name": login, "password": "Bench#2026ok", "csrf_token": token})
    assert response.status_code in (302, 303), (login, response.status_code)
    return client


def _measure(client, page: str, rounds: int = 60) -> None:
    timings = []
    for _ in range(rounds):
        start = time.perf_counter()
        response = client.get(page)
        timings.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (page, response.status_code)
    timings.sort()
    print(f"{page:48} {statistics.median(timings):10.1f} {timings[int(len(timings) * 0.95)]:8.1f}")


if __name__ == "__main__":
    main()
