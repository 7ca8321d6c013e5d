"""Sign-in from the WeCom webview: OAuth2 (snsapi_base) with a session-bound state, then the portal session."""

from __future__ import annotations

import hmac
import logging
import secrets
import string

from flask import current_app, flash, redirect, request, session, url_for
from flask_login import current_user
from sqlalchemy import func, select

from portal.auth import services as auth_services
from portal.auth.models import User
from portal.auth.session import client_ip, sign_in
from portal.core.permissions import public
from portal.core.rendering import render
from portal.core.timeutil import utcnow
from portal.extensions import db

from . import bp
from .client import NotMember, RateLimited, WeComError, WeComUnavailable, client_for, is_configured
from .errors import BAD_OAUTH_CODE

log = logging.getLogger(__name__)

STATE_ALPHABET = string.ascii_letters + string.digits
STATE_LENGTH = 32
STATE_KEY = "wecom_state"
NEXT_KEY = "wecom_next"
UNKNOWN = "(未知)"
NOT_CONFIGURED = "本平台尚未配置企业微信登录，请使用账号密码登录，或联系信息科。"
START_AGAIN = "请关闭本页面，从企业微信工作台重新进入本平台。"


class _Refused(Exception):
    """Why a WeCom sign-in was refused: for the user (message), and for the login log (reason)."""

    def __init__(self, status: int, reason: str, message: str, *, login_name: str = UNKNOWN,
                 user: User | None = None, retry: bool = False) -> None:
        super().__init__(reason)
        self.status, self.reason, self.message = status, reason, message
        self.login_name, self.user, self.retry = login_name, user, retry


def _safe_next(target: str | None) -> str:
    # Imported here: portal.auth.views imports this package while it is itself being imported.
    from portal.auth.views import safe_next

    return safe_next(target)


@bp.route("/login")
@public
def start_signin():
    """Send the webview to WeCom's OAuth page with a fresh state bound to this session."""
    next_url = _safe_next(request.args.get("next"))
    if current_user.is_authenticated:
        return redirect(next_url)
    if not is_configured(current_app):
        return _refuse(_Refused(503, "企业微信未配置", NOT_CONFIGURED), next_url)
    state = "".join(secrets.choice(STATE_ALPHABET) for _ in range(STATE_LENGTH))
    session[STATE_KEY] = state
    session[NEXT_KEY] = next_url
    # The target rides along in the callback too: opened again later (history, a second tap) while signed in,
    # the callback goes on to the page instead of failing on a used state.
    callback = url_for("wecom.finish_signin", next=next_url) if next_url != url_for("main.home") \
        else url_for("wecom.finish_signin")
    redirect_uri = current_app.config["PUBLIC_URL"].rstrip("/") + callback
    return redirect(client_for(current_app).authorize_url(redirect_uri, state))


@bp.route("/callback")
@public
def finish_signin():
    """WeCom sends the webview back here with a one-time code: sign the matching portal user in."""
    # Popped before anything else: a state works once, whatever happens next.
    expected = session.pop(STATE_KEY, None)
    next_url = _safe_next(session.pop(NEXT_KEY, None) or request.args.get("next"))
    if current_user.is_authenticated:
        # Already signed in (the link opened again): nothing to check, go on to the page.
        return redirect(next_url)
    try:
        user, wecom_userid = _user_for_callback(expected)
    except _Refused as refusal:
        return _refuse(refusal, next_url)
    sign_in(user)
    user.last_login_at = utcnow()
    auth_services.log_login_event("wecom_success", user.login_name, user, client_ip(), request.user_agent.string,
                                  f"企业微信账号 {wecom_userid}")
    if user.must_change_password:
        flash("首次登录或密码已被重置，请先设置新密码。", "warning")
        return redirect(url_for("auth.change_password"))
    return redirect(next_url)


def _user_for_callback(expected_state: str | None) -> tuple[User, str]:
    """The active, unlocked user this callback signs in (and their WeCom userid), or _Refused."""
    if not is_configured(current_app):
        raise _Refused(503, "企业微信未配置", NOT_CONFIGURED)
    given = request.args.get("state", "")
    if not expected_state:
        raise _Refused(400, "state 缺失：会话中没有待完成的企业微信登录（已使用过或会话已失效）",
                       "本次登录请求已失效（可能已使用过，或页面停留时间过长）。" + START_AGAIN, retry=True)
    if not given or not hmac.compare_digest(given.encode("utf-8"), expected_state.encode("utf-8")):
        raise _Refused(400, "state 不匹配：登录请求不是从本会话发起的",
                       "登录请求校验失败，无法确认请求来源。" + START_AGAIN, retry=True)
    code = request.args.get("code", "")
    if not code:
        raise _Refused(400, "缺少企业微信登录凭证（code）", "企业微信没有返回登录凭证。" + START_AGAIN, retry=True)
    try:
        wecom_userid = client_for(current_app).userid_from_code(code)
    except NotMember as exc:
        raise _Refused(403, "非本企业成员（企业微信只返回了 openid）", exc.message) from None
    except (WeComUnavailable, RateLimited) as exc:
        raise _Refused(503, f"企业微信不可用：{exc.message}", exc.message + "您也可以使用账号密码登录。",
                       retry=True) from None
    except WeComError as exc:
        if exc.errcode == BAD_OAUTH_CODE:
            raise _Refused(400, "企业微信登录凭证（code）无效或已使用（40029）", exc.message, retry=True) from None
        # Anything else is our configuration (secret, trusted IP, permissions): nothing the user can fix.
        log.warning("WeCom sign-in failed: errcode %s", exc.errcode)
        raise _Refused(503, f"企业微信接口错误（错误码 {exc.errcode}）", exc.message) from None
    user = _find_user(wecom_userid)
    if user is None:
        raise _Refused(403, f"企业微信账号 {wecom_userid} 未绑定平台账户",
                       f"您的企业微信账号（{wecom_userid}）尚未绑定本平台账户，请联系系统管理员在用户管理中绑定。",
                       login_name=wecom_userid)
    if not user.is_active_flag:
        raise _Refused(403, f"账户 {user.login_name} 已停用", "该账户已停用，请联系系统管理员。",
                       login_name=wecom_userid, user=user)
    # A password lockout applies to one address and to passwords only: WeCom proves who the user is.
    return user, wecom_userid


def _find_user(wecom_userid: str) -> User | None:
    # WeCom userids are case-insensitive; an administrator may have typed one in another case.
    users = list(db.session.scalars(select(User).where(func.lower(User.wecom_userid) == wecom_userid.lower())))
    exact = [u for u in users if u.wecom_userid == wecom_userid]
    if len(exact) == 1:
        return exact[0]
    return users[0] if len(users) == 1 else None


def _refuse(refusal: _Refused, next_url: str):
    auth_services.log_login_event("wecom_failure", refusal.login_name, refusal.user, client_ip(),
                                  request.user_agent.string, refusal.reason)
    db.session.commit()  # every 4xx response is rolled back; the login log must survive the refusal
    return render("wecom/signin_failed.html", status=refusal.status, code=refusal.status, message=refusal.message,
                  retry=refusal.retry, next_url=next_url)
