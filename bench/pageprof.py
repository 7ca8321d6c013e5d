"""In-process cost of each benchmark page: wall ms, CPU ms, statements and KB per request, optionally a profile.

The same requests the load benchmark sends (each domain's ``bench_load``), replayed through the test client
against the database the environment names (a loaded benchmark database), without gunicorn or the network:
the figure to compare before and after a change to one page, while ``make bench`` measures the whole.

    python -m bench.pageprof                          # every page, 5 requests each
    python -m bench.pageprof --n 30 --only "cm: task" # pages whose name contains the text
    python -m bench.pageprof --only "audit" --profile # and print where the time goes (cProfile)

Environment as for the portal (DATABASE_URL, REDIS_URL, SECRET_KEY, PORTAL_DATA_KEY; PORTAL_BENCH=1 and
PORTAL_COOKIE_SECURE=0, as ``bench/harness.py`` sets them). Requests that write (completing a task) change the data;
a page's ``reset`` puts it back before and after.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import re
import time

from sqlalchemy import event

from .generate import PASSWORD
from .load import LoadContext, bench_token, collect

LOGINS = ("bsup", "bsys", "bma", "baudit", "bplan", "bh000", "bcm00", "bcm01", "benchadmin")


def sign_in(app, login: str) -> tuple[str, str, list[str]]:
    """(cookie, CSRF token, the home page's panel URLs) of one benchmark account."""
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    answer = client.post("/login", data={"login_name": login, "password": PASSWORD, "csrf_token": token.group(1)})
    if answer.status_code not in (302, 303):
        raise SystemExit(f"{login}: sign-in answered {answer.status_code}")
    home = client.get("/").get_data(as_text=True)
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', home)
    cookie = "; ".join(f"{c.key}={c.value}" for c in client._cookies.values())
    return cookie, csrf.group(1) if csrf else "", sorted(set(re.findall(r'hx-get="(/panels/[^"]+)"', home)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pageprof", description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5, help="requests per page")
    parser.add_argument("--only", help="pages whose name contains this text")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of each chosen page")
    args = parser.parse_args(argv)

    from portal.core.timeutil import local_today
    from portal.extensions import db
    from wsgi import app

    sessions = {login: sign_in(app, login) for login in LOGINS}

    def token(name, login, scopes):
        with app.app_context():
            return bench_token(name, login, scopes)

    load = collect(LoadContext(app, sessions, local_today(), token))
    statements = {"n": 0}
    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "before_cursor_execute")
    def count(*_):
        statements["n"] += 1

    def send(request):
        headers = [("Cookie", request.cookie)] if request.cookie else []
        client = app.test_client(use_cookies=False)
        return client.open(request.path, method=request.method, data=request.body or None,
                           headers=headers + list(request.headers))

    def restore(page):
        if page.reset is not None:
            with app.app_context():
                page.reset()

    rows = []
    for page in load.pages:
        if args.only and args.only not in page.name:
            continue
        requests = page.requests[:max(1, min(len(page.requests), args.n))]
        restore(page)
        send(requests[0])  # warm: caches, compiled statements
        statements["n"], size = 0, 0
        wall, cpu = time.perf_counter(), time.process_time()
        profile = cProfile.Profile() if args.profile else None
        if profile:
            profile.enable()
        for i in range(args.n):
            answer = send(requests[i % len(requests)])
            size += len(answer.data)
            if answer.status_code != 200:
                print(f"!! {page.name}: {answer.status_code} {requests[i % len(requests)].path}")
        if profile:
            profile.disable()
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(50)
            print(f"== {page.name}\n{out.getvalue()}")
        rows.append((page.name, page.weight, (time.perf_counter() - wall) / args.n * 1000,
                     (time.process_time() - cpu) / args.n * 1000, statements["n"] / args.n, size / args.n / 1024))
        restore(page)
    total_weight = sum(r[1] for r in rows) or 1
    weighted = sum(r[1] * r[2] for r in rows) or 1
    print(f"{'page':46} {'weight':>6} {'wall ms':>8} {'CPU ms':>7} {'stmts':>6} {'KB':>6} {'share':>6}")
    for name, weight, wall, cpu, stmts, kb in sorted(rows, key=lambda r: -r[1] * r[2]):
        print(f"{name:46} {weight:6} {wall:8.1f} {cpu:7.1f} {stmts:6.1f} {kb:6.1f} {weight * wall / weighted:6.1%}")
    print(f"weighted mean: {weighted / total_weight:.1f} ms wall per request")


if __name__ == "__main__":
    main()
