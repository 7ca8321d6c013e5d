"""Page integration (页面集成): HIS opens a portal page for its signed-in clinician through a signed link.

    GET /sso/his?client=<code>&staff=<工号>&path=<target>&ts=<unix seconds>&nonce=<random>&sig=<hex>

sig = HMAC-SHA256(key = the client system's secret, message = canonical(...)) in lower-case hex, where the
canonical string is the five values joined by newlines: client, staff, path, ts, nonce (see docs/api.md).
A link is valid SSO_LINK_SECONDS (60) either side of ts and once: its nonce is stored (unique per client
system) in a write transaction of its own, so of two concurrent replays exactly one signs in.
A bad, old, replayed or unknown link gets a Chinese page (403), a login-log entry, and never a session.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from datetime import timedelta
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, request, url_for
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from portal.auth import services as auth_services
from portal.auth.models import Staff, User
from portal.auth.session import client_ip, sign_in
from portal.core.permissions import public
from portal.core.rendering import render
from portal.core.timeutil import utcnow
from portal.extensions import db, own_write_transaction

from . import clients
from .models import SsoNonce

log = logging.getLogger(__name__)
sso_bp = Blueprint("sso", __name__, url_prefix="/sso")

NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
SIG = re.compile(r"[0-9a-fA-F]{64}")
FIELDS = ("client", "staff", "path", "ts", "nonce")
START_AGAIN = "请回到 HIS 重新点击打开本页面；如反复出现，请联系信息科。"


def canonical(client: str, staff: str, path: str, ts: str | int, nonce: str) -> str:
    """The signed text: the five values, in this order, joined by a newline (no trailing newline)."""
    return "\n".join((client, staff, path, str(ts), nonce))


def sign(secret: str, client: str, staff: str, path: str, ts: str | int, nonce: str) -> str:
    return hmac.new(secret.encode("utf-8"), canonical(client, staff, path, ts, nonce).encode("utf-8"),
                    hashlib.sha256).hexdigest()


def local_path(target: str) -> bool:
    """A path of this portal ("/approvals/12?x=1"): no scheme, host, protocol-relative or backslash trick."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return False
    if any(ord(ch) < 32 or ch == "\x7f" for ch in target) or len(target) > 500:
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc and not target.startswith(("/sso/", "/api/"))


class Refused(Exception):
    def __init__(self, reason: str, message: str, user: User | None = None):
        super().__init__(reason)
        self.reason, self.message, self.user = reason, message, user


def _check_link(values: dict[str, str]):
    """The client system and the link's staff user, if the link is well formed, signed and fresh."""
    missing = [name for name in (*FIELDS, "sig") if not values.get(name)]
    if missing:
        raise Refused(f"缺少参数 {', '.join(missing)}", "链接不完整（缺少参数）。" + START_AGAIN)
    client = clients.by_code(values["client"][:32])
    secret = clients.secret_of(client) if client is not None else None
    if client is None or not client.is_active or secret is None:
        raise Refused(f"未知或已停用的对接系统 {values['client'][:32]}，或其未设置密钥",
                      "链接来自未登记或已停用的系统。" + START_AGAIN)
    if not SIG.fullmatch(values["sig"]) or not NONCE.fullmatch(values["nonce"]) or not values["ts"].isdigit() \
            or len(values["ts"]) > 12 or len(values["staff"]) > 32:
        raise Refused("参数格式不正确", "链接格式不正确。" + START_AGAIN)
    expected = sign(secret, values["client"], values["staff"], values["path"], values["ts"], values["nonce"])
    if not hmac.compare_digest(expected, values["sig"].lower()):
        raise Refused(f"{client.code}：签名不正确", "链接签名校验失败，无法确认链接来自 HIS。" + START_AGAIN)
    window = current_app.config["SSO_LINK_SECONDS"]
    if abs(time.time() - int(values["ts"])) > window:
        raise Refused(f"{client.code}：链接已过期（ts={values['ts']}）",
                      f"链接已过期（有效期 {window} 秒）。" + START_AGAIN)
    if not local_path(values["path"]):
        raise Refused(f"{client.code}：目标地址不是本平台页面 {values['path'][:100]!r}",
                      "链接要打开的地址不是本平台的页面。" + START_AGAIN)
    return client


def _user_of(client, employee_no: str) -> User:
    user = db.session.scalar(select(User).join(Staff, User.staff_id == Staff.id)
                             .where(func.upper(Staff.employee_no) == employee_no.upper(), Staff.is_active))
    if user is None:
        raise Refused(f"{client.code}：工号 {employee_no} 不在职或未绑定平台账户",
                      f"工号 {employee_no} 在本平台没有在职人员的账户，请联系医务科或系统管理员开通。")
    if not user.is_active_flag:
        raise Refused(f"{client.code}：账户 {user.login_name} 已停用", "该账户已停用，请联系系统管理员。", user)
    return user


@sso_bp.route("/his")
@public
def his_signin():
    """Open a portal page for HIS's signed-in clinician: check the signed link, start a session, redirect."""
    values = {name: request.args.get(name, "").strip() for name in (*FIELDS, "sig")}
    values["path"] = request.args.get("path", "")  # signed as sent
    try:
        client = _check_link(values)
        with own_write_transaction() as session:
            # The nonce row first: of two concurrent uses of one link, the second fails here.
            session.execute(insert(SsoNonce).values(
                client_id=client.id, nonce=values["nonce"],
                expires_at=utcnow() + timedelta(seconds=2 * current_app.config["SSO_LINK_SECONDS"])))
            user = _user_of(client, values["staff"])
            sign_in(user)
            user.last_login_at = utcnow()
            auth_services.log_login_event("sso_success", user.login_name, user, client_ip(),
                                          request.user_agent.string, f"{client.name}（{client.code}）签名链接")
    except IntegrityError:
        db.session.rollback()
        return _refuse(Refused(f"{values['client'][:32]}：链接已使用过（nonce {values['nonce']}）",
                               "该链接已使用过（每个链接只能打开一次）。" + START_AGAIN))
    except Refused as refusal:
        db.session.rollback()
        return _refuse(refusal, values["staff"])
    if user.must_change_password:
        flash("首次登录或密码已被重置，请先设置新密码。", "warning")
        return redirect(url_for("auth.change_password"))
    return redirect(values["path"])


def _refuse(refusal: Refused, employee_no: str = ""):
    log.warning("signed link refused: %s", refusal.reason)
    with own_write_transaction():
        auth_services.log_login_event("sso_failure", (employee_no or "(签名链接)")[:64], refusal.user, client_ip(),
                                      request.user_agent.string, refusal.reason[:500])
    return render("api/sso_failed.html", status=403, message=refusal.message)
