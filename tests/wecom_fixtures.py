"""Fixtures for WeCom tests: a fake WeCom server, and an app (own rollback) configured against it.

Import them into a test module (``from tests.wecom_fixtures import fake_wecom, wecom_app, wecom_client``)
or list ``"tests.wecom_fixtures"`` in the root conftest's ``pytest_plugins``.
"""

from __future__ import annotations

import secrets
import uuid

import pytest

from tests.conftest import PortalClient, build_app, rolled_back
from tests.fake_wecom import FakeWeCom

AGENT_ID = "1000002"


@pytest.fixture
def fake_wecom():
    """A running fake WeCom with a corp id of its own (so its tokens have their own Redis keys)."""
    fake = FakeWeCom(corp_id=f"wwtest{uuid.uuid4().hex[:12]}", secret=secrets.token_urlsafe(24), agent_id=AGENT_ID)
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def wecom_app(fake_wecom, database_url, redis_server, tmp_path):
    """An app talking to the fake, inside an app context whose every commit is rolled back at the end."""
    app = build_app(database_url, redis_server, tmp_path / "instance", WECOM_CORP_ID=fake_wecom.corp_id,
                    WECOM_AGENT_ID=AGENT_ID, WECOM_SECRET=fake_wecom.secret, WECOM_API_BASE=fake_wecom.url,
                    WECOM_OAUTH_BASE=fake_wecom.url, PUBLIC_URL="http://localhost", WECOM_RETRY_BACKOFF=0)
    app.test_client_class = PortalClient
    try:
        with rolled_back(app):
            yield app
    finally:
        _forget_wecom_keys(app, fake_wecom.corp_id)
    app.extensions["db.engine"].dispose()
    app.extensions["redis"].close()


@pytest.fixture
def wecom_client(wecom_app):
    return wecom_app.test_client()


def _forget_wecom_keys(app, corp_id: str) -> None:
    # The Redis server may be shared: delete only this test's keys, never flush.
    client = app.extensions["redis"]
    for key in list(client.scan_iter(match=f"portal:wecom:*:{corp_id}:*")):
        client.delete(key)
