"""The privilege check alone: gunicorn as deployed, the credentials load's check requests at offered rates, with
the workers' CPU per request and the statements each call sends (docs/performance.md, 授权校验接口).

    python -m bench.api_check --database htok_bench --rates 100,200 --seconds 30

The database must be loaded already (cli.py upgrade && cli.py seed-bench --scale medium on it); a token of
the benchmark client is added. Statements are counted in this process with the app's test client (warm caches,
the same hooks as a served request), CPU from the gunicorn workers' own counters.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import sys
from collections import defaultdict

import psutil

from . import openloop
from .harness import gunicorn, settings


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _workers_cpu(proc) -> float:
    total = 0.0
    for child in psutil.Process(proc.pid).children(recursive=True):
        try:
            times = child.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def _requests(app):
    from portal.core.timeutil import local_today

    from .load import LoadContext, bench_token
    from .load_credentials import load

    ctx = LoadContext(app, defaultdict(lambda: ("", "", [])), local_today(), bench_token)
    with app.app_context():
        calls = load(ctx).api
    return next(call.requests for call in calls if call.name == "privilege check")


def _statements(app, requests, calls: int = 200) -> dict:
    """Statements sent per call (by first keyword: a BEGIN or COMMIT would show) over `calls` warm calls."""
    from sqlalchemy import event

    engine = app.extensions["db.engine"]
    seen: list[str] = []
    client = app.test_client()
    for r in requests:  # warm the caches (a person's privileges are read at their first check)
        client.get(r.path, headers=dict(r.headers))

    def record(conn, cursor, statement, params, context, executemany):
        seen.append(statement.strip().split()[0].upper())

    event.listen(engine, "before_cursor_execute", record)
    try:
        for n in range(calls):
            r = requests[n % len(requests)]
            assert client.get(r.path, headers=dict(r.headers)).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return {"statements_per_call": round(len(seen) / calls, 2),
            "kinds": {k: seen.count(k) for k in sorted(set(seen))}}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--rates", default="100,200")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--port", type=int, default=0, help="gunicorn's port (default: any free one)")
    parser.add_argument("--queue", default="", help="PORTAL_RQ_QUEUE (default: the benchmark's): where the call "
                                                   "log and the denials wait in Redis")
    parser.add_argument("--cold", action="store_true",
                        help="no warm-up: measure from fresh workers, as `make bench` does after its restart")
    args = parser.parse_args(argv)
    env = settings(args)
    if args.queue:
        env["PORTAL_RQ_QUEUE"] = args.queue
    os.environ.update(env)
    from portal import create_app

    app = create_app()
    requests = _requests(app)
    random.Random(1).shuffle(requests)
    result = {"statements": _statements(app, requests)}
    app.extensions["db.engine"].dispose()
    port = args.port or _free_port()
    with gunicorn(env, port, args.workers) as proc:
        if not args.cold:
            openloop.run("127.0.0.1", port, requests, 50, 5)  # warm every worker's caches
        for rate in (int(r) for r in args.rates.split(",")):
            before = _workers_cpu(proc)
            run = openloop.run("127.0.0.1", port, requests, rate, args.seconds)
            used = _workers_cpu(proc) - before
            run["worker_cpu_ms_per_request"] = round(1000 * used / max(run["answered"], 1), 2)
            run.pop("by_kind", None)
            result[f"rate_{rate}"] = run
    json.dump(result, sys.stdout, ensure_ascii=False, indent=1)
    print()
    return result


if __name__ == "__main__":
    main()
