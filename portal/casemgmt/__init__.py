"""Case management (个案管理): patients, pathways, the 17:00 next-day plan, daily tasks, the ledger,
satisfaction, adverse events, KPIs and the monthly assessment."""

from flask import Blueprint

from portal.core.domains import Domain, NavEntry, Schedule
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

# The previous seeded grants of the case-management roles.
CM_MANAGER = [VIEW_PATIENTS, ENROL, TASKS, LEDGER, EVENTS]
CM_SUPERVISOR = [*CM_MANAGER, VIEW_ALL, REVEAL, PATHWAYS, ASSIGN, KPI, "io.import"]
CM_ISSUER = [VIEW_PATIENTS, VIEW_ALL, PLAN, KPI, ASSESS, LEDGER, "io.import"]

DOMAIN = Domain(
    name="casemgmt",
    label=GROUP,
    blueprints=[bp],
    models=["portal.casemgmt.models"],
    permissions=[VIEW_PATIENTS, VIEW_ALL, REVEAL, ENROL, PATHWAYS, PLAN, TASKS, ASSIGN, LEDGER, EVENTS, KPI, ASSESS],
    grants={"ma_admin": [KPI, ASSESS, VIEW_ALL], "cm_supervisor": CM_SUPERVISOR, "case_manager": CM_MANAGER,
            "plan_issuer": CM_ISSUER},
    imports=["portal.casemgmt.plans.imports", "portal.casemgmt.patients.imports"],
    exports=["portal.casemgmt.ledger.views"],
    reports=["portal.casemgmt.reports", "portal.casemgmt.kpis.reports", "portal.casemgmt.assessment.reports"],
    panels=["portal.casemgmt.panels"],
    api=["portal.casemgmt.api"],
    nav=[NavEntry(GROUP, "今日任务", "casemgmt.list_tasks", TASKS, 10),
         NavEntry(GROUP, "任务分派", "casemgmt.task_overview", ASSIGN, 12),
         NavEntry(GROUP, "患者管理", "casemgmt.list_patients", VIEW_PATIENTS, 20),
         NavEntry(GROUP, "次日服务计划", "casemgmt.list_plans", PLAN, 30),
         NavEntry(GROUP, "管理路径", "casemgmt.list_pathways", PATHWAYS, 60),
         NavEntry(GROUP, "服务台账", "casemgmt.list_ledger", LEDGER, 60),
         NavEntry(GROUP, "月度服务报表", "casemgmt.monthly_report", LEDGER, 61),
         NavEntry(GROUP, "满意度调查", "casemgmt.list_surveys", LEDGER, 62),
         NavEntry(GROUP, "不良事件与投诉", "casemgmt.list_events", EVENTS, 63),
         NavEntry(GROUP, "个案负荷", "casemgmt.list_caseloads", KPI, 70),
         NavEntry(GROUP, "病区覆盖", "casemgmt.list_ward_coverage", ASSIGN, 75),
         NavEntry(GROUP, "指标看板", "casemgmt.kpi_dashboard", KPI, 80),
         NavEntry(GROUP, "月度考核", "casemgmt.list_assessments", KPI, 85)],
    schedules=[
        # 17:05: the next-day plan is due by 17:00, so an item submitted at 16:59 is already in.
        # Anything later is applied to the built lists as a plan revision (tasks.apply_plan_revision).
        Schedule("build_tomorrows_tasks", "jobs.casemgmt.build_tomorrows_tasks", cron="5 17 * * *"),
    ],
    audit_labels={"patient": "患者", "enrolment": "入组", "handover_note": "交接记录", "ward_coverage": "病区覆盖",
                  "pathway": "管理路径", "plan": "次日服务计划", "plan_item": "计划项目", "care_task": "个案任务",
                  "care_task_list": "每日任务清单", "ledger_entry": "服务台账", "satisfaction_survey": "满意度调查",
                  "adverse_event": "不良事件与投诉", "casemgmt_kpi": "个案管理指标", "monthly_assessment": "月度考核"},
    notify_categories={"casemgmt": "个案管理"},
    demo="portal.casemgmt.demo:build",
    bench="bench.generate_casemgmt:generate_casemgmt",
    bench_load="bench.load_casemgmt:load",
    summaries="portal.casemgmt.summaries:rebuild",
)


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
