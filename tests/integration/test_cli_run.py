"""`cli.py run` in the embedded mode: it looks after its worker and cron, and leaves nothing running on exit."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from portal.config import ROOT
from portal.core.redis_conn import embedded_redis_url, stop_embedded_redis


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process on the machine."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        found[int(entry.name)] = (ppid, cmdline)
    return found


def children_of(pid: int) -> dict[str, int]:
    """The portal's worker and cron processes started by `pid`, by command."""
    return {cmd.split()[-1]: child for child, (ppid, cmd) in processes().items()
            if ppid == pid and "cli.py" in cmd and cmd.split()[-1] in ("worker", "cron")}


def redis_servers(socket_path: Path) -> list[int]:
    return [pid for pid, (_, cmd) in processes().items() if "redis-server" in cmd and str(socket_path) in cmd]


def wait_for(condition, seconds: float, message: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(message)


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture
def embedded(tmp_path):
    instance = tmp_path / "instance"
    env = {**os.environ, "PORTAL_INSTANCE": str(instance), "DATABASE_URL": f"sqlite:///{instance}/portal.db",
           "PYTHONPATH": str(ROOT)}
    env.pop("REDIS_URL", None)
    subprocess.run([sys.executable, str(ROOT / "cli.py"), "upgrade"], env=env, check=True, capture_output=True,
                   timeout=120)
    yield env, instance
    stop_embedded_redis(str(instance))


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_run_restarts_its_children_and_stops_everything_with_the_embedded_redis(embedded, stop_signal):
    env, instance = embedded
    socket_path = instance / "redis.sock"
    # A stale embedded Redis from an earlier run that did not stop it: reused, then stopped with this run.
    embedded_redis_url(str(instance))
    stale = redis_servers(socket_path)
    assert len(stale) == 1
    port = free_port()
    with (instance.parent / "run.log").open("wb") as log:
        run = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "run", "--port", str(port)], env=env,
                               stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: answers(f"http://127.0.0.1:{port}/healthz"), 60, "the portal did not start")
            first = wait_for(lambda: (c := children_of(run.pid)).keys() == {"worker", "cron"} and c, 60,
                             "worker and cron did not start")
            assert redis_servers(socket_path) == stale  # reused, not a second one

            os.kill(first["cron"], signal.SIGKILL)  # the cron dies (as if killed by the OOM killer)
            again = wait_for(lambda: (c := children_of(run.pid)).get("cron") not in (None, first["cron"]) and c,
                             30, "the cron was not restarted")
            assert again["worker"] == first["worker"]

            run.send_signal(stop_signal)
            assert run.wait(timeout=40) == 0
        finally:
            if run.poll() is None:
                run.kill()
                run.wait()
    output = (instance.parent / "run.log").read_text(errors="replace")
    assert "cron 已退出" in output and "重启" in output
    assert "门户已停止" in output
    wait_for(lambda: not redis_servers(socket_path), 10, "the embedded redis-server is still running")
    wait_for(lambda: not any(pid in processes() for pid in (*first.values(), *again.values())), 10,
             "a worker or cron process is still running")
    assert not socket_path.exists()


def test_a_stale_embedded_redis_that_does_not_answer_is_replaced(tmp_path):
    instance = tmp_path / "instance"
    embedded_redis_url(str(instance))
    [old] = redis_servers(instance / "redis.sock")
    os.kill(old, signal.SIGSTOP)  # alive, but it answers nobody
    try:
        embedded_redis_url(str(instance))
        assert redis_servers(instance / "redis.sock") != [old]
        assert old not in processes() or processes()[old][1] == ""  # gone (or a zombie being reaped)
    finally:
        if old in processes():
            os.kill(old, signal.SIGKILL)
        stop_embedded_redis(str(instance))
