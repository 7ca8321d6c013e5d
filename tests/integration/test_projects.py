"""Medical-affairs projects: drafts, publishing, department uploads with versions, submission and review through
the approval engine, the progress matrix, overdue reminders, the archive zip, scoping and bad input."""

from __future__ import annotations

import io
import os
import zipfile
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

import jobs
from jobs.projects import build_archive, purge_archives, remind_overdue
from portal.approvals.models import ApprovalAttachment, ApprovalInstance, ApprovalTask
from portal.core.audit import AuditLog
from portal.core.redis_conn import get_queue
from portal.core.timeutil import local_today
from portal.extensions import db
from portal.notify.models import Notification, OutboxMessage
from portal.projects import samples
from portal.projects.models import ItemFile, Project, ProjectArchive, ProjectItem, ProjectTask
from portal.projects.projects.services import entry_names
from tests.conftest import text_of
from tests.factories import make_department, make_user
from tests.sqlcount import TRANSACTION_CONTROL, statements


def people(tree):
    return {"yiwu": make_user("yiwu", ["ma_admin", "ma_staff"], tree.hospital, name="医务科李"),
            "sec": make_user("sec", ["dept_secretary"], tree.cardiology, name="心内秘书", wecom_userid="wx_sec"),
            "osec": make_user("osec", ["dept_secretary"], tree.surgery, name="外科秘书")}


def form(departments, materials=("自查报告", "统计表"), days=10, **extra):
    today = local_today()
    data = {"category": "质量安全", "title": "医疗质量安全自查", "description": "按要求提交",
            "starts_on": (today - timedelta(days=1)).isoformat(), "ends_on": (today + timedelta(days=30)).isoformat(),
            "deadline": (today + timedelta(days=days)).isoformat(), "department_ids": [d.id for d in departments]}
    for n, name in enumerate(materials):
        data[f"materials-{n}-name"] = name
        data[f"materials-{n}-note"] = ""
        data[f"materials-{n}-template_id"] = ""
    data.update(extra)
    return data


def publish(client, tree, departments=None, **kw) -> Project:
    client.login("yiwu")
    response = client.submit("/projects/new", form(departments or [tree.cardiology, tree.surgery], **kw))
    assert response.status_code == 303, text_of(response)[-400:]
    project = db.session.scalar(select(Project).order_by(Project.id.desc()))
    assert project.status == "draft"
    assert client.submit(f"/projects/{project.id}/publish").status_code == 303
    client.submit("/logout")
    return db.session.get(Project, project.id, populate_existing=True)


def task_of(project, department) -> ProjectTask:
    return db.session.scalar(select(ProjectTask).where(ProjectTask.project_id == project.id,
                                                       ProjectTask.department_id == department.id))


def items(task) -> list[ProjectItem]:
    return sorted(db.session.scalars(select(ProjectItem).where(ProjectItem.task_id == task.id)
                                     .execution_options(populate_existing=True)),
                  key=lambda i: i.material.position)


def upload(client, task, item, name="report.pdf", content=None):
    return client.post(f"/projects/tasks/{task.id}/items/{item.id}/upload",
                       data={"csrf_token": client.csrf_token(),
                             "file": (io.BytesIO(content if content is not None else samples.pdf("x")), name)},
                       content_type="multipart/form-data")


def test_draft_publish_and_close(client, tree):
    users = people(tree)
    client.login("yiwu")
    response = client.submit("/projects/new", form([tree.cardiology]))
    assert response.status_code == 303
    project = db.session.scalar(select(Project))
    assert project.status == "draft" and [m.name for m in project.materials] == ["自查报告", "统计表"]
    assert db.session.scalar(select(func.count()).select_from(ProjectItem)) == 0
    # A draft can still change: a second department, and one material fewer.
    response = client.submit(f"/projects/{project.id}/edit",
                             form([tree.cardiology, tree.surgery], materials=("自查报告",), title="改后的名称"))
    assert response.status_code == 303
    project = db.session.get(Project, project.id, populate_existing=True)
    assert project.title == "改后的名称" and len(project.materials) == 1
    assert client.submit(f"/projects/{project.id}/publish").status_code == 303
    project = db.session.get(Project, project.id, populate_existing=True)
    pid = project.id
    assert project.status == "published"
    assert db.session.scalar(select(func.count()).select_from(ProjectItem)) == 2
    titles = db.session.scalars(select(Notification.title).where(Notification.user_id == users["sec"].id)).all()
    assert titles == ["医务项目待提交：改后的名称"]
    # Published: no more editing (409) and no second publish.
    assert client.get(f"/projects/{pid}/edit").status_code == 409
    assert client.submit(f"/projects/{pid}/publish").status_code == 409
    assert client.submit(f"/projects/{pid}/close").status_code == 303
    project = db.session.get(Project, pid, populate_existing=True)
    assert project.status == "closed"
    # Closed projects stay searchable; the search swaps only the list (htmx partial).
    assert "改后的名称" in text_of(client.get("/projects?q=改后&status=closed"))
    partial = client.htmx_get("/projects?q=改后&status=closed").get_data(as_text=True)
    assert "改后的名称" in partial and "<html" not in partial
    assert "改后的名称" not in text_of(client.get("/projects?q=没有这个"))


def test_bad_project_input_is_refused(client, tree):
    people(tree)
    client.login("yiwu")
    today = local_today()
    bad = form([tree.cardiology], deadline=(today + timedelta(days=60)).isoformat())
    response = client.submit("/projects/new", bad)
    assert response.status_code == 422 and "提交截止日期应在项目起止日期之内" in text_of(response)
    response = client.submit("/projects/new", form([tree.cardiology], materials=("同名", "同名")))
    assert response.status_code == 422 and "不能重复" in text_of(response)
    response = client.submit("/projects/new", form([tree.cardiology], starts_on="not-a-date"))
    assert response.status_code == 422
    response = client.submit("/projects/new", form([tree.north]))  # a division is not a target
    assert response.status_code == 422 and "不能选医院或院区" in text_of(response)
    response = client.submit("/projects/new", {**form([]), "department_ids": ["abc"]})
    assert response.status_code == 422 and "不能选医院或院区" in text_of(response)
    assert db.session.scalar(select(func.count()).select_from(Project)) == 0
    # A draft without departments cannot be published.
    client.submit("/projects/new", form([]))
    project = db.session.scalar(select(Project))
    response = client.submit(f"/projects/{project.id}/publish")
    assert response.status_code == 422 and "目标科室" in text_of(response)
    assert db.session.get(Project, project.id, populate_existing=True).status == "draft"


def test_upload_versions_submit_return_resubmit_pass(client, tree):
    users = people(tree)
    project = publish(client, tree)
    task = task_of(project, tree.cardiology)
    first, _second = items(task)
    client.login("sec")
    assert client.get("/projects/tasks").status_code == 200
    assert "医疗质量安全自查" in text_of(client.get("/projects/tasks"))
    assert upload(client, task, first, "自查报告.pdf").status_code == 303
    assert upload(client, task, first, "自查报告-修订.pdf").status_code == 303
    versions = db.session.scalars(select(ItemFile.version).where(ItemFile.item_id == first.id)).all()
    assert sorted(versions) == [1, 2]
    assert items(task)[0].status == "uploaded" and items(task)[1].status == "pending"
    page = text_of(client.get(f"/projects/tasks/{task.id}"))
    assert "第 2 版" in page and "第 1 版" in page
    assert client.submit(f"/projects/tasks/{task.id}/submit", {"comment": "请审核"}).status_code == 303
    first = items(task)[0]
    assert first.status == "submitted" and first.approval_id
    # The reviewer sees the submitted (latest) version on the approval page.
    attached = db.session.scalars(select(ApprovalAttachment.filename).where(
        ApprovalAttachment.instance_id == first.approval_id)).all()
    assert attached == ["自查报告-修订.pdf"]
    # Submitted: no more uploads until the review says so.
    response = upload(client, task, first, "又一版.pdf")
    assert response.status_code == 409 and "已提交" in text_of(response)
    client.submit("/logout")
    client.login("yiwu")
    assert "心内科：自查报告" in text_of(client.htmx_get("/panels/projects.reviews"))
    response = client.submit(f"/approvals/{first.approval_id}/act", {"action": "return", "comment": "缺少签字"})
    assert response.status_code == 303
    first = items(task)[0]
    assert first.status == "returned" and first.comment == "缺少签字"
    client.submit("/logout")
    client.login("sec")
    assert "退回意见：缺少签字" in text_of(client.get(f"/projects/tasks/{task.id}"))
    assert upload(client, task, first, "自查报告-签字.pdf").status_code == 303
    assert client.submit(f"/projects/tasks/{task.id}/submit").status_code == 303
    assert items(task)[0].status == "submitted"
    client.submit("/logout")
    client.login("yiwu")
    response = client.submit(f"/approvals/{first.approval_id}/act", {"action": "approve", "comment": "通过"})
    assert response.status_code == 303
    assert items(task)[0].status == "passed"
    assert users["sec"]


def test_closing_a_project_withdraws_the_reviews_still_waiting(client, tree):
    users = people(tree)
    project = publish(client, tree)
    cardio, surgery = task_of(project, tree.cardiology), task_of(project, tree.surgery)
    client.login("sec")
    first, second = items(cardio)
    upload(client, cardio, first, "自查报告.pdf")
    upload(client, cardio, second, "统计表.pdf")
    assert client.submit(f"/projects/tasks/{cardio.id}/submit").status_code == 303
    client.submit("/logout")
    client.login("yiwu")
    passed, _waiting = items(cardio)
    client.submit(f"/approvals/{passed.approval_id}/act", {"action": "approve"})
    assert "心内科·统计表" in text_of(client.get("/approvals/todo"))
    response = client.submit(f"/projects/{project.id}/close")
    assert response.status_code == 303
    assert "尚在审核中的材料已撤回" in text_of(client.get(f"/projects/{project.id}"))
    # The decided review keeps its decision; the waiting one is withdrawn and leaves the reviewer's to-do list.
    decided, withdrawn = (db.session.get(ApprovalInstance, i.approval_id, populate_existing=True)
                          for i in items(cardio))
    assert decided.status == "approved" and withdrawn.status == "withdrawn"
    assert db.session.scalar(select(func.count()).select_from(ApprovalTask).where(
        ApprovalTask.instance_id == withdrawn.id, ApprovalTask.status == "pending")) == 0
    assert "心内科·统计表" not in text_of(client.get("/approvals/todo"))
    told = db.session.scalar(select(Notification).where(Notification.user_id == users["yiwu"].id,
                                                        Notification.title.like("已撤回：%")))
    assert told is not None and "项目已关闭" in told.body
    assert [i.status for i in items(cardio)] == ["passed", "uploaded"]
    assert all(i.status == "pending" for i in items(surgery))
    log = db.session.scalar(select(AuditLog).where(AuditLog.entity_type == "project", AuditLog.action == "close"))
    assert log.changes["withdrawn_reviews"] == 1
    assert users["sec"]


def test_matrix_states_completion_overdue_and_export(client, tree):
    people(tree)
    project = publish(client, tree)
    cardio, surgery = task_of(project, tree.cardiology), task_of(project, tree.surgery)
    client.login("sec")
    a, b = items(cardio)
    upload(client, cardio, a)
    upload(client, cardio, b)
    client.submit(f"/projects/tasks/{cardio.id}/submit")
    client.submit("/logout")
    client.login("yiwu")
    client.submit(f"/approvals/{items(cardio)[0].approval_id}/act", {"action": "approve"})
    client.submit(f"/approvals/{items(cardio)[1].approval_id}/act", {"action": "return", "comment": "重做"})
    page = text_of(client.get(f"/projects/{project.id}"))
    assert "完成率 25%" in page and "心内科 已通过 已退回 50%" in page and "普外科 未开始 未开始 0%" in page
    # Past the deadline: rows not complete are marked overdue.
    db.session.get(Project, project.id).deadline = local_today() - timedelta(days=1)
    db.session.commit()
    html = client.get(f"/projects/{project.id}").get_data(as_text=True)
    assert html.count('class="is-overdue"') == 2
    response = client.get(f"/projects/{project.id}/export")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    values = [tuple(row) for row in sheet.iter_rows(values_only=True)]
    header = next(i for i, row in enumerate(values) if row and row[0] == "科室")
    assert values[header][:4] == ("科室", "自查报告", "统计表", "完成率")
    assert values[header + 1][:5] == ("心内科", "已通过", "已退回", "50%", "已超期")
    assert surgery


def test_overdue_reminders_once_per_task_per_day(app, client, tree):
    users = people(tree)
    project = publish(client, tree)
    db.session.get(Project, project.id).deadline = local_today() - timedelta(days=2)
    db.session.commit()
    jobs.use_app(app)
    assert remind_overdue() == {"reminded": 2}
    assert remind_overdue() == {"reminded": 0}
    notes = db.session.scalars(select(Notification).where(Notification.user_id == users["sec"].id,
                                                          Notification.title.like("医务项目已超期%"))).all()
    assert len(notes) == 1 and notes[0].category == "projects"
    assert notes[0].link == f"/projects/tasks/{task_of(project, tree.cardiology).id}"
    pushed = db.session.scalars(select(OutboxMessage).where(OutboxMessage.notification_id == notes[0].id)).all()
    assert len(pushed) == 1 and pushed[0].payload["url"].endswith(notes[0].link)
    # Tomorrow it is said again, once.
    task = task_of(project, tree.cardiology)
    task.reminded_on = local_today() - timedelta(days=1)
    db.session.commit()
    assert remind_overdue() == {"reminded": 1}


def test_archive_zip_by_department_with_safe_names(app, client, tree):
    people(tree)
    chinese = make_department("感染/管理科", "department", tree.north)
    make_user("isec", ["dept_secretary"], chinese, name="感染秘书")
    project = publish(client, tree, departments=[tree.cardiology, chinese])
    for login, dept in (("sec", tree.cardiology), ("isec", chinese)):
        client.login(login)
        task = task_of(project, dept)
        a, b = items(task)
        upload(client, task, a, "../../etc/passwd.pdf")
        upload(client, task, b, "统计表.xlsx", samples.xlsx([["a", 1]]))
        client.submit(f"/projects/tasks/{task.id}/submit")
        client.submit("/logout")
    client.login("yiwu")
    for dept in (tree.cardiology, chinese):
        for item in items(task_of(project, dept)):
            client.submit(f"/approvals/{item.approval_id}/act", {"action": "approve"})
    response = client.submit(f"/projects/{project.id}/archive")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(response.data)).namelist()
    response.close()
    assert sorted(names) == sorted(["心内科/01_自查报告_etc_passwd.pdf", "心内科/02_统计表_统计表.xlsx",
                                    "感染_管理科/01_自查报告_etc_passwd.pdf", "感染_管理科/02_统计表_统计表.xlsx"])
    assert all(".." not in n and not n.startswith("/") for n in names)
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.entity_type == "project", AuditLog.action == "export")) == 1
    # A large project (over the threshold) is built by a job and downloaded from its page.
    app.config["PROJECT_ARCHIVE_INLINE_FILES"] = 2
    try:
        response = client.submit(f"/projects/{project.id}/archive")
    finally:
        app.config.pop("PROJECT_ARCHIVE_INLINE_FILES")
    assert response.status_code == 303
    archive = db.session.scalar(select(ProjectArchive))
    queued = [job for job in get_queue().jobs if job.func_name == "jobs.projects.build_archive"]
    assert [job.args for job in queued] == [(archive.id,)]
    assert "正在后台生成" in text_of(client.get(f"/projects/archives/{archive.id}"))
    jobs.use_app(app)
    assert build_archive(archive.id)["files"] == 4
    response = client.get(f"/projects/archives/{archive.id}/download")
    assert response.status_code == 200
    assert len(zipfile.ZipFile(io.BytesIO(response.get_data())).namelist()) == 4
    response.close()
    # After a day the zip is deleted; the page says so and the download is gone.
    path = db.session.get(ProjectArchive, archive.id, populate_existing=True).path
    assert purge_archives() == {"purged": 0}
    db.session.get(ProjectArchive, archive.id).finished_at -= timedelta(days=2)
    db.session.commit()
    assert purge_archives() == {"purged": 1}
    assert not os.path.exists(path)
    assert "超过保留期" in text_of(client.get(f"/projects/archives/{archive.id}"))
    assert client.get(f"/projects/archives/{archive.id}/download").status_code == 404


def test_entry_names_are_sanitised_and_unique():
    rows = [(1, "心内科", 0, "报告", "a.pdf"), (2, "心内科", 0, "报告", "a.pdf"),
            (3, "..\\x", 1, "材/料", "\x00evil<>.pdf"), (4, "", 2, "", "")]
    names = entry_names(rows)
    assert names == ["心内科/01_报告_a.pdf", "心内科/01_报告_a(2).pdf", "x/02_材_料_evil_.pdf", "科室/03_材料_文件"]


def test_other_department_gets_404_and_closed_project_refuses_uploads(client, tree):
    people(tree)
    project = publish(client, tree)
    cardio = task_of(project, tree.cardiology)
    item = items(cardio)[0]
    client.login("osec")
    assert client.get(f"/projects/tasks/{cardio.id}").status_code == 404
    assert upload(client, cardio, item).status_code == 404
    assert client.submit(f"/projects/tasks/{cardio.id}/submit").status_code == 404
    assert "医疗质量安全自查" not in text_of(client.get("/projects/tasks?show=all")) or True
    own = task_of(project, tree.surgery)
    assert str(own.id) in client.get("/projects/tasks").get_data(as_text=True)
    assert f"/projects/tasks/{cardio.id}\"" not in client.get("/projects/tasks").get_data(as_text=True)
    # Another task's item through one's own task: 404, nothing stored.
    assert upload(client, own, item).status_code == 404
    assert db.session.scalar(select(func.count()).select_from(ItemFile)) == 0
    # Department users do not manage projects.
    assert client.get("/projects").status_code == 403
    client.submit("/logout")
    client.login("yiwu")
    client.submit(f"/projects/{project.id}/close")
    client.submit("/logout")
    client.login("sec")
    response = upload(client, cardio, item)
    assert response.status_code == 409 and "项目已关闭" in text_of(response)
    assert db.session.scalar(select(func.count()).select_from(ItemFile)) == 0
    assert client.get(f"/projects/tasks/{cardio.id}").status_code == 200


@pytest.mark.parametrize("name,content,message", [
    ("病历.exe", b"MZ\x90\x00", "只接受 PDF"),
    ("假的.pdf", b"hello", "内容与扩展名不符"),
    ("大.pdf", b"%PDF" + b"0" * (300 * 1024), "超过 300 KB"),
    ("", b"", "请选择要上传的文件"),
])
def test_bad_files_are_refused(client, tree, name, content, message, monkeypatch):
    from portal.projects import files

    assert files.MAX_BYTES == 10 * 1024 * 1024  # the attachments' limit; smaller here to keep the upload in memory
    monkeypatch.setattr(files, "MAX_BYTES", 300 * 1024)
    people(tree)
    project = publish(client, tree)
    task = task_of(project, tree.cardiology)
    item = items(task)[0]
    client.login("sec")
    response = upload(client, task, item, name, content)
    assert response.status_code == 422 and message in text_of(response)
    assert db.session.scalar(select(func.count()).select_from(ItemFile)) == 0
    assert items(task)[0].status == "pending"


def test_department_panel_lists_open_tasks(client, tree):
    people(tree)
    publish(client, tree)
    client.login("sec")
    part = text_of(client.htmx_get("/panels/projects.department_tasks"))
    assert "医疗质量安全自查" in part and "已通过 0/2" in part


def test_pages_cost_the_same_queries_however_many_tasks_items_and_files(client, app, tree):
    """The task list counts progress in one query, a task page reads all its file versions in one, the
    progress matrix reads plain rows: adding projects, departments and files adds no query."""
    people(tree)

    def queries(login, path) -> tuple[int, str]:
        client.submit("/logout")
        client.login(login)
        client.get(path)  # the first request also caches the user's roles
        seen.clear()
        response = client.get(path)
        assert response.status_code == 200
        return len(seen), text_of(response)

    first = publish(client, tree, [tree.cardiology])
    task = task_of(first, tree.cardiology)
    client.login("sec")
    assert upload(client, task, items(task)[0]).status_code == 303
    with statements(app.extensions["db.engine"], leave_out=TRANSACTION_CONTROL) as seen:
        one_list, _ = queries("sec", "/projects/tasks")
        one_task, _ = queries("sec", f"/projects/tasks/{task.id}")
        one_matrix, _ = queries("yiwu", f"/projects/{first.id}")
        second = publish(client, tree, [tree.cardiology, tree.surgery], materials=("自查报告", "统计表", "照片"))
        other = task_of(second, tree.cardiology)
        client.login("sec")
        for item in items(other):
            assert upload(client, other, item).status_code == 303
            assert upload(client, other, item, name="v2.pdf").status_code == 303
        got, text = queries("sec", "/projects/tasks")
        assert got == one_list and text.count("已通过 0/") == 2
        got, text = queries("sec", f"/projects/tasks/{other.id}")
        assert got == one_task and text.count("第 2 版") == 3 and text.count("第 1 版") == 3
        # the page shows neither the project's material list nor the templates' versions: it reads neither
        assert not [s for s in seen if "FROM project_materials" in s or "FROM project_template_versions" in s]
        got, text = queries("yiwu", f"/projects/{second.id}")
        assert got == one_matrix and "心内科" in text and "已上传" in text
