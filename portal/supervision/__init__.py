"""The supervision loop (督导 -> 反馈 -> 整改 -> 评价): the small domain to copy."""

from flask import Blueprint

from portal.core.domains import Domain, NavEntry, Process, Step
from portal.core.permissions import register

bp = Blueprint("supervision", __name__, url_prefix="/supervision")

VIEW = register("supervision.view", "查看督导问题", "查看数据范围内的督导问题与整改情况", "督导整改")
ISSUE = register("supervision.issue", "下发督导问题", "向科室下发督导问题并设定整改期限", "督导整改")
ANSWER = register("supervision.answer", "提交整改", "本科室对督导问题提交整改措施与证明材料", "督导整改")

DOMAIN = Domain(
    name="supervision",
    label="督导整改",
    blueprints=[bp],
    models=["portal.supervision.models"],
    permissions=[VIEW, ISSUE, ANSWER],
    grants={"ma_admin": [VIEW, ISSUE], "ma_staff": [VIEW, ISSUE], "dept_head": [VIEW, ANSWER],
            "dept_secretary": [VIEW, ANSWER]},
    subjects=["portal.supervision.services"],
    processes=[Process("rectification", "整改评价", "督导问题整改的评价", False,
                       [Step("医务科评价", "role", "ma_staff", hours=120)])],
    panels=["portal.supervision.panels"],
    nav=[NavEntry("医务管理", "督导整改", "supervision.list_findings", VIEW, 50)],
    bench="bench.generate_supervision:generate",
)

from . import views  # noqa: E402,F401
