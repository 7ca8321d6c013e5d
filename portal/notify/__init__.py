"""In-app notifications, and WeCom message push through the outbox."""

from flask import Blueprint

from portal.core.domains import Domain, NavEntry, Schedule
from portal.core.permissions import register

bp = Blueprint("notify", __name__, url_prefix="/notifications")

VIEW_OUTBOX = register("notify.outbox", "消息推送记录", "查看企业微信推送记录与失败原因，重新发送", "系统管理")

DOMAIN = Domain(
    name="notify",
    label="消息通知",
    blueprints=[bp],
    panels=["portal.notify.panels"],
    models=["portal.notify.models"],
    permissions=[VIEW_OUTBOX],
    grants={"sysadmin": [VIEW_OUTBOX], "ma_admin": [VIEW_OUTBOX]},
    nav=[NavEntry("系统管理", "消息推送记录", "notify.list_outbox", VIEW_OUTBOX, 70)],
    schedules=[
        # Every minute: messages whose enqueue failed (Redis down) or whose delivery is due again.
        Schedule("sweep_outbox", "jobs.notify.sweep_outbox", interval="OUTBOX_SWEEP_SECONDS"),
    ],
    audit_labels={"outbox_message": "推送消息"},
    bench="bench.generate_notify:generate",
)

from . import views  # noqa: E402,F401
