"""Case management (个案管理): patients, pathways, the 17:00 next-day plan, daily tasks, the ledger,
satisfaction, adverse events, KPIs and the monthly assessment."""

from flask import Blueprint

from portal.core.permissions import register

bp = Blueprint("casemgmt", __name__, url_prefix="/casemgmt")

GROUP = "个案管理"
VIEW_PATIENTS = register("casemgmt.view_patients", "查看患者", "查看负责或覆盖病区的患者（证件号、电话脱敏）", GROUP)
VIEW_ALL = register("casemgmt.view_all", "查看全部个案", "查看全部患者、任务与台账，而不限于本人负责的", GROUP)
REVEAL = register("casemgmt.reveal", "查看完整证件号与电话", "查看患者完整证件号码与电话（每次查看均记录审计）", GROUP)
ENROL = register("casemgmt.enrol", "患者建档与入组", "新建患者、入组、修改关键日期与结案", GROUP)
PATHWAYS = register("casemgmt.pathways", "维护管理路径", "按病种维护管理路径的步骤（发布新版本）", GROUP)
PLAN = register("casemgmt.plan", "下达次日服务计划", "填报、导入与修改次日服务计划", GROUP)
TASKS = register("casemgmt.tasks", "今日任务", "查看并完成本人的每日任务，记录结果与满意度", GROUP)
ASSIGN = register("casemgmt.assign", "任务分派", "生成每日任务清单、改派任务、设置病区覆盖", GROUP)
LEDGER = register("casemgmt.ledger", "服务台账", "查看与导出服务台账、月度服务报表", GROUP)
EVENTS = register("casemgmt.events", "不良事件与投诉", "登记、处理与关闭不良事件和投诉", GROUP)
KPI = register("casemgmt.kpi", "个案管理指标", "查看月度指标、工作量与考核结果", GROUP)
ASSESS = register("casemgmt.assess", "月度考核", "录入月度考核得分与应付金额，计算结算系数", GROUP)

# The routes of each sub-area register on `bp` when their module is imported.
from . import labels  # noqa: E402, F401
from .assessment import views as _assessment_views  # noqa: E402,F401
from .feedback import views as _feedback_views  # noqa: E402,F401
from .kpis import views as _kpi_views  # noqa: E402,F401
from .ledger import views as _ledger_views  # noqa: E402,F401
from .pathways import views as _pathway_views  # noqa: E402,F401
from .patients import views as _patient_views  # noqa: E402,F401
from .plans import views as _plan_views  # noqa: E402,F401
from .tasks import views as _task_views  # noqa: E402,F401
