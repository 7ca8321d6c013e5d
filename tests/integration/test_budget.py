"""Key-project budgets: exact money, execution per version, warnings once, over-line spending, changes through
the approval engine, the finance import, final accounts and scoping."""

from __future__ import annotations

import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from portal.approvals.models import ApprovalTask
from portal.auth.models import User
from portal.budget.changes import services as changes
from portal.budget.execution import warnings
from portal.budget.execution.queries import execution
from portal.budget.expenditures import services as spending
from portal.budget.models import BudgetLine, BudgetProject, BudgetWarning, Expenditure
from portal.budget.money import MoneyError, parse_money
from portal.budget.projects import services as projects
from portal.core.audit import AuditLog
from portal.core.service import ServiceError
from portal.core.timeutil import local_today
from portal.extensions import db
from portal.io import imports
from portal.notify.models import Notification
from tests.conftest import text_of, xlsx_bytes
from tests.factories import make_user

YEAR = local_today().year
START, END = date(YEAR, 1, 1), date(YEAR, 12, 31)
LINES = "\n".join([f"A | 设备 | 设备购置 | {YEAR} | 0", f"A01 | 监护仪 | 设备购置 | {YEAR} | 1,000.00 | A",
                   f"A02 | 转运床 | 设备购置 | {YEAR} | 500.00 | A", f"B01 | 培训 | 培训与会议 | {YEAR} | 100.00"])


def people(tree):
    return {"ma": make_user("yiwu", ["ma_admin", "ma_staff"], tree.hospital, name="医务科李"),
            "head": make_user("head", ["dept_head"], tree.cardiology, name="张主任"),
            "sec": make_user("sec", ["dept_secretary"], tree.cardiology, name="孙秘书"),
            "ohead": make_user("ohead", ["dept_head"], tree.surgery, name="周主任"),
            "ma2": make_user("yiwu2", ["ma_admin"], tree.hospital, name="医务科王")}


def approve_all(client, instance_id: int) -> None:
    """Each open step's approver signs off, in their own session, until none is left."""
    while True:
        task = db.session.scalar(select(ApprovalTask).where(ApprovalTask.instance_id == instance_id,
                                                            ApprovalTask.status == "pending")
                                 .execution_options(populate_existing=True))
        if task is None:
            return
        client.submit("/logout")
        client.login(db.session.get(User, task.assignee_id).login_name)
        response = client.submit(f"/approvals/{instance_id}/act", {"action": "approve", "comment": "同意"})
        assert response.status_code == 303, text_of(response)[:300]


def make_project(tree, code="ZD-01", **kw) -> BudgetProject:
    return projects.create_project(code=code, name=kw.pop("name", "胸痛中心建设"), department_id=tree.cardiology.id,
                                   start_date=kw.pop("start", START), end_date=kw.pop("end", END), lines=LINES, **kw)


def line(project, code):
    project_id = project if isinstance(project, int) else project.id
    return db.session.scalar(select(BudgetLine).where(BudgetLine.project_id == project_id, BudgetLine.code == code))


def spend(project, user, code, amount, voucher, reason="", day=None):
    return spending.add_expenditure(project, user, line_id=line(project, code).id, spent_on=day or START,
                                    amount=Decimal(amount), description="支出", voucher_no=voucher, over_reason=reason)


@pytest.mark.parametrize("raw, expected", [
    ("12,345.6", "12345.60"), ("¥12,345.60", "12345.60"), ("￥ 12345", "12345.00"), ("100元", "100.00"),
    (12345.6, "12345.60"), (0.1 + 0.2, "0.30"), (7, "7.00"), ("-5", "-5.00")])
def test_money_is_parsed_exactly(raw, expected):
    assert parse_money(raw) == Decimal(expected)


@pytest.mark.parametrize("raw", ["abc", "1.234", 1.234, "12,34.5", "", "1e3", float("nan"), True])
def test_bad_money_is_refused(raw):
    with pytest.raises(MoneyError):
        parse_money(raw)


def test_sums_are_exact_and_show_as_yuan(app, tree, session):
    p = people(tree)
    project = make_project(tree)
    for n in range(3):
        spend(project, p["ma"], "B01", "0.10", f"T{n}")
    for n in range(300):
        spend(project, p["ma"], "A01", "0.01", f"S{n}")
    figures = execution(project)
    b01 = next(c for c in figures.rows if c.line.code == "B01").figures
    assert b01.spent == Decimal("0.30") and b01.remaining == Decimal("99.70")
    parent = next(r for r in figures.rows if r.line.code == "A")
    assert parent.figures.budget == Decimal("1500.00") and parent.figures.spent == Decimal("3.00")
    assert figures.total.spent == Decimal("3.30") and figures.total.budget == Decimal("1600.00")
    from portal.core.templating import money

    assert money(Decimal("12345")) == "¥12,345.00"


def test_a_budget_change_goes_through_approval_and_makes_a_version(client, tree):
    p = people(tree)
    project = make_project(tree)
    spend(project, p["ma"], "A01", "400.00", "V1")
    pid = project.id
    db.session.commit()
    client.login("head")
    response = client.submit(f"/budget/projects/{pid}/changes/new", {
        "kind": "move", "from_line_id": line(pid, "A01").id, "to_line_id": line(pid, "B01").id,
        "amount": "700.00", "reason": "培训增加"})
    assert response.status_code == 422 and "可用余额只有 ¥600.00" in text_of(response)
    response = client.submit(f"/budget/projects/{pid}/changes/new", {
        "kind": "move", "from_line_id": line(pid, "A01").id, "to_line_id": line(pid, "B01").id,
        "amount": "200.00", "reason": "培训增加"})
    assert response.status_code == 303
    assert db.session.get(BudgetProject, pid, populate_existing=True).current_version == 1
    change = changes.project_changes(pid)[0]
    approve_all(client, change.approval_id)
    project = db.session.get(BudgetProject, pid, populate_existing=True)
    assert project.current_version == 2
    now, before = execution(db.session.get(BudgetProject, pid)), execution(project, 1)
    a01 = lambda ex: next(c for r in ex.rows for c in [r, *r.children] if c.line.code == "A01").figures  # noqa: E731
    assert (a01(before).budget, a01(now).budget) == (Decimal("1000.00"), Decimal("800.00"))
    assert a01(now).rate == Decimal("0.5000") and now.total.budget == before.total.budget
    page = client.get(f"/budget/projects/{pid}?version=1")
    assert "对照预算版本 V1（当前为 V2）" in text_of(page)
    assert "对照预算版本 V2" in text_of(client.get(f"/budget/projects/{pid}"))


def test_thresholds_warn_once_per_crossing_with_their_own_category(app, tree, session):
    p = people(tree)
    project = make_project(tree)
    spend(project, p["ma"], "B01", "79.99", "W1")
    assert db.session.scalar(select(func.count()).select_from(BudgetWarning)) == 0
    spend(project, p["ma"], "B01", "0.01", "W2")  # 80 %
    spend(project, p["ma"], "B01", "5.00", "W3")  # still past 80: no second warning
    keys = set(db.session.scalars(select(BudgetWarning.key)))
    assert keys == {f"p{project.id}:l{line(project, 'B01').id}:80"}
    told = db.session.scalars(select(Notification).where(Notification.category == "budget")).all()
    assert {n.user_id for n in told} == {p["ma"].id, p["ma2"].id, p["head"].id, p["sec"].id}
    assert all(n.link == f"/budget/projects/{project.id}" for n in told)
    spend(project, p["ma"], "B01", "20.00", "W4", reason="会议增加")  # 105 %: the 100 % warning, once
    assert len(set(db.session.scalars(select(BudgetWarning.key)))) == 2


def test_spending_ahead_of_time_is_told_once_by_the_daily_job(app, tree, session):
    p = people(tree)
    today = local_today()
    project = make_project(tree, start=today - timedelta(days=9), end=today + timedelta(days=90), thresholds="150")
    spend(project, p["ma"], "A01", "500.00", "AH1", day=today)  # 31 % spent, 11 % of the time
    assert warnings.check_all_ahead(today) == {"checked": 1, "warned": 1}
    assert warnings.check_all_ahead(today) == {"checked": 0, "warned": 0}  # told already: not checked again
    assert db.session.scalar(select(func.count()).select_from(BudgetWarning)
                             .where(BudgetWarning.kind == "ahead")) == 1
    project.ahead_margin = 50
    other = make_project(tree, code="ZD-02", start=today - timedelta(days=9), end=today + timedelta(days=90))
    spend(other, p["ma"], "A01", "100.00", "AH2", day=today)  # 6 %: within the time share
    assert warnings.check_all_ahead(today)["warned"] == 0


def test_over_line_spending_needs_a_reason_and_approval_when_the_project_says_so(client, tree):
    people(tree)
    project = make_project(tree, approve_over_line=True)
    pid = project.id
    db.session.commit()
    client.login("yiwu")
    form = {"line_id": line(pid, "B01").id, "spent_on": f"{YEAR}-03-01", "amount": "¥120.00",
            "description": "会议", "voucher_no": "OV-1"}
    response = client.submit(f"/budget/projects/{pid}/expenditures/new", form)
    assert response.status_code == 422 and "请填写超预算理由" in text_of(response)
    for bad, message in (("-5", "金额必须大于 0"), ("abc", "应为金额数字"), ("1.234", "最多两位小数")):
        response = client.submit(f"/budget/projects/{pid}/expenditures/new", {**form, "amount": bad})
        assert response.status_code == 422 and message in text_of(response)
    response = client.submit(f"/budget/projects/{pid}/expenditures/new", {**form, "spent_on": f"{YEAR + 1}-01-02"})
    assert response.status_code == 422 and "支出日期应在项目周期内" in text_of(response)
    assert db.session.scalar(select(func.count()).select_from(Expenditure)) == 0
    response = client.submit(f"/budget/projects/{pid}/expenditures/new", {**form, "over_reason": "外请专家"})
    assert response.status_code == 303
    item = db.session.scalar(select(Expenditure))
    assert item.status == "committed" and item.amount == Decimal("120.00")
    assert execution(db.session.get(BudgetProject, pid)).total.committed == Decimal("120.00")
    assert client.submit(f"/budget/projects/{pid}/expenditures/new", {**form, "over_reason": "x"}
                         ).status_code == 422  # the same voucher number again
    approve_all(client, item.approval_id)
    assert db.session.get(Expenditure, item.id, populate_existing=True).status == "spent"
    assert {w.threshold for w in db.session.scalars(select(BudgetWarning))} == {80, 100}


def test_without_the_approval_setting_over_line_spending_with_a_reason_is_spent(app, tree, session):
    p = people(tree)
    project = make_project(tree)
    with pytest.raises(ServiceError, match="超预算理由"):
        spend(project, p["ma"], "B01", "100.01", "X1")
    assert spend(project, p["ma"], "B01", "100.01", "X1", reason="涨价").status == "spent"


def finance_rows(*rows):
    return [["项目编号", "预算科目", "日期", "金额", "摘要", "凭证号", "超预算理由"], *rows]


def test_a_bad_finance_workbook_is_refused_row_by_row_and_writes_nothing(app, tree, session):
    p = people(tree)
    project = make_project(tree)
    spend(project, p["ma"], "A01", "10.00", "DB-1")
    rows = finance_rows(
        ["ZD-01", "A01", f"{YEAR}-02-01", -5, "负数", "R1", ""],
        ["ZD-01", "A01", f"{YEAR}-02-01", "十元", "非数字", "R2", ""],
        ["ZD-01", "Z99", f"{YEAR}-02-01", 5, "未知科目", "R3", ""],
        ["ZD-01", "A01", f"{YEAR + 1}-02-01", 5, "期外", "R4", ""],
        ["ZD-01", "A01", f"{YEAR}-02-01", 5, "文件内重复", "R5", ""],
        ["ZD-01", "A01", f"{YEAR}-02-02", 5, "文件内重复", "R5", ""],
        ["ZD-01", "A01", f"{YEAR}-02-01", 5, "库内重复", "DB-1", ""],
        ["ZD-01", "B01", f"{YEAR}-02-01", 150, "超支无理由", "R8", ""],
        ["ZD-01", "A", f"{YEAR}-02-01", 5, "上级科目", "R9", ""],
        ["ZD-01", "监护仪", f"{YEAR}-02-01", 12.5, "按名称，正确", "R10", ""])
    result = imports.preview("budget_expenditures", "财务.xlsx", xlsx_bytes(rows))
    messages = {r: m for r, _, _, m in result.first_errors()}
    assert result.counts["new"] == 2 and len(messages) == 8, messages
    assert "大于 0" in messages[2] and "应为金额数字" in messages[3] and "没有这个预算科目" in messages[4]
    assert "不在项目周期内" in messages[5] and "与第 6 行重复" in messages[7] and "已登记过" in messages[8]
    assert "超预算理由" in messages[9] and "下级科目" in messages[10]
    audits = db.session.scalar(select(func.count()).select_from(AuditLog))
    with pytest.raises(ServiceError, match="没有写入任何数据"):
        imports.commit("budget_expenditures", "财务.xlsx", xlsx_bytes(rows), "upsert", user_id=None)
    assert db.session.scalar(select(func.count()).select_from(Expenditure)) == 1
    assert db.session.scalar(select(func.count()).select_from(AuditLog)) == audits
    good = finance_rows(*([ "ZD-01", "A02", f"{YEAR}-03-01", 0.1, "小额", f"G{n}", ""] for n in range(30)))
    imports.commit("budget_expenditures", "财务2.xlsx", xlsx_bytes(good), "upsert", user_id=None)
    assert execution(project).total.spent == Decimal("13.00")
    assert db.session.scalar(select(func.count()).select_from(AuditLog)) == audits + 1  # one summary record


def test_final_accounts_close_the_project_and_export(client, tree):
    p = people(tree)
    project = make_project(tree)
    spend(project, p["ma"], "A01", "1,000.00".replace(",", ""), "F1")
    spend(project, p["ma"], "B01", "40.50", "F2")
    pid = project.id
    db.session.commit()
    client.login("yiwu")
    response = client.submit(f"/budget/projects/{pid}/close", {
        f"note_{line(pid, 'B01').id}": "培训改为线上", "closing_note": "总体按计划完成"})
    assert response.status_code == 303
    assert db.session.get(BudgetProject, pid, populate_existing=True).status == "closed"
    page = client.get(f"/budget/projects/{pid}/accounts")
    assert "培训改为线上" in text_of(page) and "¥59.50" in text_of(page)
    assert 'style="' not in page.get_data(as_text=True)
    export = client.get(f"/budget/projects/{pid}/accounts/export")
    assert export.status_code == 200
    sheet = load_workbook(io.BytesIO(export.data)).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    b01 = next(r for r in values if r[0] == "B01")
    assert Decimal(str(b01[3])) == Decimal("100") and Decimal(str(b01[5])) == Decimal("59.5")
    assert b01[7] == "培训改为线上"
    assert any(r[1] == "合计" and Decimal(str(r[4])) == Decimal("1040.5") for r in values)
    response = client.submit(f"/budget/projects/{pid}/expenditures/new", {
        "line_id": line(pid, "B01").id, "spent_on": f"{YEAR}-03-01", "amount": "1", "description": "x",
        "voucher_no": "F3"})
    assert response.status_code == 409 and "已决算" in text_of(response)


def test_a_project_is_seen_only_by_its_department_and_medical_affairs(client, tree):
    people(tree)
    project = make_project(tree)
    pid = project.id
    db.session.commit()
    client.login("ohead")
    assert client.get(f"/budget/projects/{pid}").status_code == 404
    assert client.get(f"/budget/projects/{pid}/expenditures").status_code == 404
    assert client.get(f"/budget/projects/{pid}/accounts/export").status_code == 404
    assert "胸痛中心建设" not in text_of(client.get("/budget"))
    client.submit("/logout")
    client.login("head")
    assert client.get(f"/budget/projects/{pid}").status_code == 200
    assert "胸痛中心建设" in text_of(client.get("/budget"))
    assert client.get(f"/budget/projects/{pid}/expenditures/new").status_code == 403  # may see, not enter
    client.submit("/logout")
    assert client.get("/budget").status_code in (302, 303)


def test_the_dashboard_and_its_export_and_the_report(client, tree):
    p = people(tree)
    project = make_project(tree)
    spend(project, p["ma"], "A01", "850.00", "D1")
    pid = project.id
    db.session.commit()
    client.login("yiwu")
    page = text_of(client.get("/budget"))
    assert "¥1,600.00" in page and "¥850.00" in page
    partial = client.htmx_get("/budget?warned=1")
    assert "胸痛中心建设" in partial.get_data(as_text=True) and "<html" not in partial.get_data(as_text=True)
    assert client.get("/budget/export").status_code == 200
    report = client.get(f"/reports/budget_spending?date_from={YEAR}-01-01&date_to={YEAR}-12-31")
    assert report.status_code == 200 and "¥850.00" in text_of(report)
    import html
    import re

    found = re.findall(r'href="(/reports/budget_spending/rows[^"]*)"', report.get_data(as_text=True))
    links = [html.unescape(u) for u in found]
    assert links
    rows = client.get(links[0])
    assert rows.status_code == 200 and "D1" in text_of(rows) and "850.00" in text_of(rows)  # the rows behind it
    assert client.get(f"/budget/projects/{pid}/expenditures?line={line(pid, 'A').id}&status=spent"
                      ).status_code == 200


def test_attachments_pass_the_store_checks_and_open_within_scope(client, tree):
    people(tree)
    project = make_project(tree)
    pid, b01 = project.id, line(project, "B01").id
    db.session.commit()
    client.login("yiwu")
    form = {"line_id": b01, "spent_on": f"{YEAR}-03-01", "amount": "10", "description": "资料", "voucher_no": "AT-1"}
    response = client.submit(f"/budget/projects/{pid}/expenditures/new",
                             {**form, "attachment": (io.BytesIO(b"MZ..."), "virus.exe")},
                             content_type="multipart/form-data")
    assert response.status_code == 422 and "附件只接受" in text_of(response)
    response = client.submit(f"/budget/projects/{pid}/expenditures/new",
                             {**form, "attachment": (io.BytesIO(b"%PDF-1.4 fake"), "发票.pdf")},
                             content_type="multipart/form-data")
    assert response.status_code == 303
    item = db.session.scalar(select(Expenditure))
    assert client.get(f"/budget/expenditures/{item.id}/attachment").data == b"%PDF-1.4 fake"
    client.submit("/logout")
    client.login("ohead")
    assert client.get(f"/budget/expenditures/{item.id}/attachment").status_code == 404


def test_a_rejected_increase_leaves_the_budget_as_it_was(client, tree):
    p = people(tree)
    project = make_project(tree)
    change = changes.request_change(project, db.session.get(User, p["head"].id), kind="increase",
                                    to_line_id=line(project, "B01").id, from_line_id=None,
                                    amount=Decimal("50.00"), reason="追加培训")
    pid, approval = project.id, change.approval_id
    db.session.commit()
    task = db.session.scalar(select(ApprovalTask).where(ApprovalTask.instance_id == approval))
    client.login(db.session.get(User, task.assignee_id).login_name)
    assert client.submit(f"/approvals/{approval}/act", {"action": "reject", "comment": "不予追加"}).status_code == 303
    project = db.session.get(BudgetProject, pid, populate_existing=True)
    assert project.current_version == 1 and execution(project).total.budget == Decimal("1600.00")
    assert changes.project_changes(pid)[0].status == "rejected"


@pytest.mark.parametrize("lines, message", [
    (f"A | 设备 | 设备购置 | {YEAR} | 0\nA1 | 子 | 设备购置 | {YEAR} | 1 | A\n"
     f"A2 | 孙 | 设备购置 | {YEAR} | 1 | A1", "最多两级"),
    (f"A | 设备 | 设备购置 | {YEAR} | -1", "不能为负数"),
    (f"A | 设备 | 设备购置 | {YEAR} | 一百", "应为金额数字"),
    (f"A | 设备 | 无此类别 | {YEAR} | 1", "类别应为"),
    (f"A | 设备 | 设备购置 | {YEAR + 5} | 1", "年度应在项目周期内"),
    ("A | 设备", "第 1 行应为")])
def test_a_project_with_bad_lines_is_refused_and_nothing_is_made(client, tree, lines, message):
    people(tree)
    client.login("yiwu")
    response = client.submit("/budget/projects/new", {
        "code": "ZD-X", "name": "坏项目", "department_id": tree.cardiology.id, "start_date": f"{YEAR}-01-01",
        "end_date": f"{YEAR}-12-31", "lines": lines, "thresholds": "80,100", "ahead_margin": "10"})
    assert response.status_code == 422 and message in text_of(response)
    assert db.session.scalar(select(func.count()).select_from(BudgetProject)) == 0


def test_the_daily_job_runs_through_the_queue_and_tells_once(app, tree):
    from rq import SimpleWorker

    import jobs
    from jobs.budget import check_ahead_of_time
    from portal.core.redis_conn import get_queue

    p = people(tree)
    today = local_today()
    project = make_project(tree, start=today - timedelta(days=9), end=today + timedelta(days=90), thresholds="150")
    spend(project, p["ma"], "A01", "800.00", "JQ1", day=today)
    db.session.commit()
    jobs.use_app(app)
    queue = get_queue()
    results = []
    for _ in range(2):
        job = queue.enqueue(check_ahead_of_time)
        SimpleWorker([queue], connection=queue.connection).work(burst=True)
        job.refresh()
        assert job.is_finished, job.latest_result()
        results.append(job.return_value())
    assert [r["warned"] for r in results] == [1, 0]
    assert db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.category == "budget", Notification.title.like("支出超进度预警%"))) == 4
