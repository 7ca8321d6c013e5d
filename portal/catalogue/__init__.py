"""The technology catalogue (技术目录): entries, revisions, new technologies and restricted-technology filings."""

from flask import Blueprint

from portal.core.domains import Domain, NavEntry
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
    # Maintaining the catalogue includes loading the hospital's operation dictionary (the Excel import).
    grants={"ma_admin": [VIEW, MANAGE, "io.import"], "ma_staff": [VIEW, MANAGE, "io.import"], "dept_head": [VIEW]},
    imports=["portal.catalogue.technologies.imports"],
    exports=["portal.catalogue.technologies.exports"],
    panels=["portal.catalogue.panels"],
    nav=[NavEntry("医务管理", "技术目录", "catalogue.list_technologies", VIEW, 20),
         NavEntry("医务管理", "本科室可开展技术", "catalogue.department_technologies", VIEW, 21)],
    audit_labels={"technology": "技术目录条目"},
    demo="portal.catalogue.demo:build",
    bench="bench.generate_catalogue:generate",
)

from .technologies import views as technology_views  # noqa: E402,F401
