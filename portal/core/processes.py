"""Long-running processes that outlive Redis outages: the cron scheduler, the worker, and `cli.py run`'s children.

RQ's own loops give up on some Redis errors: the cron scheduler exits on the first one, and a
worker quits when one reaches its main loop (only its wait for jobs retries). Here each loop
catches the connection error, waits with exponential backoff and carries on where it stopped;
`Supervisor` restarts a child process that exits anyway.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import redis
from rq import Worker
from rq.cron import CronScheduler
from rq.exceptions import StopRequested

log = logging.getLogger("portal.processes")

REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


@dataclass
class Backoff:
    """1, 2, 4 ... seconds up to `ceiling`; back to the start after a success."""

    first: float = 1.0
    ceiling: float = 30.0
    current: float = field(default=0.0, init=False)

    def next(self) -> float:
        self.current = self.first if not self.current else min(self.current * 2, self.ceiling)
        return self.current

    def reset(self) -> None:
        self.current = 0.0


class _Stop:
    """A stop request from SIGINT/SIGTERM, seen by loops that sleep in small steps."""

    def __init__(self) -> None:
        self.requested = False

    def request(self, signum=None, frame=None) -> None:
        self.requested = True

    def install(self) -> None:
        signal.signal(signal.SIGINT, self.request)
        signal.signal(signal.SIGTERM, self.request)

    def sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.requested and time.monotonic() < deadline:
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))


class ResilientCronScheduler(CronScheduler):
    """RQ's cron scheduler, reconnecting with backoff instead of exiting when Redis goes away.

    A job whose enqueue failed keeps its due time (RQ sets it only after a successful enqueue), so it
    is enqueued as soon as Redis answers again; so is the registration of the scheduler itself.
    """

    def start(self) -> None:
        self.log.info("CronScheduler %s: starting...", self.name)
        self._install_signal_handlers()
        backoff = Backoff()
        registered = False
        try:
            while True:
                try:
                    if not registered:
                        self.register_birth()
                        registered = True
                    if self.enqueue_jobs():
                        self.save()
                    self.heartbeat()
                except REDIS_DOWN as exc:
                    delay = backoff.next()
                    log.warning("定时调度：无法连接 Redis（%s），%.0f 秒后重试", exc, delay)
                    registered = False
                    time.sleep(delay)
                    continue
                if backoff.current:
                    log.warning("定时调度：Redis 已恢复，继续运行")
                backoff.reset()
                sleep_time = self.calculate_sleep_interval()
                if sleep_time > 0:
                    time.sleep(sleep_time)
        except KeyboardInterrupt:
            self.log.info("CronScheduler %s: received KeyboardInterrupt", self.name)
        except StopRequested:
            self.log.info("CronScheduler %s: stop requested", self.name)
        finally:
            with contextlib.suppress(REDIS_DOWN):
                self.register_death()
            self.log.info("CronScheduler %s: shutdown complete", self.name)


class _StoppableWorker(Worker):
    """A worker whose stop request is remembered across restarts and survives Redis being down."""

    stop: _Stop

    def request_stop(self, signum, frame):
        self.stop.request()
        try:
            super().request_stop(signum, frame)
        except REDIS_DOWN:  # asking Redis whether a job is running failed: just stop
            raise StopRequested() from None

    def teardown(self):
        try:
            super().teardown()
        except REDIS_DOWN:
            log.warning("后台任务进程：退出时无法连接 Redis，未注销")


def run_worker(make_queues: Callable[[], Sequence], burst: bool = False, with_scheduler: bool = True) -> None:
    """Run an RQ worker until stopped; when Redis goes away, wait with backoff and start it again."""
    stop = _Stop()
    backoff = Backoff()
    while not stop.requested:
        started = time.monotonic()
        try:
            queues = make_queues()
            worker = _StoppableWorker(queues, connection=queues[0].connection)  # asks Redis for its address
            worker.stop = stop
            worker.work(with_scheduler=with_scheduler, burst=burst)
            if burst or stop.requested:
                return
            reason = "工作循环已退出"
        except REDIS_DOWN as exc:
            reason = f"无法连接 Redis（{exc}）"
        except StopRequested:
            return
        if time.monotonic() - started > 60:
            backoff.reset()
        delay = backoff.next()
        log.warning("后台任务进程：%s，%.0f 秒后重新连接", reason, delay)
        stop.install()  # between two workers: a signal only asks to stop
        stop.sleep(delay)


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    backoff: Backoff = field(default_factory=lambda: Backoff(1.0, 60.0))
    restart_at: float = 0.0


class Supervisor:
    """Start child processes, restart one that exits (with backoff, logged), stop all of them on request.

    Children run in their own process group: Ctrl-C in the terminal reaches only the supervisor, which
    then stops them in order (SIGTERM, then SIGKILL after `grace` seconds).
    """

    def __init__(self, children: dict[str, list[str]], *, env: dict | None = None, poll: float = 0.5,
                 grace: float = 10.0) -> None:
        self.children = [Child(name, argv) for name, argv in children.items()]
        self.env = env
        self.poll = poll
        self.grace = grace
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def _spawn(self, child: Child) -> None:
        child.process = subprocess.Popen(child.argv, env=self.env, process_group=0)
        child.started_at = time.monotonic()
        log.info("已启动 %s（进程 %s）", child.name, child.process.pid)

    def start(self) -> None:
        for child in self.children:
            self._spawn(child)
        self._thread = threading.Thread(target=self._watch, name="portal-supervisor", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stopping.wait(self.poll):
            now = time.monotonic()
            for child in self.children:
                if child.process is None:
                    if now >= child.restart_at and not self._stopping.is_set():
                        self._spawn(child)
                    continue
                code = child.process.poll()
                if code is None:
                    continue
                if now - child.started_at > 60:
                    child.backoff.reset()
                delay = child.backoff.next()
                log.warning("%s 已退出（返回码 %s），%.0f 秒后重启", child.name, code, delay)
                child.process, child.restart_at = None, now + delay

    def pids(self) -> dict[str, int | None]:
        return {child.name: child.process.pid if child.process else None for child in self.children}

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        running = [c for c in self.children if c.process is not None and c.process.poll() is None]
        for child in running:
            child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        for child in running:
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s 未在 %.0f 秒内退出，强制结束", child.name, self.grace)
                child.process.kill()
                child.process.wait(timeout=5)
        log.info("已停止全部子进程（%s）", ", ".join(c.name for c in self.children) or "无")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
