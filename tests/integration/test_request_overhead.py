"""Per-request overhead that does not show in any one page's queries: round trips every request pays.

No timing: the tests count what a request sends (pings to the database) and check that the cheaper path still
keeps the guarantee it replaced (a connection that died while idle never reaches a request).
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from portal import extensions


@pytest.fixture
def pg_engine(database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("the connection pool's ping is PostgreSQL's")
    engine = extensions.make_engine(database_url)
    pings = []
    real = engine.dialect.do_ping

    def counted(dbapi_connection):
        pings.append(1)
        return real(dbapi_connection)

    engine.dialect.do_ping = counted
    engine.pings = pings
    yield engine
    engine.dispose()


def backend_pid(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


def test_a_connection_used_a_moment_ago_is_not_pinged_again(pg_engine):
    """pool_pre_ping cost every request one extra round trip; a connection just back in the pool is alive."""
    first = backend_pid(pg_engine)
    for _ in range(5):
        assert backend_pid(pg_engine) == first  # the same pooled connection each time
    assert pg_engine.pings == []


def test_a_connection_that_died_while_idle_is_replaced_before_a_request_uses_it(pg_engine, monkeypatch):
    dead = backend_pid(pg_engine)
    other = extensions.make_engine(pg_engine.url.render_as_string(hide_password=False))
    try:
        with other.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": dead})
            admin.commit()
    finally:
        other.dispose()
    monkeypatch.setattr(extensions, "PING_AFTER_IDLE_SECONDS", 0.0)  # as if it had sat in the pool a while
    fresh = backend_pid(pg_engine)  # no error: the ping found it dead and the pool opened another
    assert fresh != dead
    assert pg_engine.pings


def test_the_sidebar_is_built_once_per_set_of_permissions(client, tree, monkeypatch):
    """Every page shows the sidebar; its entries and their URLs depend only on the permissions held."""
    from portal.core import nav
    from tests.factories import make_user

    built = []
    real = nav.build

    def counted(visible):
        built.append(1)
        return real(visible)

    monkeypatch.setattr(nav, "build", counted)
    nav._built.clear()
    nav._rendered.clear()
    make_user("auditor_a", ["auditor"], tree.surgery)
    make_user("auditor_b", ["auditor"], tree.surgery)
    for login in ("auditor_a", "auditor_b"):
        client.login(login)
        for _ in range(3):
            page = client.get("/audit/")
            assert page.status_code == 200
            assert 'href="/audit/"' in page.text  # the entry, with its URL resolved
    assert len(built) == 1  # two users with the same roles, six pages: one build


def test_the_portals_connections_never_compile_statements_just_in_time(pg_engine):
    """JIT compiling a five-year report query cost ~300 ms of a ~10 ms statement: the portal's sessions turn it off,
    whatever the server's default."""
    with pg_engine.connect() as conn:
        assert conn.execute(text("SHOW jit")).scalar_one() == "off"


def test_the_kept_sidebar_marks_the_page_it_is_shown_on(client, tree):
    """The sidebar is kept per (permissions, page): each page still marks its own entry as the current one."""
    from portal.core import nav
    from tests.factories import make_user

    nav._rendered.clear()
    make_user("auditor_c", ["auditor"], tree.surgery)
    client.login("auditor_c")
    for _ in range(2):
        audit_page = client.get("/audit/").text
        logins_page = client.get("/audit/logins").text
        assert 'href="/audit/" aria-current="page"' in audit_page
        assert 'href="/audit/logins" aria-current="page"' not in audit_page
        assert 'href="/audit/logins" aria-current="page"' in logins_page
        assert 'href="/audit/" aria-current="page"' not in logins_page
