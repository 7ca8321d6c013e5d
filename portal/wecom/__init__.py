"""WeCom (企业微信): the API client, sign-in from the WeCom webview, and message push."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, request, url_for

from portal.core.domains import Domain

from .client import is_configured

bp = Blueprint("wecom", __name__, url_prefix="/wecom")

DOMAIN = Domain(name="wecom", label="企业微信", blueprints=[bp])


def is_wecom_webview(user_agent: str) -> bool:
    """The WeCom app's browser says wxwork/; personal WeChat (MicroMessenger alone) is not WeCom."""
    return "wxwork/" in (user_agent or "").lower()


def webview_signin_redirect(next_url: str):
    """For a request from the WeCom webview when WeCom is configured: the redirect into OAuth; else None."""
    # ?password=1 is the way out when WeCom sign-in fails: without it the webview would loop back here.
    if request.args.get("password") == "1":
        return None
    if not is_wecom_webview(request.user_agent.string) or not is_configured(current_app):
        return None
    return redirect(url_for("wecom.start_signin", next=next_url))


# Defined after bp and webview_signin_redirect: the views import portal.auth, whose views import both.
from . import signin  # noqa: E402,F401
