"""The technology catalogue (技术目录): entries, revisions, new technologies and restricted-technology filings."""

from flask import Blueprint

from portal.core.domains import Domain, NavEntry, Process, Schedule, Step
from portal.core.permissions import register

bp = Blueprint("catalogue", __name__, url_prefix="/catalogue")

VIEW = register("catalogue.view", "查看技术目录", "查看技术目录、历史版本与可开展人员", "技术目录")
MANAGE = register("catalogue.manage", "维护技术目录", "新增、修改、停用技术目录条目，导入手术字典", "技术目录")
FILINGS = register("catalogue.filings", "限制类技术备案", "登记限制类技术首例病例，上传备案材料，登记备案结果",
                   "技术目录")
NEWTECH = register("catalogue.newtech", "申请新技术新项目", "为本科室申请新技术新项目，提交本人项目的进展报告",
                   "技术目录")

DOMAIN = Domain(
    name="catalogue",
    label="技术目录",
    blueprints=[bp],
    models=["portal.catalogue.models"],
    permissions=[VIEW, MANAGE, FILINGS, NEWTECH],
    # Maintaining the catalogue includes loading the hospital's operation dictionary (the Excel import).
    grants={"ma_admin": [VIEW, MANAGE, FILINGS, NEWTECH, "io.import"],
            "ma_staff": [VIEW, MANAGE, FILINGS, NEWTECH, "io.import"],
            "dept_head": [VIEW, NEWTECH], "clinician": [NEWTECH]},
    # New technologies and restricted-technology filings (newtech/, filings/).
    subjects=["portal.catalogue.newtech.services"],
    processes=[Process("newtech", "新技术新项目", "新技术新项目准入：科室、医务科、技术委员会、伦理委员会", True,
                       [Step("科主任审核", "dept_head"), Step("医务科审核", "role", "ma_staff", hours=120),
                        Step("技术临床应用管理委员会审议", "committee", "tech", hours=240),
                        Step("医学伦理委员会审查", "committee", "ethics", hours=240)]),
               Process("newtech_report", "新技术进展报告", "新技术新项目试用期进展报告的审核", True,
                       [Step("医务科审核", "role", "ma_staff", hours=120)])],
    imports=["portal.catalogue.technologies.imports"],
    exports=["portal.catalogue.technologies.exports"],
    panels=["portal.catalogue.panels", "portal.catalogue.filings.panels", "portal.catalogue.newtech.panels"],
    nav=[NavEntry("医务管理", "技术目录", "catalogue.list_technologies", VIEW, 20),
         NavEntry("医务管理", "本科室可开展技术", "catalogue.department_technologies", VIEW, 21),
         NavEntry("医务管理", "限制类技术备案", "catalogue.list_filings", VIEW, 62),
         NavEntry("医务管理", "新技术新项目", "catalogue.list_newtech", NEWTECH, 64)],
    schedules=[Schedule("catalogue_reminders", "jobs.catalogue.send_reminders", cron="10 8 * * *")],
    audit_labels={"technology": "技术目录条目", "catalogue_filing": "限制类技术备案"},
    notify_categories={"catalogue": "技术目录"},
    demo="portal.catalogue.demo:build",
    bench="bench.generate_catalogue:generate",
)

from .filings import views as _filing_views  # noqa: E402,F401
from .newtech import views as _newtech_views  # noqa: E402,F401
from .technologies import views as _technology_views  # noqa: E402,F401
