"""The command line an operator uses: upgrade, seed-demo, create-admin, audit-verify, backup, restore,
rotate-data-key."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from contextlib import closing

import pytest

from portal.config import ROOT
from portal.core.redis_conn import stop_embedded_redis


@pytest.fixture
def cli_env(tmp_path):
    # The embedded mode (SQLite + embedded Redis) whatever back end the rest of the suite runs on.
    instance = tmp_path / "instance"
    env = {**os.environ, "PORTAL_INSTANCE": str(instance), "DATABASE_URL": f"sqlite:///{instance}/portal.db",
           "PYTHONPATH": str(ROOT)}
    env.pop("REDIS_URL", None)
    yield env, instance
    stop_embedded_redis(str(instance))


def run(env, *args, check=True):
    result = subprocess.run([sys.executable, str(ROOT / "cli.py"), *args], env=env, capture_output=True, text=True,
                            timeout=120)
    if check:
        assert result.returncode == 0, result.stderr[-2000:]
    return result


def test_operator_commands_from_install_to_restore(cli_env, tmp_path):
    env, instance = cli_env
    assert "upgrade" in run(env, "--help").stdout
    run(env, "upgrade")
    seeded = run(env, "seed-demo").stdout
    assert "admin /" in seeded
    assert "已有数据" in run(env, "seed-demo").stdout  # safe to call again
    with closing(sqlite3.connect(instance / "portal.db")) as conn:  # medical-affairs projects in every state
        assert {r[0] for r in conn.execute("SELECT status FROM projects")} == {"draft", "published", "closed"}
        assert {r[0] for r in conn.execute("SELECT status FROM project_items")} == {
            "pending", "uploaded", "submitted", "passed", "returned"}
        assert conn.execute("SELECT count(DISTINCT content_type) FROM project_template_versions").fetchone()[0] == 4
        # Case management has weeks of service history: the ledger, the monthly report and the indicators show it.
        days, entries, done_late = conn.execute(
            "SELECT count(DISTINCT service_date), count(*), sum(service_date > date(t.due_date)) FROM ledger_entries e "
            "JOIN care_tasks t ON t.id = e.task_id").fetchone()
        assert days >= 10 and entries >= 30 and done_late == 0
        assert conn.execute("SELECT count(*) FROM care_tasks WHERE status = 'open' AND due_date < date('now', '-2 day')"
                            ).fetchone()[0] > 0  # some left overdue, as on a ward
    admin = run(env, "create-admin", "--login", "ops").stdout
    assert "ops" in admin and "首次登录须修改" in admin
    assert "日志链完整" in run(env, "audit-verify").stdout

    archive = tmp_path / "backup.tar.gz"
    run(env, "backup", "--output", str(archive))
    db = instance / "portal.db"
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("DELETE FROM user_roles")
    run(env, "restore", str(archive), "--yes")
    with closing(sqlite3.connect(db)) as conn, conn:
        assert conn.execute("SELECT count(*) FROM user_roles").fetchone()[0] > 0

    anchored = run(env, "audit-anchor").stdout
    assert "已记录锚点" in anchored and (instance / "audit_anchors.jsonl").exists()
    with closing(sqlite3.connect(db)) as conn, conn:  # cut the tail behind the application's back
        last = conn.execute("SELECT max(id) FROM audit_logs").fetchone()[0]
        conn.execute("DROP TRIGGER audit_logs_no_delete")
        conn.execute("DELETE FROM audit_logs WHERE id = ?", (last,))
    cut = run(env, "audit-verify", check=False)
    assert cut.returncode == 1 and f"第 {last} 号记录处断开" in cut.stdout and "末尾记录缺失" in cut.stdout
    # Restoring a backup older than the anchors sets them aside (kept) rather than reporting a false break.
    assert "审计锚点文件已移到" in run(env, "restore", str(archive), "--yes").stdout
    assert "日志链完整" in run(env, "audit-verify").stdout
    assert list(instance.glob("audit_anchors.jsonl.before-restore-*"))

    # Rotating the data key: refused until the former key and the audit chain's key are named, then done.
    old_key = (instance / "data_key").read_text().strip()
    refused = run({**env, "PORTAL_DATA_KEY": "new-data-key-2026"}, "rotate-data-key", check=False)
    assert refused.returncode == 1 and "PORTAL_DATA_KEY_PREVIOUS" in refused.stderr
    rotating = {**env, "PORTAL_DATA_KEY": "new-data-key-2026", "PORTAL_DATA_KEY_PREVIOUS": old_key}
    refused = run(rotating, "rotate-data-key", check=False)
    assert refused.returncode == 1 and "PORTAL_AUDIT_KEY" in refused.stderr
    rotated = run({**rotating, "PORTAL_AUDIT_KEY": old_key}, "rotate-data-key").stdout
    assert "数据密钥轮换完成" in rotated and "patients" in rotated
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT count(*) FROM patients").fetchone()[0] > 0
    after = {**env, "PORTAL_DATA_KEY": "new-data-key-2026", "PORTAL_AUDIT_KEY": old_key}
    assert "日志链完整" in run(after, "audit-verify").stdout

    with closing(sqlite3.connect(db)) as conn, conn:  # tamper behind the application's back
        conn.execute("DROP TRIGGER audit_logs_no_update")
        conn.execute("UPDATE audit_logs SET user_name = 'x' WHERE id = 3")
    broken = run(env, "audit-verify", check=False)
    assert broken.returncode == 1 and "第 3 号记录" in broken.stdout
