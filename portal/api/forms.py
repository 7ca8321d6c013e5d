"""Forms of the client-system pages: the client system, a token with its scopes, a token's scopes."""

from __future__ import annotations

from wtforms import BooleanField, StringField, TextAreaField

from portal.core.forms import MultiChoiceField, PortalForm, length, optional, required, select_choices

from .registry import scope_choices


class ClientForm(PortalForm):
    code = StringField("系统代码", validators=[required("请填写系统代码"), length(32)],
                       description="字母、数字、下划线或连字符，如 HIS、HR；签名链接中的 client 参数")
    name = StringField("系统名称", validators=[required("请填写系统名称"), length(100)],
                       description="如“东华 HIS”“人事系统”")
    contact = StringField("联系人", validators=[optional(), length(100)], description="厂商或信息科联系人与电话")
    notes = TextAreaField("备注", validators=[optional(), length(2000)])
    is_active = BooleanField("启用", default=True)


class ScopesField(MultiChoiceField):
    pass


class TokenForm(PortalForm):
    name = StringField("令牌名称", validators=[required("请填写令牌名称"), length(100)],
                       description="写明用途，如“HIS 次日计划接口”")
    login_name = StringField("所属账户（登录名）", validators=[required("请填写所属账户的登录名"), length(64)],
                             description="令牌以该账户调用接口：账户还需有接口所需的权限，审计日志记为该账户")
    scopes = ScopesField("接口范围", validators=[required("请至少勾选一个接口范围")])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.scopes.choices = select_choices(scope_choices())


class TokenScopesForm(PortalForm):
    scopes = ScopesField("接口范围", validators=[required("请至少勾选一个接口范围")])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.scopes.choices = select_choices(scope_choices())
