"""The sysadmin's pages: client systems (对接系统) with their tokens, scopes and secret, and the interface
registry (接口清单) with its Excel export."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, current_app, flash, redirect, request, url_for

from portal.core.listing import arg_choice, arg_date, arg_int, bad_request, paginate
from portal.core.permissions import require
from portal.core.rendering import htmx_redirect, render
from portal.core.scoping import get_or_404
from portal.core.service import ServiceError
from portal.core.timeutil import format_datetime, local_today
from portal.io.export import Column, export_rows

from . import MANAGE_CLIENTS, clients, queries, tokens
from .forms import ClientForm, TokenForm, TokenScopesForm
from .models import ApiClient, ApiToken
from .registry import SCOPES

admin_bp = Blueprint("api_admin", __name__, url_prefix="/admin")

STATES = {"active": "启用", "inactive": "已停用"}
MAX_DAYS = 366


@admin_bp.route("/api-clients")
@require(MANAGE_CLIENTS)
def list_clients():
    """Every client system: code, name, contact, active tokens, secret, state."""
    state = arg_choice("state", STATES)
    page = paginate(queries.clients_query(state), arg_int("page", 1), current_app.config["PAGE_SIZE"])
    return render("api/client_list.html", "api/_client_rows.html", page=page, args={"state": state}, state=state,
                  states=STATES, token_counts=queries.active_token_counts())


@admin_bp.route("/api-clients/new", methods=["GET", "POST"])
@require(MANAGE_CLIENTS)
def new_client():
    """Register a client system."""
    form = ClientForm() if request.method == "POST" else ClientForm(formdata=None)
    if form.validate_on_submit():
        try:
            client = clients.create_client(code=form.code.data, name=form.name.data, contact=form.contact.data or "",
                                           notes=form.notes.data or "")
        except ServiceError as error:
            form.apply_error(error)
        else:
            flash(f"已登记对接系统“{client.name}”。下一步：签发令牌、生成页面集成密钥。", "success")
            return redirect(url_for("api_admin.show_client", client_id=client.id), 303)
    return render("api/client_form.html", status=422 if request.method == "POST" else 200, form=form, client=None)


def _client_page(client: ApiClient, token_form: TokenForm | None = None, status: int = 200):
    return render("api/client_detail.html", status=status, client=client, scopes=SCOPES,
                  token_form=token_form or TokenForm(formdata=None))


@admin_bp.route("/api-clients/<int:client_id>")
@require(MANAGE_CLIENTS)
def show_client(client_id: int):
    """A client system: its facts, its tokens with their scopes, the signed-link secret."""
    return _client_page(get_or_404(ApiClient, client_id))


@admin_bp.route("/api-clients/<int:client_id>/edit", methods=["GET", "POST"])
@require(MANAGE_CLIENTS)
def edit_client(client_id: int):
    """Edit a client system or deactivate it (its tokens and signed links stop at once)."""
    client = get_or_404(ApiClient, client_id)
    form = ClientForm() if request.method == "POST" else ClientForm(obj=client, formdata=None)
    if form.validate_on_submit():
        try:
            clients.update_client(client, code=form.code.data, name=form.name.data, contact=form.contact.data or "",
                                  notes=form.notes.data or "", is_active=form.is_active.data)
        except ServiceError as error:
            form.apply_error(error)
        else:
            flash("已保存。", "success")
            return redirect(url_for("api_admin.show_client", client_id=client.id), 303)
    return render("api/client_form.html", status=422 if request.method == "POST" else 200, form=form, client=client)


@admin_bp.route("/api-clients/<int:client_id>/tokens", methods=["POST"])
@require(MANAGE_CLIENTS)
def issue_token(client_id: int):
    """Issue a token with its scopes; it is shown on the next page once and cannot be seen again."""
    client = get_or_404(ApiClient, client_id)
    form = TokenForm()
    if form.validate_on_submit():
        try:
            token, raw = tokens.create_token(client=client, name=form.name.data, login_name=form.login_name.data,
                                             scopes=form.scopes.data)
        except ServiceError as error:
            form.apply_error(error)
        else:
            return render("api/secret_once.html", client=client, token=token, raw=raw, what="token")
    return _client_page(client, form, 422)


@admin_bp.route("/api-clients/<int:client_id>/tokens/<int:token_id>/scopes", methods=["GET", "POST"])
@require(MANAGE_CLIENTS)
def edit_token_scopes(client_id: int, token_id: int):
    """Change the scopes of a token (from its next call)."""
    token = _token(client_id, token_id)
    form = TokenScopesForm() if request.method == "POST" else TokenScopesForm(formdata=None,
                                                                                  scopes=sorted(token.scope_set))
    if form.validate_on_submit():
        try:
            tokens.update_scopes(token, form.scopes.data)
        except ServiceError as error:
            form.apply_error(error)
        else:
            flash(f"已修改令牌“{token.name}”的接口范围。", "success")
            return redirect(url_for("api_admin.show_client", client_id=client_id), 303)
    return render("api/token_scopes.html", status=422 if request.method == "POST" else 200, form=form, token=token)


def _token(client_id: int, token_id: int) -> ApiToken:
    token = get_or_404(ApiToken, token_id)
    if token.client_id != client_id:
        get_or_404(ApiToken, -1)
    return token


@admin_bp.route("/api-clients/<int:client_id>/tokens/<int:token_id>/revoke", methods=["POST"])
@require(MANAGE_CLIENTS)
def revoke_token(client_id: int, token_id: int):
    """Stop a token at once (it stays in the list, marked revoked)."""
    token = _token(client_id, token_id)
    try:
        tokens.revoke_token(token)
    except ServiceError as error:
        flash(error.message, "warning")
    else:
        flash(f"已停用令牌“{token.name}”（{token.token_prefix}…）。", "success")
    return htmx_redirect(url_for("api_admin.show_client", client_id=client_id))


@admin_bp.route("/api-clients/<int:client_id>/secret", methods=["POST"])
@require(MANAGE_CLIENTS)
def rotate_secret(client_id: int):
    """A new signed-link secret (the old one stops at once), shown on the next page once."""
    client = get_or_404(ApiClient, client_id)
    try:
        secret = clients.rotate_secret(client)
    except ServiceError as error:
        flash(error.message, "warning")
        return htmx_redirect(url_for("api_admin.show_client", client_id=client_id))
    return render("api/secret_once.html", client=client, raw=secret, what="secret")


def _period() -> tuple:
    today = local_today()
    last = arg_date("to") or today
    first = arg_date("from") or last - timedelta(days=29)
    if first > last:
        raise bad_request("开始日期不能晚于结束日期。")
    if (last - first).days >= MAX_DAYS:
        raise bad_request(f"查询期间最长 {MAX_DAYS} 天。")
    client_id = arg_int("client")
    return first, last, client_id, {"from": first.isoformat(), "to": last.isoformat(), "client": client_id or ""}


@admin_bp.route("/api-registry")
@require(MANAGE_CLIENTS)
def registry():
    """The interface registry (接口清单): endpoints and client systems with calls, error rates and last call."""
    first, last, client_id, args = _period()
    data = queries.registry(first, last, client_id)
    return render("api/registry.html", "api/_registry_tables.html", data=data, args=args, first=first, last=last,
                  client_id=client_id, clients=queries.all_clients(), scopes=SCOPES)


def _rate(usage) -> str:
    return f"{usage.error_rate:.1%}" if usage.error_rate is not None else ""


@admin_bp.route("/api-registry/export")
@require(MANAGE_CLIENTS)
def export_registry():
    """The registry as shown (every endpoint, then calls by client system and endpoint), as .xlsx."""
    first, last, client_id, args = _period()
    data = queries.registry(first, last, client_id)
    rows = [("全部", r, r.usage) for r in data.endpoints]
    rows += [(f"{b.client.name}（{b.client.code}）" if b.client else "（无有效令牌）", b.endpoint, b.usage)
             for b in data.breakdown]
    columns = [
        Column("对接系统", lambda r: r[0], 22),
        Column("方法", lambda r: r[1].method, 8),
        Column("接口地址", lambda r: r[1].path, 36),
        Column("版本", lambda r: r[1].version, 6),
        Column("接口范围", lambda r: r[1].declared.scope.code if r[1].declared else "", 12),
        Column("说明", lambda r: r[1].declared.summary if r[1].declared else "未声明的地址", 30),
        Column("调用次数", lambda r: r[2].calls, 10),
        Column("错误次数", lambda r: r[2].errors, 10),
        Column("错误率", lambda r: _rate(r[2]), 10),
        Column("平均耗时（毫秒）", lambda r: round(r[2].avg_ms, 1) if r[2].avg_ms is not None else "", 12),
        Column("最近调用", lambda r: format_datetime(r[2].last_call), 18),
    ]
    return export_rows(rows, columns, "接口清单", args, "api_call")
