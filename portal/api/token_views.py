"""The sysadmin's API token pages (/admin/api-tokens): list, create (shown once), revoke."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from portal.core.listing import arg_choice, arg_int, paginate
from portal.core.permissions import require
from portal.core.rendering import htmx_redirect, render
from portal.core.scoping import get_or_404
from portal.core.service import ServiceError

from . import MANAGE_TOKENS, tokens
from .forms import TokenForm
from .models import ApiToken

admin_tokens_bp = Blueprint("api_tokens", __name__, url_prefix="/admin/api-tokens")

STATES = {"active": "启用", "revoked": "已停用"}


@admin_tokens_bp.route("")
@require(MANAGE_TOKENS)
def list_tokens():
    """Every API token: name, prefix, user, last use, state."""
    state = arg_choice("state", STATES)
    stmt = select(ApiToken).options(selectinload(ApiToken.user)).order_by(ApiToken.is_active.desc(),
                                                                          ApiToken.id.desc())
    if state:
        stmt = stmt.where(ApiToken.is_active.is_(state == "active"))
    page = paginate(stmt, arg_int("page", 1), current_app.config["PAGE_SIZE"])
    return render("api/token_list.html", "api/_token_rows.html", page=page, args={"state": state}, state=state,
                  states=STATES)


@admin_tokens_bp.route("/new", methods=["GET", "POST"])
@require(MANAGE_TOKENS)
def new_token():
    """Create a token for a user; the token is shown on this page once and cannot be seen again."""
    form = TokenForm() if request.method == "POST" else TokenForm(formdata=None)
    if form.validate_on_submit():
        try:
            token, raw = tokens.create_token(name=form.name.data, login_name=form.login_name.data)
        except ServiceError as error:
            form.apply_error(error)
        else:
            return render("api/token_created.html", token=token, raw=raw)
    status = 422 if request.method == "POST" else 200
    return render("api/token_form.html", status=status, form=form)


@admin_tokens_bp.route("/<int:token_id>/revoke", methods=["POST"])
@require(MANAGE_TOKENS)
def revoke_token(token_id: int):
    """Stop a token at once (it stays in the list, marked revoked)."""
    token = get_or_404(ApiToken, token_id)
    try:
        tokens.revoke_token(token)
    except ServiceError as error:
        flash(error.message, "warning")
    else:
        flash(f"已停用令牌“{token.name}”（{token.token_prefix}…）。", "success")
    return htmx_redirect(url_for("api_tokens.list_tokens"))
