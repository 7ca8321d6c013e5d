"""Study records (业务学习管理): each clinical department's monthly study plan and the record of every session,
reviewed by medical affairs through the approval engine; attendance ticked or signed in on the phone; the
departments x months matrix; reminders."""

from flask import Blueprint

from portal.core.domains import Domain, NavEntry, Process, Schedule, Step
from portal.core.permissions import register

bp = Blueprint("study", __name__, url_prefix="/study")

GROUP = "业务学习"
VIEW = register("study.view", "查看业务学习", "查看数据范围内科室的学习计划、学习记录与完成情况矩阵", GROUP)
SUBMIT = register("study.submit", "填报业务学习", "本科室填报月度学习计划与学习记录、勾选出勤并提交医务科审核", GROUP)
SIGNIN = register("study.signin", "学习签到", "在学习时间内用手机签到，查看本人学时", GROUP)

DOMAIN = Domain(
    name="study",
    label=GROUP,
    blueprints=[bp],
    models=["portal.study.models"],
    permissions=[VIEW, SUBMIT, SIGNIN],
    grants={"ma_admin": [VIEW, SIGNIN], "ma_staff": [VIEW, SIGNIN], "dept_head": [VIEW, SUBMIT, SIGNIN],
            "dept_secretary": [VIEW, SUBMIT, SIGNIN], "clinician": [SIGNIN]},
    subjects=["portal.study.reviews"],
    processes=[Process("study_plan", "学习计划审核", "科室月度业务学习计划的审核", True,
                       [Step("医务科审核", "role", "ma_staff", hours=72)]),
               Process("study_record_review", "学习记录审核", "科室业务学习记录（出勤、纪要、照片）的审核", True,
                       [Step("医务科审核", "role", "ma_staff", hours=72)])],
    panels=["portal.study.panels"],
    nav=[NavEntry("医务管理", "业务学习", "study.matrix", VIEW, 55),
         NavEntry("医务管理", "我的学时", "study.my_hours", SIGNIN, 56)],
    schedules=[Schedule("study_reminders", "jobs.study.send_reminders", cron="30 8 * * *")],
    audit_labels={"study_plan": "学习计划", "study_record": "学习记录", "study_attendance": "学习出勤"},
    notify_categories={"study": "业务学习"},
    demo="portal.study.demo:build",
    bench="bench.generate_study:generate",
    bench_load="bench.load_study:load",
)

from .attendance import views as _attendance_views  # noqa: E402,F401
from .matrix import views as _matrix_views  # noqa: E402,F401
from .plans import views as _plan_views  # noqa: E402,F401
from .records import views as _record_views  # noqa: E402,F401
