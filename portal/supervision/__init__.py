"""The supervision loop (督导 -> 反馈 -> 整改 -> 评价)."""

from flask import Blueprint

from portal.core import nav
from portal.core.permissions import register

bp = Blueprint("supervision", __name__, url_prefix="/supervision")

VIEW = register("supervision.view", "查看督导问题", "查看数据范围内的督导问题与整改情况", "督导整改")
ISSUE = register("supervision.issue", "下发督导问题", "向科室下发督导问题并设定整改期限", "督导整改")
ANSWER = register("supervision.answer", "提交整改", "本科室对督导问题提交整改措施与证明材料", "督导整改")

nav.add("医务管理", "督导整改", "supervision.list_findings", VIEW, 50)

from . import panels, services, views  # noqa: E402,F401
