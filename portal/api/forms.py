"""The API token form."""

from __future__ import annotations

from wtforms import StringField

from portal.core.forms import PortalForm, length, required


class TokenForm(PortalForm):
    name = StringField("令牌名称", validators=[required("请填写令牌名称"), length(100)],
                       description="写明调用方与用途，如“HIS 次日计划接口”")
    login_name = StringField("所属账户（登录名）", validators=[required("请填写所属账户的登录名"), length(64)],
                             description="令牌以该账户的角色与权限调用接口，审计日志记为该账户")
