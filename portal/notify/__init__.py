"""In-app notifications, and WeCom message push through the outbox."""

from flask import Blueprint

from portal.core import nav
from portal.core.audit import register_entity
from portal.core.permissions import register

bp = Blueprint("notify", __name__, url_prefix="/notifications")

VIEW_OUTBOX = register("notify.outbox", "消息推送记录", "查看企业微信推送记录与失败原因，重新发送", "系统管理")

nav.add("系统管理", "消息推送记录", "notify.list_outbox", VIEW_OUTBOX, 70)
register_entity("outbox_message", "推送消息")

from . import panels, views  # noqa: E402,F401
