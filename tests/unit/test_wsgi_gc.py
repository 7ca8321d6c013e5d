"""The gunicorn entry point keeps the app's own long-lived objects out of the garbage collector, so a full
collection in a worker scans only what requests added (a pause of tens of milliseconds, not hundreds)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wsgi_app_is_frozen_out_of_the_collector(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL", "PORTAL_"))}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'portal.db'}", REDIS_URL="redis://127.0.0.1:1/0",
               PORTAL_INSTANCE=str(tmp_path), SECRET_KEY="test-secret")
    script = ("import gc, wsgi; frozen = gc.get_freeze_count(); gc.collect(); "
              "print(frozen, len(gc.get_objects()))")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120, check=True).stdout.split()
    frozen, tracked = int(out[0]), int(out[1])
    assert frozen > 50_000  # the modules, mappers and registries of the whole app
    assert tracked < frozen / 4  # what a full collection still scans


def test_the_wsgi_app_has_every_page_template_compiled_before_the_first_request(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL", "PORTAL_"))}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'portal.db'}", REDIS_URL="redis://127.0.0.1:1/0",
               PORTAL_INSTANCE=str(tmp_path), SECRET_KEY="test-secret")
    script = ("import wsgi; env = wsgi.app.jinja_env; "
              "names = env.list_templates(filter_func=lambda n: n.endswith('.html')); "
              "kept = {key[1] for key in env.cache.keys()} if env.cache is not None else set(); "
              "print(len(names), len(set(names) - kept))")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120, check=True).stdout.split()
    templates, missing = int(out[0]), int(out[1])
    assert templates > 200 and missing == 0  # none is left to compile on a user's request
