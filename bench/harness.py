"""The load benchmark over HTTP: gunicorn + PostgreSQL + Redis on the generated hospital (make bench).

    python -m bench                      # full run: loads portal_bench (hospital scale), then measures
    python -m bench --quick              # minutes: shorter runs (make bench QUICK=1)
    python -m bench --reuse              # measure an already loaded portal_bench
    python -m bench --scale medium       # a smaller data set (say so when quoting the figures)

What it measures, all in one run so every figure reads beside the bare endpoint's:
  1. /bench/bare (PORTAL_BENCH=1: the same app and middleware, no template, no database), closed loop (wrk);
  2. each page of the mix alone (closed loop), the mix's saturation (closed loop) and P50/P95/P99 at an
     offered 100, 200, 300 requests/s (open loop, bench/openloop.py);
  3. each report and dashboard over the longest period a report allows and over one month: one request,
     P95 with 10 concurrent users, beside its query run directly (the floor);
  4. the plan API at an offered 200 requests/s;
  5. Excel import of 100k rows (rows/s, beside openpyxl alone reading the file) and export of 100k rows
     (seconds, peak memory, also at 20k rows: memory should not grow with the rows);
  6. the 17:05 build of tomorrow's lists (the generated plan and every patient), rolled back afterwards;
and the web workers' resident memory after the run. Results: bench/results/<timestamp>.json, a markdown
table printed and written into docs/performance.md between marker comments.

The shared PostgreSQL and Redis are never stopped or flushed: the database is our own (portal_bench,
dropped and recreated unless --reuse), Redis keys live under the queue name portal-bench.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path

from . import openloop

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
DATABASE = "portal_bench"
PASSWORD = "Bench#2026ok"
MARK_BEGIN, MARK_END = "<!-- bench:begin -->", "<!-- bench:end -->"


def settings(args) -> dict[str, str]:
    """The environment of every process of the run: fixed keys, so a --reuse run reads the same data."""
    from sqlalchemy.engine import make_url

    url = make_url(args.admin_url).set(drivername="postgresql+psycopg", database=args.database)
    instance = ROOT / "instance" / ("bench" if args.database == DATABASE else args.database)
    instance.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update({"DATABASE_URL": url.render_as_string(hide_password=False), "REDIS_URL": args.redis_url,
                "PORTAL_RQ_QUEUE": "portal-bench", "PORTAL_INSTANCE": str(instance),
                "SECRET_KEY": "portal-bench-secret-key", "PORTAL_DATA_KEY": "portal-bench-data-key",
                "PORTAL_AUDIT_ANCHOR_PATH": str(instance / "audit_anchors.jsonl"), "PORTAL_BENCH": "1",
                "PORTAL_COOKIE_SECURE": "0"})
    return env


# --------------------------------------------------------------------------------------------- processes

@contextmanager
def gunicorn(env: dict, port: int, workers: int, timeout: float = 60, threads: int = 1):
    """gunicorn as docs/deploy.md runs it on 2 cores (-w 4, sync workers), in its own process group."""
    log = open(Path(env["PORTAL_INSTANCE"]) / "gunicorn.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen([str(Path(PY).parent / "gunicorn"), "-w", str(workers), "--threads", str(threads),
                             "-b", f"127.0.0.1:{port}", "--timeout", "60", "--graceful-timeout", "5", "wsgi:app"],
                            cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({proc.returncode}); see instance/bench/gunicorn.log")
            try:
                if _get(port, "/bench/bare")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not answer in time")
            time.sleep(0.3)
        yield proc
    finally:
        _kill_group(proc)
        log.close()


class Server:
    """gunicorn, restartable; remembers its workers' resident memory at each stop."""

    def __init__(self, env: dict, port: int, workers: int, threads: int = 1):
        self.env, self.port, self.workers, self.threads = env, port, workers, threads
        self._context = None
        self.proc: subprocess.Popen | None = None
        self.samples: list[float] = []

    def start(self) -> None:
        self._context = gunicorn(self.env, self.port, self.workers, threads=self.threads)
        self.proc = self._context.__enter__()

    def rss(self) -> list[float]:
        return worker_rss_mb(self.proc) if self.proc else []

    def stop(self) -> None:
        if self._context is not None:
            self.samples.extend(self.rss())
            context, self._context, self.proc = self._context, None, None
            context.__exit__(None, None, None)

    def restart(self) -> None:
        self.stop()
        self.start()


def _kill_group(proc: subprocess.Popen, grace: float = 10) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def worker_rss_mb(master: subprocess.Popen) -> list[float]:
    """Resident memory of each gunicorn worker (children of the master)."""
    out = []
    for pid_dir in Path("/proc").iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            status = (pid_dir / "status").read_text()
        except OSError:
            continue
        if re.search(rf"^PPid:\s+{master.pid}$", status, re.M):
            rss = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
            if rss:
                out.append(round(int(rss.group(1)) / 1024, 1))
    return sorted(out)


def run_bounded(cmd: list[str], env: dict, timeout: float, **kwargs) -> subprocess.CompletedProcess:
    """A child process in its own group, killed with its children when it overruns."""
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, **kwargs)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc, 2)
        raise
    finally:
        _kill_group(proc, 2)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, "")


# --------------------------------------------------------------------------------------------- HTTP

def _get(port: int, path: str, cookie: str = "", headers: dict | None = None) -> tuple[int, bytes, dict]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("GET", path, headers={**({"Cookie": cookie} if cookie else {}), **(headers or {})})
        response = conn.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        conn.close()


def settle(port: int, limit: float = 45) -> float:
    """Wait until the server has worked off what an earlier run left queued (sync workers finish requests
    whose clients have gone): a bare request answering at once means the queue is empty. Returns seconds."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        asked = time.monotonic()
        with suppress(OSError):
            _get(port, "/bench/bare")
        if time.monotonic() - asked < 0.3:
            break
    return round(time.monotonic() - started, 1)


def sign_in(port: int, login: str) -> tuple[str, str]:
    """The session cookie and CSRF token of a signed-in bench account (once per user, reused by every request)."""
    import httpx

    with httpx.Client(base_url=f"http://127.0.0.1:{port}", follow_redirects=False, timeout=60) as client:
        page = client.get("/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        response = client.post("/login", data={"login_name": login, "password": PASSWORD, "csrf_token": token})
        if response.status_code not in (302, 303):
            raise RuntimeError(f"{login} could not sign in: {response.status_code}")
        home = client.get("/").text  # the page's CSRF token is kept in the session: take the cookie after it
        csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', home).group(1)
        return "; ".join(f"{k}={v}" for k, v in client.cookies.items()), csrf


def panels_of(port: int, cookie: str) -> list[str]:
    _, body, _ = _get(port, "/", cookie)
    return sorted(set(re.findall(r'hx-get="(/panels/[^"]+)"', body.decode())))


def wrk(port: int, requests: list[openloop.Request], seconds: float, connections: int) -> dict:
    """Closed loop: `connections` users sending back to back, cycling through the requests."""
    entries = []
    for r in requests:
        headers = {"Cookie": r.cookie} if r.cookie else {}
        headers.update(dict(r.headers))
        lua_headers = ", ".join(f'["{k}"] = {json.dumps(v)}' for k, v in headers.items())
        entries.append(f'{{{json.dumps(r.method)}, {json.dumps(r.path)}, {{{lua_headers}}}, '
                       f'{json.dumps(r.body.decode()) if r.body else "nil"}}}')
    script = ("local reqs = {\n" + ",\n".join(entries) + "\n}\n" + """
local i = 0
function setup(thread) thread:set("offset", math.random(#reqs)) end
function init(args) i = offset or 0 end
function request()
  i = i % #reqs + 1
  local r = reqs[i]
  return wrk.format(r[1], r[2], r[3], r[4])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50":%d,"p95":%d,"p99":%d,"max":%d}\\n', summary.requests, summary.duration,
    e.connect, e.read, e.write, e.status, e.timeout, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max))
end
""")
    settle(port)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        cmd = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "30s",
               "-s", handle.name, f"http://127.0.0.1:{port}"]
        started = time.perf_counter()
        proc = run_bounded(cmd, os.environ.copy(), timeout=seconds + 60)
        wall = time.perf_counter() - started
    finally:
        os.unlink(handle.name)
    found = re.search(r"WRKJSON (\{.*\})", proc.stdout)
    if not found:
        raise RuntimeError(f"wrk failed: {proc.stdout[-500:]}")
    raw = json.loads(found.group(1))
    seconds_run = raw["duration_us"] / 1e6
    errors = raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
    return {"rps": round(raw["requests"] / seconds_run, 1), "requests": raw["requests"],
            "non_2xx_3xx": raw["status"], "socket_errors": errors, "p50_ms": raw["p50"] / 1000,
            "p95_ms": raw["p95"] / 1000, "p99_ms": raw["p99"] / 1000, "connections": connections,
            "seconds": round(seconds_run, 1), "wall": round(wall, 1)}


# --------------------------------------------------------------------------------------------- the app, in-process

def warm(port: int, requests: list[openloop.Request], seconds: float = 1) -> None:
    """Unmeasured requests first, so that a figure is the steady state: each worker has prepared its statements
    and built what it keeps per generation (a first request after a restart is the reports' "one request")."""
    wrk(port, requests, seconds, 4)


def app_for(env: dict):
    """The portal on portal_bench inside this process (for the direct SQL, the token, the build)."""
    os.environ.update({k: v for k, v in env.items() if k.startswith(("PORTAL_", "DATABASE_URL", "REDIS_URL",
                                                                       "SECRET_KEY"))})
    from portal import create_app

    return create_app(DATABASE_URL=env["DATABASE_URL"], REDIS_URL=env["REDIS_URL"], RQ_QUEUE="portal-bench")


def workload(app, sessions: dict) -> tuple[list, list]:
    """The pages of the mix and the API calls, as every installed domain declares them (``bench_load``)."""
    from portal.core.timeutil import local_today

    from .load import LoadContext, bench_token, collect

    def token(name: str, login: str, scopes: list[str]) -> str:
        with app.app_context():
            return bench_token(name, login, scopes)

    total = collect(LoadContext(app, sessions, local_today(), token))
    return [page for page in total.pages if page.requests], total.api


# The most requests a second a closed-loop run of the mix is expected to reach here: its list is made this long
# per second of the run, so it is sent through about once and a request that changes data is not repeated.
MIX_CEILING = 400


def mix(pages: list, n: int = 2000, seed: int = 5) -> list[openloop.Request]:
    """n requests drawn by weight; a page that changes data takes each of its requests once before any twice
    (size n to the run: the load tools start over at the end of the list)."""
    rng = random.Random(seed)
    picks = rng.choices(pages, weights=[page.weight for page in pages], k=n)
    cursor = {page.name: 0 for page in pages}
    out = []
    for page in picks:
        choices = page.requests
        out.append(choices[cursor[page.name] % len(choices)] if page.in_mix_only else rng.choice(choices))
        cursor[page.name] += 1
    return out


def report_cases(app) -> list[tuple[str, str, str, object]]:
    """(name, period, url, direct SQL callable) for each registered report and the two dashboards."""
    from portal.core import domains
    from portal.core.timeutil import local_today
    from portal.extensions import db
    from portal.reports import engine, registry
    from portal.reports.params import Params, max_years

    with app.app_context():
        domains.load()
        today = local_today()
        month = today.replace(day=1)
        last_month = (month - timedelta(days=1)).replace(day=1)
        cases = []
        for report in registry.all_reports():
            # The longest range a report accepts, in whole months up to the end of last month.
            longest = month.replace(year=month.year - max_years(report))
            for period, query, start, end in (
                    ("longest", f"date_from={longest}&date_to={month - timedelta(days=1)}", longest,
                     month - timedelta(days=1)),
                    ("month", f"month={last_month:%Y-%m}", last_month, month - timedelta(days=1))):
                params = Params(start, end, None, None, {f.name: "" for f in report.filters})

                def direct(report=report, params=params):
                    stmt = engine.statement(report, params, None)
                    return len(db.session.execute(stmt).all())

                cases.append((report.code, period, f"/reports/{report.code}?{query}", direct))
        cases.append(("casemgmt KPIs", "month", f"/casemgmt/kpis?month={last_month:%Y-%m}", None))
        cases.append(("casemgmt ledger report", "month", "/casemgmt/ledger/report", None))
    return cases


def measure_reports(port: int, app, cookie: str, quick: bool) -> list[dict]:
    """Each report alone first (one request on an idle server, then its query alone), then with 10 users."""
    from portal.extensions import db

    rows = []
    cases = report_cases(app)
    for name, period, url, direct in cases:
        settle(port)
        started = time.perf_counter()
        status, _, _ = _get(port, url, cookie)
        single = (time.perf_counter() - started) * 1000
        sql_ms = None
        if direct is not None:
            with app.app_context():
                started = time.perf_counter()
                direct()
                sql_ms = round((time.perf_counter() - started) * 1000, 1)
                db.session.remove()
        rows.append({"report": name, "period": period, "status": status, "single_ms": round(single, 1),
                     "direct_sql_ms": sql_ms, "url": url})
    for row in rows:
        concurrent = (wrk(port, [openloop.Request(row["report"], row["url"], cookie)], 5 if quick else 20, 10)
                      if row["status"] == 200 else {})
        row.update(p95_10_users_ms=concurrent.get("p95_ms"), rps_10_users=concurrent.get("rps"))
        print(f"  {row['report']:32} {row['period']:8} {row['status']} one {row['single_ms']:8.1f} ms  "
              f"P95(10) {row['p95_10_users_ms']} ms  SQL {row['direct_sql_ms']} ms", flush=True)
    return rows


def api_call(port: int, call, seconds: float) -> dict:
    """One declared API call alone, open loop at its rate (after its warm-up requests, and 3 s of the call at its
    rate unmeasured: each worker of the fresh server has loaded what it keeps)."""
    first = [openloop.run("127.0.0.1", port, [request], 1, 1.5) for request in call.warmup]
    openloop.run("127.0.0.1", port, call.requests, call.rate, 3, seed=3)
    result = openloop.run("127.0.0.1", port, call.requests, call.rate, seconds, seed=9)
    result.update(name=call.name, rate=call.rate, p99_target_ms=call.p99_target_ms, first=first)
    return result


def build_seconds(app) -> dict:
    """The 17:05 build for tomorrow, on a transaction rolled back afterwards (the data stays reusable)."""
    from portal.casemgmt.tasks.services import build_daily_tasks
    from portal.core.timeutil import local_today
    from portal.extensions import db

    with app.app_context():
        started = time.perf_counter()
        result = build_daily_tasks(local_today() + timedelta(days=1))
        db.session.flush()
        seconds = time.perf_counter() - started
        db.session.rollback()
        return {"seconds": round(seconds, 2), "created": result.created, "updated": result.updated,
                "carried_over": result.carried_over, "unassigned": result.unassigned}


EXPORT_SNIPPET = """
import json, sys, time
from bench.harness import app_for
import os
app = app_for(dict(os.environ))
from flask_login import login_user
from sqlalchemy import select
from portal.auth.models import User
from portal.extensions import db
from portal.io.export import EXPORTS, write_export
rows = int(sys.argv[1])
with app.test_request_context("/casemgmt/ledger/export"):
    user = db.session.scalar(select(User).where(User.login_name == "bsup"))
    login_user(user)
    spec = EXPORTS["ledger_entry"].build(user, {})
    import dataclasses
    spec = dataclasses.replace(spec, stmt=spec.stmt.limit(rows))
    from portal.io.export import count_rows
    rows = count_rows(spec.stmt)
    def status(field):
        text = open("/proc/self/status").read()
        return int(text.split(field + ":")[1].split()[0])
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")  # resets the peak (VmHWM) to the current resident size
    before = status("VmRSS")
    started = time.perf_counter()
    content = write_export(spec)
    seconds = time.perf_counter() - started
    peak = status("VmHWM")
    db.session.commit()
print("EXPORTJSON " + json.dumps({"rows": rows, "seconds": round(seconds, 2), "bytes": len(content),
                                  "rss_before_mb": round(before / 1024, 1), "peak_rss_mb": round(peak / 1024, 1)}))
"""


def export_runs(env: dict, sizes: tuple[int, ...]) -> list[dict]:
    out = []
    for rows in sizes:
        proc = run_bounded([PY, "-c", EXPORT_SNIPPET, str(rows)], env, timeout=900)
        found = re.search(r"EXPORTJSON (\{.*\})", proc.stdout)
        out.append(json.loads(found.group(1)) if found else {"rows": rows, "error": proc.stdout[-400:]})
        print(f"  export {rows:,} rows: {out[-1]}", flush=True)
    return out


IMPORT_SNIPPET = """
import io, json, resource, sys, time
from openpyxl import load_workbook
from bench.imports import measure, workbook
rows = int(sys.argv[2])
content = workbook(rows)
started = time.perf_counter()
wb = load_workbook(io.BytesIO(content), read_only=True)
n = sum(1 for _ in wb.active.iter_rows(values_only=True))
read = time.perf_counter() - started
rates = measure(sys.argv[1], rows)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print("IMPORTJSON " + json.dumps({"rows": rows, "file_bytes": len(content), "openpyxl_read_rows_per_s": round(n / read),
                                  "rates": {k: round(v) for k, v in rates.items()},
                                  "peak_rss_mb": round(peak / 1024, 1)}))
"""


def import_run(env: dict, admin_url: str, rows: int) -> dict:
    proc = run_bounded([PY, "-c", IMPORT_SNIPPET, admin_url, str(rows)], env, timeout=1800)
    found = re.search(r"IMPORTJSON (\{.*\})", proc.stdout)
    result = json.loads(found.group(1)) if found else {"rows": rows, "error": proc.stdout[-600:]}
    print(f"  import {rows:,} rows: {result}", flush=True)
    return result


# --------------------------------------------------------------------------------------------- the run

def load(args, env: dict) -> dict:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(make_url(args.admin_url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            name = args.database
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar()
            if args.reuse:
                if not exists:
                    raise SystemExit(f"--reuse: database {name} does not exist; run without --reuse first")
                return {"reused": True}
            if exists:
                conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}" ENCODING \'UTF8\' TEMPLATE template0'))
    finally:
        admin.dispose()
    anchors = Path(env["PORTAL_AUDIT_ANCHOR_PATH"])
    anchors.unlink(missing_ok=True)  # anchors name records of the dropped database
    print(f"loading {args.database} at scale {args.scale} ...", flush=True)
    started = time.perf_counter()
    proc = run_bounded([PY, "cli.py", "seed-bench", "--scale", args.scale], env, timeout=3600)
    print(proc.stdout, flush=True)
    if proc.returncode:
        raise SystemExit("seed-bench failed")
    return {"reused": False, "seconds": round(time.perf_counter() - started, 1), "output": proc.stdout[-3000:]}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs (minutes)")
    parser.add_argument("--reuse", action="store_true", help=f"measure the already loaded {DATABASE}")
    parser.add_argument("--scale", default="hospital", choices=("small", "medium", "hospital"))
    parser.add_argument("--admin-url", default=os.environ.get("PORTAL_BENCH_PG",
                                                              "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--redis-url", default=os.environ.get("PORTAL_BENCH_REDIS", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--database", default=DATABASE, help="the benchmark's own database (dropped and recreated)")
    parser.add_argument("--port", type=int, default=8731)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn -w (docs/deploy.md: 2 x cores)")
    parser.add_argument("--threads", type=int, default=1, help="gunicorn --threads (1: sync workers)")
    parser.add_argument("--sweep", default="", metavar="WxT,...",
                        help="compare server settings only (e.g. 2x1,4x1,4x4,8x1): bare, mix saturation and "
                             "the mix at 200/s for each gunicorn -w W --threads T; needs --reuse")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite docs/performance.md")
    parser.add_argument("--label", default="", help="what this run measures (e.g. before, after)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that gunicorn is stopped on the way out
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: apt-get install -y wrk (make bench installs it)")
    quick = args.quick
    short, rates_seconds = (4, 15) if quick else (15, 60)
    env = settings(args)
    results: dict = {"started": datetime.now(UTC).isoformat(timespec="seconds"), "quick": quick,
                     "scale": args.scale, "label": args.label, "machine": machine(),
                     "command": "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:]),
                     "gunicorn": f"-w {args.workers} --threads {args.threads} (as docs/deploy.md)"}
    results["load"] = load(args, env)
    app = app_for(env)
    if args.sweep:
        return sweep(args, env, app, results, short, rates_seconds)
    results["counts"] = counts(app)
    server = Server(env, args.port, args.workers, args.threads)
    try:
        server.start()
        port = args.port
        print("signing in ...", flush=True)
        sessions = sign_in_all(port, app, quick)
        pages, api_calls = workload(app, sessions)
        bare = [openloop.Request("bare", "/bench/bare")]
        print("bare endpoint ...", flush=True)
        results["bare"] = wrk(port, bare, short * 2, 16)
        print(f"  {results['bare']}", flush=True)
        results["pages"] = {}
        for page in pages:
            if page.in_mix_only:
                continue  # it changes data: measured within the mix
            warm(port, page.requests)
            results["pages"][page.name] = wrk(port, page.requests, short, 8)
            print(f"  {page.name:24} {results['pages'][page.name]}", flush=True)
        results["bare_after_pages"] = wrk(port, bare, short, 16)
        requests = mix(pages, n=max(2000, MIX_CEILING * short * 2))
        reset(app, pages)
        warm(port, [r for page in pages if not page.in_mix_only for r in page.requests], 3)
        print("mix, closed loop ...", flush=True)
        results["mix_saturation"] = wrk(port, requests, short * 2, 16)
        print(f"  {results['mix_saturation']}", flush=True)
        results["mix_open"] = []
        for rate in (100, 200, 300):
            # A saturated server keeps serving requests whose clients gave up: a fresh server per rate,
            # so no rate inherits the queue the one before left behind.
            server.restart()
            warm(port, [r for page in pages if not page.in_mix_only for r in page.requests], 3)
            reset(app, pages)
            print(f"mix, open loop at {rate}/s ...", flush=True)
            outcome = openloop.run("127.0.0.1", port, mix(pages, n=max(2000, rate * rates_seconds), seed=rate),
                                   rate, rates_seconds, seed=rate)
            results["mix_open"].append(outcome)
            print(f"  {({k: v for k, v in outcome.items() if k != 'by_kind'})}", flush=True)
        server.restart()
        reset(app, pages)
        print("reports and dashboards ...", flush=True)
        # An account holding every role, so each domain's reports answer (each is scoped by its own permission).
        results["reports"] = measure_reports(port, app, sessions["benchadmin"][0], quick)
        results["api"] = []
        for call in api_calls:
            server.restart()
            print(f"{call.name} at {call.rate}/s ...", flush=True)
            results["api"].append(api_call(port, call, rates_seconds))
            print(f"  {({k: v for k, v in results['api'][-1].items() if k not in ('by_kind', 'first')})}",
                  flush=True)
        results["worker_rss_mb"] = server.rss()
        results["worker_rss_max_mb"] = max(server.samples, default=None)
        print(f"  web workers' resident memory: {results['worker_rss_mb']} MB (largest seen: "
              f"{results['worker_rss_max_mb']} MB)", flush=True)
    finally:
        server.stop()
    print("17:05 build ...", flush=True)
    results["build"] = build_seconds(app)
    print(f"  {results['build']}", flush=True)
    print("export ...", flush=True)
    results["export"] = export_runs(env, (20_000, 100_000))
    print("import ...", flush=True)
    results["import"] = import_run(env, args.admin_url, 20_000 if quick else 100_000)
    results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    write_results(results, docs=not args.no_docs)
    return results


def sign_in_all(port: int, app, quick: bool) -> dict:
    logins = ["bsup", "bsys", "bma", "baudit", "bplan", "bh000", "benchadmin", *case_managers(app, 8 if quick else 40)]
    sessions = {}
    for login in logins:
        cookie, csrf = sign_in(port, login)
        sessions[login] = (cookie, csrf, panels_of(port, cookie))
    return sessions


def reset(app, pages: list) -> None:
    """Put back what the mix's writing requests changed in the run before (see Page.reset)."""
    with app.app_context():
        for page in pages:
            if page.reset is not None:
                page.reset()


def sweep(args, env: dict, app, results: dict, short: float, rates_seconds: float) -> dict:
    """The same mix on different gunicorn settings (workers x threads): what docs/deploy.md recommends."""
    results["sweep"] = []
    for setting in args.sweep.split(","):
        workers, threads = (int(x) for x in setting.lower().split("x"))
        server = Server(env, args.port, workers, threads)
        try:
            server.start()
            pages, _ = workload(app, sign_in_all(args.port, app, args.quick))
            reset(app, pages)
            row = {"workers": workers, "threads": threads,
                   "bare": wrk(args.port, [openloop.Request("bare", "/bench/bare")], short, 16),
                   "mix": wrk(args.port, mix(pages, n=max(2000, MIX_CEILING * short * 2)), short * 2, 16)}
            server.restart()
            reset(app, pages)
            row["open_200"] = openloop.run("127.0.0.1", args.port, mix(pages, n=max(2000, 200 * rates_seconds),
                                                                       seed=200), 200, rates_seconds, seed=200)
            row["rss_mb"] = server.rss()
        finally:
            server.stop()
        row["open_200"].pop("by_kind", None)
        results["sweep"].append(row)
        print(f"  -w {workers} --threads {threads}: mix {row['mix']['rps']} req/s, at 200/s P95 "
              f"{row['open_200']['p95_ms']} ms P99 {row['open_200']['p99_ms']} ms errors "
              f"{row['open_200']['errors']}", flush=True)
    lines = ["| gunicorn | bare req/s | mix req/s (16 connections) | mix P95 ms | at 200/s: answered | P95 ms | P99 ms "
             "| errors | worker RSS MB |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in results["sweep"]:
        o = row["open_200"]
        lines.append(f"| -w {row['workers']} --threads {row['threads']} | {row['bare']['rps']} | {row['mix']['rps']} | "
                     f"{row['mix']['p95_ms']} | {o['achieved_rps']} | {o['p95_ms']} | {o['p99_ms']} | {o['errors']} | "
                     f"{max(row['rss_mb'], default='—')} |")
    print("\n".join(lines))
    folder = ROOT / "bench" / "results"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (folder / f"{stamp}-sweep.json").write_text(json.dumps(results, ensure_ascii=False, indent=1, default=str),
                                                encoding="utf-8")
    return results


def machine() -> dict:
    import multiprocessing

    mem = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), "0")
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cpus": multiprocessing.cpu_count(), "cpu": cpu, "memory_gb": round(int(mem) / 1024 / 1024, 1),
            "python": platform.python_version(), "load_avg_at_start": os.getloadavg()}


def case_managers(app, limit: int) -> list[str]:
    from sqlalchemy import text

    from portal.extensions import db

    with app.app_context():
        return list(db.session.scalars(text("SELECT login_name FROM users WHERE login_name LIKE 'bcm%' "
                                            "ORDER BY login_name LIMIT :n"), {"n": limit}))


def counts(app) -> dict:
    from sqlalchemy import text

    from portal.extensions import db

    with app.app_context():
        return {t: db.session.execute(text(f"SELECT count(*) FROM {t}")).scalar()
                for t in ("users", "staff", "departments", "patients", "care_tasks", "ledger_entries", "audit_logs",
                          "login_events", "notifications", "approval_instances", "plan_items")}


# --------------------------------------------------------------------------------------------- reporting

TARGETS = """
| target (issue) | measured | result |
| --- | --- | --- |
"""


def _pass(ok: bool | None) -> str:
    return "—" if ok is None else ("PASS" if ok else "FAIL")


def markdown(r: dict) -> str:
    bare = r["bare"]["rps"] or 1
    lines = [f"Run {r['started']} · `{r['command']}` · scale `{r['scale']}`{' (quick)' if r['quick'] else ''}"
             f"{' · ' + r['label'] if r.get('label') else ''}",
             f"Machine: {r['machine']['cpus']} cores ({r['machine']['cpu']}), {r['machine']['memory_gb']} GB, "
             f"load at start {tuple(round(x, 1) for x in r['machine']['load_avg_at_start'])}; "
             f"gunicorn {r['gunicorn']}, "
             "PostgreSQL 15 and Redis on the same machine, shared with other work.",
             "Data: " + ", ".join(f"{k} {v:,}" for k, v in r["counts"].items()) + ".", "",
             "| page (closed loop, 8 connections) | req/s | P50 ms | P95 ms | share of bare |",
             "| --- | --- | --- | --- | --- |",
             f"| bare endpoint /bench/bare (16 connections) | {r['bare']['rps']} | {r['bare']['p50_ms']} | "
             f"{r['bare']['p95_ms']} | 100% |"]
    for kind, m in r["pages"].items():
        lines.append(f"| {kind} | {m['rps']} | {m['p50_ms']} | {m['p95_ms']} | {100 * m['rps'] / bare:.1f}% |")
    sat = r["mix_saturation"]
    lines.append(f"| **mix** (16 connections) | {sat['rps']} | {sat['p50_ms']} | {sat['p95_ms']} | "
                 f"{100 * sat['rps'] / bare:.1f}% |")
    lines += ["", "Open loop: latency from each request's scheduled send time, over the requests answered within 30 s; "
                  "the others are errors (timeouts, or dropped when 2,000 were already waiting). Each rate starts on "
                  "a freshly started server, after 3 s of unmeasured requests to the pages.",
              "", "| mix, open loop (Poisson) | answered req/s | P50 ms | P95 ms | P99 ms | errors (5xx, socket, "
              "dropped) | 4xx | generator CPU |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for o in r["mix_open"]:
        lines.append(f"| offered {o['offered_rps']}/s | {o['achieved_rps']} | {o['p50_ms']} | {o['p95_ms']} | "
                     f"{o['p99_ms']} | {o['errors']} | {o['http_4xx']} | "
                     f"{o['generator_cpu_percent']}% |")
    lines += ["", "| report / dashboard | period | status | one request ms | P95 ms, 10 users | query alone ms |",
              "| --- | --- | --- | --- | --- | --- |"]
    for x in r["reports"]:
        lines.append(f"| {x['report']} | {x['period']} | {x['status']} | {x['single_ms']} | {x['p95_10_users_ms']} | "
                     f"{x['direct_sql_ms'] if x['direct_sql_ms'] is not None else '—'} |")
    lines += ["", "| API call, open loop | offered req/s | answered req/s | P50 ms | P95 ms | P99 ms | errors | 4xx |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for p in r.get("api", []):
        lines.append(f"| {p['name']} | {p['rate']} | {p['achieved_rps']} | {p['p50_ms']} | {p['p95_ms']} | "
                     f"{p['p99_ms']} | {p['errors']} | {p['http_4xx']} |")
    b = r["build"]
    lines.append(f"17:05 build of tomorrow's lists: {b['seconds']} s ({b['created']} tasks created, "
                 f"{b['carried_over']} carried over; rolled back).")
    for e in r["export"]:
        lines.append(f"Export of {e['rows']:,} ledger rows: {e.get('seconds')} s, peak RSS {e.get('peak_rss_mb')} MB "
                     f"(process before: {e.get('rss_before_mb')} MB).")
    i = r["import"]
    if "rates" in i:
        rates = ", ".join(f"{k} {v:,} rows/s" for k, v in i["rates"].items() if ":" not in k and "MB" not in k)
        while_importing = i["rates"].get("peak RSS MB while importing")
        during = f" (while importing: {while_importing:,} MB)" if while_importing else ""
        lines.append(f"Staff import of {i['rows']:,} rows: {rates}; openpyxl alone reads "
                     f"{i['openpyxl_read_rows_per_s']:,} rows/s; peak RSS {i['peak_rss_mb']} MB{during}.")
    lines.append(f"Web workers' resident memory after the run: {r['worker_rss_mb']} MB; the largest seen at any "
                 f"restart: {r.get('worker_rss_max_mb')} MB.")
    lines += ["", "| target (issue) | measured | result |", "| --- | --- | --- |"]
    lines += [f"| {a} | {b_} | {c} |" for a, b_, c in targets(r)]
    return "\n".join(lines)


def targets(r: dict) -> list[tuple[str, str, str]]:
    bare = r["bare"]["rps"] or 1
    sat = r["mix_saturation"]
    o200 = next((o for o in r["mix_open"] if o["offered_rps"] == 200), None)
    longest = [x for x in r["reports"] if x["period"] == "longest"]
    worst_single = max((x["single_ms"] for x in longest), default=None)
    worst_p95 = max((x["p95_10_users_ms"] or 1e9 for x in longest), default=None)
    exports = {e["rows"]: e for e in r["export"] if "seconds" in e}
    e100 = exports.get(100_000)
    e20 = exports.get(20_000)
    imp = r["import"].get("rates", {}).get("commit new")
    rss = r.get("worker_rss_max_mb") or max(r["worker_rss_mb"], default=None)
    out = [
        ("mix saturation >= 350 req/s", f"{sat['rps']} req/s", _pass(sat["rps"] >= 350)),
        ("mix >= 13% of the bare endpoint", f"{100 * sat['rps'] / bare:.1f}%", _pass(sat["rps"] / bare >= 0.13)),
    ]
    if o200:
        errors = o200["errors"]
        out.append(("offered 200/s: P95 <= 150 ms, P99 <= 500 ms, no errors",
                    f"P95 {o200['p95_ms']} ms, P99 {o200['p99_ms']} ms, errors {errors} (4xx {o200['http_4xx']})",
                    _pass(o200["p95_ms"] is not None and o200["p95_ms"] <= 150 and o200["p99_ms"] <= 500
                          and errors == 0)))
    if worst_single is not None:
        out.append(("reports, longest period: one request <= 300 ms", f"worst {worst_single} ms",
                    _pass(worst_single <= 300)))
        out.append(("reports, longest period: P95 <= 1 s with 10 users", f"worst {worst_p95} ms",
                    _pass(worst_p95 <= 1000)))
    for p in r.get("api", []):
        if p.get("p99_target_ms") is not None:
            out.append((f"{p['name']}: P99 <= {p['p99_target_ms']:g} ms at {p['rate']}/s, no errors",
                        f"P99 {p['p99_ms']} ms, errors {p['errors']}",
                        _pass(p["p99_ms"] is not None and p["p99_ms"] <= p["p99_target_ms"] and not p["errors"])))
    if imp:
        out.append(("import >= 20,000 rows/s", f"{imp:,} rows/s", _pass(imp >= 20_000)))
    if e100:
        flat = e20 and e100["peak_rss_mb"] - e100["rss_before_mb"] <= 1.5 * max(
            1, e20["peak_rss_mb"] - e20["rss_before_mb"]) + 20
        out.append(("export 100k rows <= 5 s, memory flat", f"{e100['seconds']} s, peak {e100['peak_rss_mb']} MB "
                    f"(20k: {e20['peak_rss_mb'] if e20 else '?'} MB)", _pass(e100["seconds"] <= 5 and bool(flat))))
    out.append(("17:05 build <= 2 s", f"{r['build']['seconds']} s", _pass(r["build"]["seconds"] <= 2)))
    if rss is not None:
        out.append(("web worker < 250 MB resident after the run", f"max {rss} MB", _pass(rss < 250)))
    while_importing = r["import"].get("rates", {}).get("peak RSS MB while importing")
    if while_importing:
        out.append(("import peaks < 500 MB", f"{while_importing:,} MB (while importing)", _pass(while_importing < 500)))
    elif "peak_rss_mb" in r["import"]:
        out.append(("import peaks < 500 MB", f"{r['import']['peak_rss_mb']} MB (whole process)",
                    _pass(r["import"]["peak_rss_mb"] < 500)))
    return out


def write_results(r: dict, docs: bool = True) -> None:
    folder = ROOT / "bench" / "results"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (folder / f"{stamp}.json").write_text(json.dumps(r, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    table = markdown(r)
    print("\n" + table)
    print(f"\nresults: bench/results/{stamp}.json")
    if not docs:
        return
    path = ROOT / "docs" / "performance.md"
    text = path.read_text(encoding="utf-8") if path.exists() else f"# 性能\n\n{MARK_BEGIN}\n{MARK_END}\n"
    if MARK_BEGIN not in text:
        text += f"\n{MARK_BEGIN}\n{MARK_END}\n"
    head, rest = text.split(MARK_BEGIN, 1)
    _, tail = rest.split(MARK_END, 1)
    path.write_text(f"{head}{MARK_BEGIN}\n{table}\n{MARK_END}{tail}", encoding="utf-8")
    print(f"written into {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
