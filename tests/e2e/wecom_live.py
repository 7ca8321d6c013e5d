"""A live portal configured against a fake WeCom, for browser tests of the WeCom webview.

Import the fixtures into a test module (``from tests.e2e.wecom_live import wecom_live, wecom_phone``).

Each test gets its own: fake WeCom (own corp id, so its Redis keys are its own), fresh migrated
database, app (own RQ queue) and werkzeug server on 127.0.0.1. The app's PUBLIC_URL is the server's
own address, so the fake's OAuth page sends the browser back to it, and pushed cards link to it.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from rq import SimpleWorker
from werkzeug.serving import make_server

import jobs
from portal.auth.principal import clear_cache
from portal.core import migrate
from portal.core.redis_conn import get_queue
from tests.backends import fresh_database
from tests.conftest import build_app
from tests.e2e.conftest import _close_when_done, _QuietHandler
from tests.fake_wecom import FakeWeCom
from tests.wecom_fixtures import AGENT_ID, _forget_wecom_keys

PHONE = {"width": 375, "height": 667}
WECOM_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Mobile/15E148 wxwork/4.1.22 MicroMessenger/7.0.1 Language/zh")


@dataclass(frozen=True)
class WeComLive:
    app: Flask
    fake: FakeWeCom
    base_url: str

    def deliver_outbox(self) -> None:
        """Run the queued jobs (outbox deliveries) once, as an RQ worker would, against this app."""
        previous = jobs._app
        jobs.use_app(self.app)
        try:
            with self.app.app_context():
                queue = get_queue()
                SimpleWorker([queue], connection=queue.connection).work(burst=True)
        finally:
            jobs.use_app(previous)


@pytest.fixture
def wecom_live(tmp_path, redis_server) -> Iterator[WeComLive]:
    fake = FakeWeCom(corp_id=f"wwe2e{uuid.uuid4().hex[:12]}", secret=secrets.token_urlsafe(24), agent_id=AGENT_ID)
    fake.start()
    # The principal cache is keyed by user id: ours must not meet entries of another test database.
    clear_cache()
    with fresh_database(tmp_path, "wecom") as url:
        migrate.upgrade(url)
        app = build_app(url, redis_server, tmp_path / "instance", WECOM_CORP_ID=fake.corp_id, WECOM_AGENT_ID=AGENT_ID,
                        WECOM_SECRET=fake.secret, WECOM_API_BASE=fake.url, WECOM_OAUTH_BASE=fake.url,
                        WECOM_RETRY_BACKOFF=0, PUBLIC_URL="http://127.0.0.1:0")
        server = make_server("127.0.0.1", 0, _close_when_done(app), threaded=True, request_handler=_QuietHandler)
        base_url = f"http://127.0.0.1:{server.server_port}"
        app.config["PUBLIC_URL"] = base_url  # read per request: set before the first one is served
        thread = threading.Thread(target=server.serve_forever, name="e2e-wecom-live-server", daemon=True)
        thread.start()
        try:
            yield WeComLive(app, fake, base_url)
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)
            fake.stop()
            _forget_wecom_keys(app, fake.corp_id)
            app.extensions["db.engine"].dispose()
            app.extensions["redis"].close()
            clear_cache()


@pytest.fixture
def wecom_phone(browser, wecom_live):
    """A fresh, signed-out browser context as the WeCom app's webview on a phone."""
    context = browser.new_context(base_url=wecom_live.base_url, locale="zh-CN", viewport=PHONE, has_touch=True,
                                  user_agent=WECOM_UA)
    try:
        yield context
    finally:
        context.close()
