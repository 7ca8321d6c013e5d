"""Medical quality data (医疗质量管理): discharges and surgeries from HIS, quality events imported by date,
the monthly summary kept current by every write, and the performance indicators (公立医院绩效考核).

Sub-areas: ``discharges``, ``surgeries``, ``events`` (imports, lists, matching), ``indicators`` (definitions,
the report and the dashboard). The surgeon and department report suite, privilege checks after the fact
(violations, overlaps, planned vs actual) and outcomes for re-privileging plug in as further sub-areas reading
the same tables (``quality_surgeries`` by surgeon and date, ``quality_events`` by surgery).
"""

from flask import Blueprint

from portal.core.domains import Domain, NavEntry
from portal.core.permissions import register

bp = Blueprint("quality", __name__, url_prefix="/quality")

GROUP = "医疗质量"
VIEW = register("quality.view", "查看医疗质量数据",
                "查看出院与手术记录、质量事件和绩效考核指标（科主任限本科室，病案号脱敏）", GROUP)
IMPORT = register("quality.import", "导入医疗质量数据",
                  "导入出院记录、手术记录与质量事件，更正未关联的事件；HIS 推送所用账户也需要它", GROUP)
from .violations import HANDLE  # noqa: E402

DOMAIN = Domain(
    name="quality",
    label=GROUP,
    blueprints=[bp],
    models=["portal.quality.models"],
    permissions=[VIEW, IMPORT, HANDLE],
    grants={"ma_admin": [VIEW, IMPORT, HANDLE, "io.import"], "ma_staff": [VIEW, IMPORT, HANDLE, "io.import"],
            "dept_head": [VIEW, HANDLE],
            "dept_secretary": [VIEW]},
    imports=["portal.quality.discharges.imports", "portal.quality.surgeries.imports",
             "portal.quality.events.imports"],
    reports=["portal.quality.indicators.reports", "portal.quality.reports.surgeries"],
    api=["portal.quality.api"],
    nav=[NavEntry("医务管理", "绩效考核指标", "quality.indicator_dashboard", VIEW, 40),
         NavEntry("医务管理", "出院记录", "quality.list_discharges", VIEW, 41),
         NavEntry("医务管理", "手术记录", "quality.list_surgeries", VIEW, 42),
         NavEntry("医务管理", "质量事件", "quality.list_events", VIEW, 43),
         NavEntry("医务管理", "事后监管", "quality.list_violations", HANDLE, 44)],
    notify_categories={"quality_risk": "手术风险预警"},
    audit_labels={"quality_discharge": "出院记录", "quality_surgery": "手术记录", "quality_event": "质量事件",
                  "quality_summaries": "医疗质量月汇总", "quality_violation": "事后监管问题"},
    demo="portal.quality.demo:build",
    bench="bench.generate_quality:generate_quality",
    bench_load="bench.load_quality:load",
    summaries="portal.quality.reports.summary:rebuild_all",
)

from . import lookups  # noqa: E402,F401
from .discharges import views as _discharge_views  # noqa: E402,F401
from .events import views as _event_views  # noqa: E402,F401
from .indicators import views as _indicator_views  # noqa: E402,F401
from .surgeries import views as _surgery_views  # noqa: E402,F401
from .violations import views as _violation_views  # noqa: E402,F401
