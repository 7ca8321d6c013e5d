"""The technology catalogue (技术目录): entries, revisions, new technologies and restricted-technology filings."""

from flask import Blueprint

from portal.core.domains import Domain
from portal.core.permissions import register

bp = Blueprint("catalogue", __name__, url_prefix="/catalogue")

VIEW = register("catalogue.view", "查看技术目录", "查看技术目录、历史版本与可开展人员", "技术目录")
MANAGE = register("catalogue.manage", "维护技术目录", "新增、修改、停用技术目录条目，导入手术字典", "技术目录")

DOMAIN = Domain(
    name="catalogue",
    label="技术目录",
    blueprints=[bp],
    models=["portal.catalogue.models"],
    permissions=[VIEW, MANAGE],
    grants={"ma_admin": [VIEW, MANAGE], "ma_staff": [VIEW, MANAGE], "dept_head": [VIEW]},
)
