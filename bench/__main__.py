"""Run the benchmarks: python -m bench (make bench). Prints milliseconds per request of list pages."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from portal import create_app
from portal.config import TestConfig
from portal.core import migrate
from portal.core.redis_conn import stop_embedded_redis
from portal.extensions import db

from .generate import generate

PAGES = ["/", "/admin/users", "/admin/users?q=u01&sort=-name", "/admin/staff?page=20", "/audit/?page=3",
         "/approvals/todo"]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        migrate.upgrade(url)
        app = create_app(TestConfig, DATABASE_URL=url, REDIS_URL="", INSTANCE_PATH=tmp,
                         PASSWORD_HASH_METHOD="scrypt:1024:8:1")
        with app.app_context():
            sizes = generate()
            from portal.auth import services
            from portal.auth.seed import ensure_roles

            admin = services.create_user(login_name="benchadmin", password="Bench#2026ok", staff_id=None,
                                         wecom_userid=None, role_ids=[r.id for r in ensure_roles().values()])
            admin.must_change_password = False
            db.session.commit()
        client = app.test_client()
        with client.session_transaction() as sess:
            sess["csrf_token"] = "bench"
        from itsdangerous import URLSafeTimedSerializer

        token = URLSafeTimedSerializer(app.secret_key, salt="wtf-csrf-token").dumps("bench")
        client.post("/login", data={"login_name": "benchadmin", "password": "Bench#2026ok", "csrf_token": token})
        print(f"data: {sizes}")
        print(f"{'page':40} {'median ms':>10} {'p95 ms':>8}")
        for page in PAGES:
            timings = []
            for _ in range(60):
                start = time.perf_counter()
                response = client.get(page)
                timings.append((time.perf_counter() - start) * 1000)
                assert response.status_code == 200, (page, response.status_code)
            timings.sort()
            print(f"{page:40} {statistics.median(timings):10.1f} {timings[int(len(timings) * 0.95)]:8.1f}")
        stop_embedded_redis(tmp)


if __name__ == "__main__":
    main()
