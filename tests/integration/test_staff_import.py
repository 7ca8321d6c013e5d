"""The import framework end to end on the staff register: preview, commit, idempotence, error report."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from portal.auth.models import Staff
from portal.core.service import ServiceError
from portal.extensions import db
from portal.io import imports
from portal.io.models import ImportLog
from tests.conftest import xlsx_bytes


def staff_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Staff))


def test_preview_counts_then_commit_then_reimport_changes_nothing(session, tree):
    from tests.factories import make_staff

    make_staff("旧名字", tree.surgery, employee_no="H002")
    content = xlsx_bytes([["工号", "姓名", "所属科室", "职称", "在职"],
                    ["H001", "张三", "心内科", "主治医师", "是"],
                    ["H002", "李四", tree.surgery.code, "住院医师", "是"]])
    result = imports.preview("staff", "人员.xlsx", content)
    assert result.counts == {"total": 2, "new": 1, "updated": 1, "duplicate": 0, "invalid": 0}
    assert staff_count() == 1  # the preview wrote nothing
    log = imports.commit("staff", "人员.xlsx", content, "upsert", user_id=None)
    db.session.commit()
    assert (log.rows_new, log.rows_updated) == (1, 1)
    assert db.session.scalar(select(Staff.name).where(Staff.employee_no == "H002")) == "李四"
    again = imports.commit("staff", "人员.xlsx", content, "upsert", user_id=None)
    assert (again.rows_new, again.rows_updated, again.rows_unchanged) == (0, 0, 2)
    assert db.session.scalar(select(func.count()).select_from(ImportLog)) == 2


def test_new_only_leaves_existing_records(session, tree):
    from tests.factories import make_staff

    make_staff("旧名字", tree.surgery, employee_no="H002")
    content = xlsx_bytes([["工号", "姓名", "科室"], ["H002", "李四", "普外科"]])
    log = imports.commit("staff", "a.xlsx", content, "new_only", user_id=None)
    assert (log.rows_new, log.rows_unchanged) == (0, 1)
    assert db.session.scalar(select(Staff.name).where(Staff.employee_no == "H002")) == "旧名字"


def test_any_bad_row_refuses_the_whole_file_and_the_report_marks_it(session, tree):
    content = xlsx_bytes([["工号", "姓名", "科室", "在职"],
                    ["H001", "张三", "心内科", "是"],
                    ["H003", "", "不存在的科室", "也许"],
                    ["H001", "张三重复", "心内科", "是"]])
    result = imports.preview("staff", "bad.xlsx", content)
    assert result.counts == {"total": 3, "new": 1, "updated": 0, "duplicate": 1, "invalid": 1}
    messages = [m for _, _, _, m in result.first_errors()]
    assert "必填项为空" in messages and "找不到科室“不存在的科室”（可填科室名称或代码）" in messages
    assert "与第 2 行重复" in messages
    with pytest.raises(ServiceError, match="没有写入任何数据"):
        imports.commit("staff", "bad.xlsx", content, "upsert", user_id=None)
    assert staff_count() == 0
    report = load_workbook(io.BytesIO(imports.error_report(result))).active
    rows = [[c.value for c in row] for row in report.iter_rows()]
    assert rows[0] == ["行号", "工号", "姓名", "科室", "职称", "职务", "在职", "错误说明"]
    assert rows[1][0] == 3 and "必填项为空" in rows[1][-1]
    assert report.cell(row=2, column=4).comment.text.startswith("找不到科室")


def test_files_that_are_not_plain_workbooks_are_refused(session, tree):
    with pytest.raises(ServiceError, match="CSV"):
        imports.preview("staff", "人员.xlsx", "工号,姓名\nH1,张三".encode())


# --- through the pages ---

def importer(client, tree):
    from tests.factories import make_user

    make_user("root", ["sysadmin"], tree.hospital)
    client.login("root")


def test_template_download_has_headers_example_and_instructions(client, tree):
    importer(client, tree)
    response = client.get("/imports/staff/template")
    wb = load_workbook(io.BytesIO(response.data))
    assert [c.value for c in wb.worksheets[0][1]] == ["工号", "姓名", "科室", "职称", "职务", "在职"]
    assert wb.worksheets[0]["A2"].value == "A1001"
    assert wb.worksheets[1].title == "填写说明" and wb.worksheets[1]["C2"].value == "工号、员工号、职工号"


def test_upload_preview_commit_and_log(client, tree):
    from tests.conftest import text_of

    importer(client, tree)
    before = staff_count()
    content = xlsx_bytes([["工号", "姓名", "科室"], ["H101", "网页导入", "心内科"]])
    page = client.submit("/imports/staff/preview", {"file": (io.BytesIO(content), "人员.xlsx")},
                         content_type="multipart/form-data")
    assert page.status_code == 200 and "新记录 1" in text_of(page)
    assert staff_count() == before
    import hashlib

    sha = hashlib.sha256(content).hexdigest()
    done = client.submit("/imports/staff/commit", {"sha256": sha, "mode": "upsert"})
    assert done.status_code == 303
    assert db.session.scalar(select(Staff.name).where(Staff.employee_no == "H101")) == "网页导入"
    logs = text_of(client.get("/imports/logs"))
    assert "人员.xlsx" in logs and "新增并更正已有记录" in logs
    log_id = db.session.scalar(select(ImportLog.id))
    assert client.get(f"/imports/logs/{log_id}/file").data == content


def test_bad_upload_shows_errors_and_report(client, tree):
    from tests.conftest import text_of

    importer(client, tree)
    content = xlsx_bytes([["工号", "姓名", "科室"], ["H102", "", "火星科"]])
    page = client.submit("/imports/staff/preview", {"file": (io.BytesIO(content), "坏.xlsx")},
                         content_type="multipart/form-data")
    assert "找不到科室“火星科”" in text_of(page) and "确认导入" not in text_of(page)
    import hashlib

    report = client.get(f"/imports/staff/errors/{hashlib.sha256(content).hexdigest()}")
    assert report.status_code == 200 and load_workbook(io.BytesIO(report.data)).active["A2"].value == 2
    refused = client.submit("/imports/staff/preview", {"file": (io.BytesIO(b"a,b"), "x.csv")},
                            content_type="multipart/form-data")
    assert refused.status_code == 422 and ".xlsx" in text_of(refused)
    assert client.submit("/imports/staff/commit", {"sha256": "0" * 64, "mode": "upsert"}).status_code == 410
    assert client.submit("/imports/staff/commit", {"sha256": "nothex", "mode": "upsert"}).status_code == 400
    assert client.get("/imports/nosuchtype").status_code == 404


def test_import_needs_the_domain_permission(client, tree):
    from tests.factories import make_user

    make_user("aud", ["auditor"], tree.hospital)
    client.login("aud")
    assert client.get("/imports/staff").status_code == 403
