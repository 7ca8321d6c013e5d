"""Demo data: a template library (PDF, image, Excel and Word templates, one with two versions) and projects in
every state — a draft, one in progress with materials in each state, one overdue, one closed and archived."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from portal.approvals import services as approvals
from portal.approvals.models import ApprovalTask
from portal.core.timeutil import local_today
from portal.extensions import db

from . import samples
from .models import ProjectTask
from .projects import services as projects
from .tasks import services as tasks
from .templates import services as library


def _review(item, reviewer, action: str, comment: str) -> None:
    task_id = db.session.scalar(select(ApprovalTask.id).where(ApprovalTask.instance_id == item.approval_id,
                                                              ApprovalTask.status == "pending"))
    approvals.act(task_id, reviewer, action, comment)


def build(demo) -> None:
    d, u = demo.departments, demo.users
    reviewer = u.get("yiwu2") or u["yiwu"]
    today = local_today()
    forms = library.add_category("申报材料")
    tables = library.add_category("统计表格")
    pictures = library.add_category("示例图片")
    report = library.create_template(category_id=forms.id, name="科室自查报告模板",
                                     description="按条目填写自查情况与整改措施。", filename="自查报告模板.docx",
                                     content=samples.docx(["科室自查报告", "一、基本情况", "二、存在问题"]))
    library.add_version(report, "自查报告模板（2026修订）.docx",
                        samples.docx(["科室自查报告（2026 修订）", "一、基本情况", "二、存在问题", "三、整改措施",
                                      "四、附件"]),
                        "增加附件一节")
    sheet = library.create_template(category_id=tables.id, name="医疗质量指标统计表",
                                    description="每季度一张。", filename="质量指标统计表.xlsx", content=samples.xlsx(
                                        [["指标", "分子", "分母", "比例"], ["手术并发症发生率", 3, 412, "0.73%"],
                                         ["非计划再次手术率", 2, 412, "0.49%"], ["住院患者死亡率", 5, 2380, "0.21%"]]))
    guide = library.create_template(category_id=forms.id, name="申报书填写说明", description="PDF，可在页面内查看。",
                                    filename="申报书填写说明.pdf", content=samples.pdf("Application guide 2026"))
    photo = library.create_template(category_id=pictures.id, name="现场照片示例", description="拍摄角度与清晰度示例。",
                                    filename="现场照片示例.png", content=samples.png())
    targets = [d[c].id for c in ("XXGNK", "PTWK", "GK", "ZLK") if c in d]
    materials = [projects.MaterialSpec("自查报告", "盖科室章后扫描或上传 Word", report.id),
                 projects.MaterialSpec("质量指标统计表", "", sheet.id),
                 projects.MaterialSpec("现场照片", "不少于 1 张", photo.id)]

    def project(title, category, start, end, deadline, mats=materials):
        return projects.save_draft(None, projects.ProjectData(category, title, f"{title}：请各科室按要求提交材料。",
                                                              start, end, deadline, targets, list(mats)))

    projects.save_draft(None, projects.ProjectData(
        "重点专科", "2027年度院级重点专科申报", "申报书与近三年业务数据。", today + timedelta(days=10),
        today + timedelta(days=90), today + timedelta(days=60), targets,
        [projects.MaterialSpec("申报书", "", guide.id), projects.MaterialSpec("业务数据表", "", sheet.id)]))

    def files_for(item, n=1):
        name = item.material.name
        for version in range(n):
            if item.material.template_id == sheet.id:
                tasks.upload(item, f"{name}.xlsx", samples.xlsx([["指标", "数值"], ["病例数", 120 + version]]))
            elif item.material.template_id == photo.id:
                tasks.upload(item, f"{name}.png", samples.png(rgb=(30 + 40 * version, 90, 160)))
            else:
                tasks.upload(item, f"{name}.pdf", samples.pdf(f"Report v{version + 1}"))

    def people(task):
        ids = projects.department_people(task.department_id)
        return db.session.get(type(reviewer), ids[0]) if ids else None

    # In progress: every cell state.
    running = project("2026年度医疗质量安全自查", "质量安全", today - timedelta(days=10), today + timedelta(days=30),
                      today + timedelta(days=14))
    projects.publish(running)
    for index, task in enumerate(sorted(db.session.scalars(select(ProjectTask).where(
            ProjectTask.project_id == running.id)), key=lambda t: t.department_id)):
        who = people(task)
        items = sorted(task.items, key=lambda i: i.material.position)
        if index == 0 and who:  # all uploaded, submitted; two passed, one returned then uploaded again
            for item in items:
                files_for(item)
            tasks.submit(task, who, "请审核")
            _review(items[0], reviewer, "approve", "材料齐全")
            _review(items[1], reviewer, "approve", "")
            _review(items[2], reviewer, "return", "照片不清晰，请重新拍摄")
            files_for(items[2], 1)
        elif index == 1 and who:
            files_for(items[0], 2)
            files_for(items[1])
            tasks.submit(task, who)
            _review(items[1], reviewer, "return", "分母口径有误")
        elif index == 2:
            files_for(items[0])
    # Overdue: published with a deadline in the past (moved after publishing; the form refuses past deadlines).
    late = project("门诊病历书写质量专项检查", "病历质量", today - timedelta(days=40), today + timedelta(days=20),
                   today + timedelta(days=7), materials[:2])
    projects.publish(late)
    late.deadline = today - timedelta(days=3)
    first = db.session.scalar(select(ProjectTask).where(ProjectTask.project_id == late.id)
                              .order_by(ProjectTask.department_id))
    if first is not None:
        files_for(sorted(first.items, key=lambda i: i.material.position)[0])
    # Closed: everything passed, then closed (its archive downloads every file).
    done = project("2026年上半年抗菌药物专项整治", "合理用药", today - timedelta(days=150), today + timedelta(days=5),
                   today + timedelta(days=2), materials[:2])
    projects.publish(done)
    for task in db.session.scalars(select(ProjectTask).where(ProjectTask.project_id == done.id)):
        who = people(task)
        if who is None:
            continue
        for item in task.items:
            files_for(item)
        tasks.submit(task, who)
        for item in task.items:
            _review(item, reviewer, "approve", "通过")
    projects.close(done, reviewer)
    db.session.flush()
