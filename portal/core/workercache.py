"""Values a worker keeps between requests while one generation value read from the database is unchanged.

Database triggers move a generation row (``api_auth_generation``, ``privilege_generation``) in the same
transaction as any write the kept values depend on, so a request that reads the generation first and then
finds an entry kept for that same value sees what it would have read from the rows. One cache per worker and
name (per app object); entries kept for another generation are dropped on first sight of the new one.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable

from flask import current_app

DEFAULT_SIZE = 4096


class GenerationCache:
    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.generation: int | None = None
        self.entries: dict = {}
        self.size = size
        self.lock = threading.Lock()
        self.loads = 0  # how many values were built from the rows (what the tests count)

    def get(self, generation: int | None, key: Hashable):
        """The value kept for `key` under `generation`, else None. No generation (a database not built by the
        migrations): nothing is kept."""
        if generation is None:
            return None
        if self.generation != generation:
            with self.lock:
                if self.generation != generation:
                    self.entries, self.generation = {}, generation
        return self.entries.get(key)

    def put(self, generation: int | None, key: Hashable, value) -> None:
        """Keep `value`, built from rows read after `generation` was, unless another request has meanwhile seen a
        newer generation."""
        with self.lock:
            self.loads += 1
            if generation is not None and self.generation == generation:
                if len(self.entries) >= self.size:
                    self.entries.clear()
                self.entries[key] = value

    def replace(self, key: Hashable, old, new) -> None:
        """Swap the entry for `key` if it is still `old` (a change the generation does not track)."""
        with self.lock:
            if self.entries.get(key) is old:
                self.entries[key] = new


def read_once(name: str, read):
    """`read()` once a GET request (a page whose several kept parts check one generation reads it once); at each
    call otherwise, since a write in the request moves it on. Kept in the request's environ, which no other request
    shares (``g`` is shared by requests made inside one application context, as tests make them)."""
    from flask import has_request_context, request

    if not (has_request_context() and request.method == "GET"):
        return read()
    key = f"portal.generation.{name}"
    found = request.environ.get(key)
    if found is None:
        found = request.environ[key] = read()
    return found


def generation_row(name: str, table: str) -> int:
    """The value of a one-row generation table (moved by triggers in every writing transaction), via `read_once`."""
    from sqlalchemy import text

    from portal.extensions import db

    return read_once(name, lambda: int(db.session.execute(text(f"SELECT value FROM {table} WHERE id = 1")).scalar()
                                       or 0))


def kept(name: str, generation: int | None, key: Hashable, build, size: int = DEFAULT_SIZE):
    """`build()` from this worker's copy named `name` while `generation` (read by the caller before any row) is
    unchanged; `key` holds everything else the value depends on. A kept value is shared between requests and never
    changed after it is built."""
    cache = worker_cache(name, size)
    found = cache.get(generation, key)
    if found is None:
        found = build()
        cache.put(generation, key, found)
    return found


class Derived:
    """A kept value and what pages build from it alone (its markup), built once and shared like the value."""

    def __init__(self, value) -> None:
        self.value = value
        self.derived: dict = {}

    def derive(self, name: Hashable, build):
        """`build()` once per kept value and `name`; `build` depends on them only, never on the request."""
        found = self.derived.get(name)
        if found is None:
            found = self.derived[name] = build()
        return found


def worker_cache(name: str, size: int = DEFAULT_SIZE) -> GenerationCache:
    found = current_app.extensions.get(name)
    if found is None:
        found = current_app.extensions.setdefault(name, GenerationCache(size))
    return found
