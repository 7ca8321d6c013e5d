"""Chinese labels of the client systems' and tokens' fields (audit page) and of the registry's filters."""

from __future__ import annotations

from portal.core import labels

labels.register_fields("api_client", {"code": "系统代码", "name": "系统名称", "contact": "联系人", "notes": "备注",
                                      "is_active": "启用", "secret_rotated_at": "密钥生成时间"})
labels.register_fields("api_token", {"name": "令牌名称", "token_prefix": "令牌前缀", "client_id": "对接系统",
                                     "scopes": "接口范围", "user_id": "所属账户", "is_active": "启用",
                                     "revoked_at": "停用时间"})


def _client_name(value) -> str | None:
    from portal.extensions import db

    from .models import ApiClient

    try:
        client = db.session.get(ApiClient, int(value))
    except (TypeError, ValueError):
        return None
    return f"{client.name}（{client.code}）" if client else None


labels.register_values("api_token", "client_id", _client_name)
labels.register_filters("api_call", {"from": "开始日期", "to": "结束日期", "client": "对接系统"},
                        {"client": _client_name})
