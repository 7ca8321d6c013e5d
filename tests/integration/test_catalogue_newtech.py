"""New technologies: the application through the engine (department head, medical affairs, both committees),
the trial with its scheduled reports, return and resubmission, reports reviewed by medical affairs, the
closing decision both ways with catalogue revisions, reminders, and bad input on every form."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, time

import pytest
from sqlalchemy import func, select

from portal.approvals.models import ApprovalInstance, Committee
from portal.auth.models import User
from portal.catalogue.models import NewTechProject, NewTechReport, Technology, TechnologyRevision
from portal.catalogue.newtech import services
from portal.catalogue.newtech.demo import make_technology
from portal.core import timeutil
from portal.core.audit import AuditLog
from portal.core.timeutil import LOCAL_TZ
from portal.extensions import db
from portal.notify.models import Notification
from tests.conftest import text_of
from tests.factories import make_staff, make_user

TODAY = date(2026, 3, 2)
PDF = b"%PDF-1.4\n%test\n%%EOF\n"


@pytest.fixture(autouse=True)
def pinned_clock(monkeypatch):
    noon = datetime.combine(TODAY, time(12), LOCAL_TZ).astimezone(UTC)
    monkeypatch.setattr(timeutil, "_now", lambda: noon)


@pytest.fixture
def people(tree):
    class P:
        doc = make_user("doc", ["clinician"], tree.cardiology, name="刘医生")
        head = make_user("head", ["dept_head"], tree.cardiology, name="张主任")
        ma = make_user("ma", ["ma_staff"], tree.hospital, name="医务科陈")
        boss = make_user("boss", ["ma_admin"], tree.hospital, name="医务科李")
        tech_member = make_user("t1", ["committee"], tree.surgery, name="技术委员")
        ethics_member = make_user("e1", ["committee"], tree.orthopaedics, name="伦理委员")
        outsider = make_user("odoc", ["clinician"], tree.surgery, name="外科医生")
        lead = make_staff("王负责人", tree.cardiology, employee_no="C7001")
    committees = {c.code: c for c in db.session.scalars(select(Committee))}
    committees["tech"].members.append(db.session.get(User, P.tech_member.id))
    committees["ethics"].members.append(db.session.get(User, P.ethics_member.id))
    doc = db.session.get(User, P.doc.id)
    doc.staff.employee_no = "C7002"
    db.session.commit()
    return P


def application(tree, **changes):
    return {"name": "冠状动脉内冲击波球囊成形术", "code": "xjs-2026-01", "category": "interventional", "grade": "4",
            "department_id": str(tree.cardiology.id), "lead_employee_no": "C7002", "trial_months": "30",
            "description": "以冲击波球囊处理重度钙化病变。", "risk_assessment": "冠脉夹层、穿孔；术者需完成培训。",
            **changes}


def switch(client, login):
    client.submit("/logout")
    client.login(login)


def approve(client, instance_id, login, action="approve", comment="同意"):
    switch(client, login)
    response = client.submit(f"/approvals/{instance_id}/act", {"action": action, "comment": comment})
    assert response.status_code == 303, (login, text_of(response)[-300:])


def apply(client, tree, **changes) -> NewTechProject:
    client.login("doc")
    response = client.submit("/catalogue/newtech/new", {
        **application(tree, **changes), "attachments": (io.BytesIO(PDF), "可行性论证.pdf")},
        content_type="multipart/form-data")
    assert response.status_code == 303, text_of(response)[-400:]
    return db.session.scalar(select(NewTechProject).order_by(NewTechProject.id.desc()))


def approve_all(client, project):
    for login in ("head", "ma", "t1", "e1"):
        approve(client, project.approval_id, login)
    return db.session.get(NewTechProject, project.id, populate_existing=True)


def test_approval_starts_the_trial_with_its_reports_and_a_new_entry(client, tree, people):
    project = apply(client, tree)
    assert project.status == "applying" and project.code == "XJS-2026-01"
    instance = db.session.get(ApprovalInstance, project.approval_id)
    assert [s.name for s in instance.process.steps] == ["科主任审核", "医务科审核", "技术临床应用管理委员会审议",
                                                       "医学伦理委员会审查"]
    switch(client, "head")  # the approver reads the application on the approval page
    summary = text_of(client.get(f"/approvals/{project.approval_id}"))
    assert "技术负责人" in summary and "刘医生（C7002）" in summary and "可行性论证.pdf" in summary
    project = approve_all(client, project)
    assert project.status == "trial"
    assert (project.trial_start, project.trial_end) == (TODAY, date(2028, 9, 2))
    reports = [(r.kind, r.sequence, r.due_date) for r in project.reports]
    assert reports == [("annual", 1, date(2027, 3, 2)), ("interim", 1, date(2027, 6, 2)),
                       ("annual", 2, date(2028, 3, 2)), ("final", 1, date(2028, 9, 2))]
    tech = db.session.get(Technology, project.technology_id)
    assert (tech.code, tech.new_tech, tech.restricted, tech.status) == ("XJS-2026-01", True, False, "active")
    assert [d.id for d in tech.departments] == [tree.cardiology.id]
    revisions = db.session.scalars(select(TechnologyRevision).where(TechnologyRevision.technology_id == tech.id)).all()
    assert [(r.revision, r.source, r.data["new_tech"]) for r in revisions] == [(1, "newtech", True)]
    lead_titles = db.session.scalars(select(Notification.title).where(Notification.user_id == people.doc.id)).all()
    assert "新技术获批进入试用期：冠状动脉内冲击波球囊成形术" in lead_titles
    switch(client, "doc")
    page = text_of(client.get(f"/catalogue/newtech/{project.id}"))
    assert "第 1 年年度报告" in page and "中期报告" in page and "总结报告" in page
    switch(client, "odoc")  # another department's clinician does not see it
    assert client.get(f"/catalogue/newtech/{project.id}").status_code == 404
    assert "冲击波" not in text_of(client.get("/catalogue/newtech"))


def test_an_existing_entry_is_linked_and_revised(client, tree, people):
    existing = make_technology("XJS-2026-01", "冲击波球囊", "interventional", 3, [tree.surgery])
    db.session.commit()
    project = approve_all(client, apply(client, tree))
    assert project.technology_id == existing.id
    tech = db.session.get(Technology, existing.id, populate_existing=True)
    assert tech.new_tech and tech.revision == 2
    assert sorted(d.id for d in tech.departments) == sorted([tree.surgery.id, tree.cardiology.id])
    sources = db.session.scalars(select(TechnologyRevision.source).where(
        TechnologyRevision.technology_id == tech.id).order_by(TechnologyRevision.revision)).all()
    assert sources == ["form", "newtech"]


def test_returned_application_is_corrected_and_resubmitted(client, tree, people):
    project = apply(client, tree)
    approve(client, project.approval_id, "head", "return", "请补充风险评估")
    assert db.session.get(NewTechProject, project.id, populate_existing=True).status == "returned"
    switch(client, "doc")
    page = text_of(client.get(f"/catalogue/newtech/{project.id}"))
    assert "修改并重新提交" in page
    bad = client.submit(f"/catalogue/newtech/{project.id}/resubmit", application(tree, risk_assessment=""))
    assert bad.status_code == 422 and "请填写风险评估" in text_of(bad)
    assert db.session.get(NewTechProject, project.id, populate_existing=True).status == "returned"
    response = client.submit(f"/catalogue/newtech/{project.id}/resubmit",
                             application(tree, risk_assessment="补充：术中备体外循环。", trial_months="12"))
    assert response.status_code == 303, text_of(response)[-300:]
    project = db.session.get(NewTechProject, project.id, populate_existing=True)
    assert (project.status, project.trial_months, project.risk_assessment) == ("applying", 12, "补充：术中备体外循环。")
    assert db.session.get(ApprovalInstance, project.approval_id, populate_existing=True).status == "pending"
    project = approve_all(client, project)
    assert [r.kind for r in project.reports] == ["interim", "final"]


def test_rejection_ends_the_application(client, tree, people):
    project = apply(client, tree)
    approve(client, project.approval_id, "head")
    approve(client, project.approval_id, "ma", "reject", "不具备开展条件")
    assert db.session.get(NewTechProject, project.id, populate_existing=True).status == "rejected"
    assert db.session.scalar(select(func.count()).select_from(Technology)) == 0


def test_reports_reviewed_and_the_trial_becomes_routine(client, tree, people):
    project = approve_all(client, apply(client, tree, trial_months="12"))
    interim = project.reports[0]
    switch(client, "doc")
    empty = client.submit(f"/catalogue/newtech/reports/{interim.id}", {"content": ""})
    assert empty.status_code == 422 and "请填写报告内容" in text_of(empty)
    assert db.session.get(NewTechReport, interim.id, populate_existing=True).status == "due"
    response = client.submit(f"/catalogue/newtech/reports/{interim.id}",
                             {"content": "已开展 12 例，无严重并发症。",
                              "attachments": (io.BytesIO(PDF), "病例汇总.pdf")}, content_type="multipart/form-data")
    assert response.status_code == 303
    report = db.session.get(NewTechReport, interim.id, populate_existing=True)
    assert report.status == "submitted"
    approve(client, report.approval_id, "ma", "return", "请附并发症统计")
    assert db.session.get(NewTechReport, interim.id, populate_existing=True).status == "returned"
    switch(client, "doc")
    assert client.submit(f"/catalogue/newtech/reports/{interim.id}",
                         {"content": "已开展 12 例，并发症 0 例（附统计）。"}).status_code == 303
    approve(client, report.approval_id, "ma")
    assert db.session.get(NewTechReport, interim.id, populate_existing=True).status == "accepted"
    # The outsider and medical affairs cannot submit the lead's report.
    switch(client, "ma")
    final = project.reports[-1]
    refused = client.submit(f"/catalogue/newtech/reports/{final.id}", {"content": "代交"})
    assert refused.status_code == 403
    # The closing decision: bad input first, then 转常规.
    for data, message in (({"decision": "", "reason": "x"}, "请选择结论"),
                          ({"decision": "routine", "reason": ""}, "请填写结论理由"),
                          ({"decision": "later", "reason": "x"}, "不是有效的选择")):
        response = client.submit(f"/catalogue/newtech/{project.id}/decision", data)
        assert response.status_code == 422 and message in text_of(response), data
    assert db.session.get(NewTechProject, project.id, populate_existing=True).status == "trial"
    assert client.submit(f"/catalogue/newtech/{project.id}/decision",
                         {"decision": "routine", "reason": "试用期满，疗效确切"}).status_code == 303
    project = db.session.get(NewTechProject, project.id, populate_existing=True)
    tech = db.session.get(Technology, project.technology_id, populate_existing=True)
    assert project.status == "routine" and not tech.new_tech and tech.status == "active" and tech.revision == 2
    last = db.session.scalar(select(TechnologyRevision).where(TechnologyRevision.technology_id == tech.id,
                                                              TechnologyRevision.revision == 2))
    assert last.source == "newtech" and last.data["new_tech"] is False and "疗效确切" in last.reason
    assert last.changed_by_id == people.ma.id
    assert client.submit(f"/catalogue/newtech/{project.id}/decision",
                         {"decision": "terminated", "reason": "再来一次"}).status_code == 409
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.entity_type == "catalogue_newtech", AuditLog.entity_id == str(project.id))) >= 3


def test_termination_disables_the_entry(client, tree, people):
    project = approve_all(client, apply(client, tree, trial_months="6"))
    switch(client, "doc")  # a clinician may not decide
    assert client.submit(f"/catalogue/newtech/{project.id}/decision",
                         {"decision": "terminated", "reason": "x"}).status_code == 403
    switch(client, "boss")
    assert client.submit(f"/catalogue/newtech/{project.id}/decision",
                         {"decision": "terminated", "reason": "出现严重不良事件"}).status_code == 303
    tech = db.session.get(Technology, project.technology_id, populate_existing=True)
    assert tech.status == "disabled" and tech.revision == 2
    data = db.session.scalar(select(TechnologyRevision.data).where(TechnologyRevision.technology_id == tech.id,
                                                                   TechnologyRevision.revision == 2))
    assert data["status"] == "disabled"
    assert db.session.get(NewTechProject, project.id).status == "terminated"


def test_bad_applications_are_refused_and_nothing_is_written(client, tree, people):
    client.login("doc")
    cases = [
        ({"name": ""}, "请填写技术名称"),
        ({"code": "编码 有空格"}, "编码应为"),
        ({"category": "magic"}, "不是有效的选择"),
        ({"grade": "7"}, "不是有效的选择"),
        ({"department_id": str(tree.surgery.id)}, "不是有效的选择"),  # not the clinician's department
        ({"lead_employee_no": "X0000"}, "找不到该工号"),
        ({"trial_months": "99"}, "试用期应为 3–36 个月"),
        ({"trial_months": "abc"}, "试用期"),
        ({"description": ""}, "请填写技术说明"),
        ({"risk_assessment": "长" * 5001}, "不能超过 5000 个字符"),
    ]
    for changes, message in cases:
        response = client.submit("/catalogue/newtech/new", application(tree, **changes))
        assert response.status_code == 422, (changes, text_of(response)[-300:])
        assert message in text_of(response), (changes, text_of(response)[-300:])
    bad_file = client.submit("/catalogue/newtech/new",
                             {**application(tree), "attachments": (io.BytesIO(b"MZ"), "a.exe")},
                             content_type="multipart/form-data")
    assert bad_file.status_code == 422 and "附件只接受" in text_of(bad_file)
    assert db.session.scalar(select(func.count()).select_from(NewTechProject)) == 0
    assert db.session.scalar(select(func.count()).select_from(ApprovalInstance)) == 0
    # A second application for a code already in progress is refused.
    apply(client, tree)
    again = client.submit("/catalogue/newtech/new", application(tree))
    assert again.status_code == 409 and "已有进行中的新技术项目" in text_of(again)


def test_report_reminders_once_per_threshold(session, tree, people):
    project = NewTechProject(name="测试技术", code="T-1", category="surgery", grade=3, department_id=tree.cardiology.id,
                             lead_staff_id=db.session.get(User, people.doc.id).staff_id, applicant_id=people.doc.id,
                             description="x", risk_assessment="y", trial_months=6, status="applying")
    db.session.add(project)
    db.session.flush()
    services.start_trial(project, today=date(2026, 4, 1))  # interim due 2026-07-01 (Wednesday)
    interim = project.reports[0]
    assert interim.due_date == date(2026, 7, 1)

    def count(user):
        return db.session.scalar(select(func.count()).select_from(Notification).where(
            Notification.user_id == user.id, Notification.title.like("新技术进展报告%")))

    for day in range(20, 31):
        for _ in range(2):
            services.remind_reports(date(2026, 6, day))
    for _ in range(2):
        services.remind_reports(date(2026, 7, 1))
        services.remind_reports(date(2026, 7, 2))
    # 5 working days before (06-24), 1 before (06-30), on the day (07-01): three to the lead, one to the office.
    assert count(people.doc) == 3 and count(people.ma) == 1


def test_lists_and_panel(client, tree, people):
    project = approve_all(client, apply(client, tree, trial_months="3"))
    project.reports[0].due_date = date(2026, 3, 10)  # due within the panel's 30 days
    db.session.commit()
    switch(client, "doc")
    listing = text_of(client.get("/catalogue/newtech?status=trial"))
    assert "冠状动脉内冲击波球囊成形术" in listing and "中期报告" in listing
    assert client.htmx_get("/catalogue/newtech?due=overdue").status_code == 200
    panel = client.htmx_get("/panels/catalogue.newtech_reports")
    assert panel.status_code == 200
    assert "冠状动脉内冲击波球囊成形术" in text_of(panel) and "中期报告" in text_of(panel)
