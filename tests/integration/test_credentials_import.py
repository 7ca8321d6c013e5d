"""The first load of qualifications from Excel: a clean file is inserted in bulk with one summary audit record;
a bad workbook gives a Chinese error per row and writes nothing."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from portal.core.audit import AuditLog
from portal.core.service import ServiceError
from portal.core.timeutil import local_today
from portal.credentials.models import Qualification
from portal.credentials.qualifications import services
from portal.extensions import db
from portal.io import imports
from tests.conftest import text_of, xlsx_bytes
from tests.factories import make_staff, make_user

HEADER = ["工号", "姓名", "资质类型", "级别", "证书编号", "发证机关", "发证日期", "有效期起", "有效期至", "执业范围"]


def count() -> int:
    return db.session.scalar(select(func.count()).select_from(Qualification))


@pytest.fixture
def staff(tree):
    return {"A1": make_staff("张三", tree.cardiology, employee_no="A1"),
            "A2": make_staff("李四", tree.surgery, employee_no="A2")}


def test_a_clean_file_is_inserted_in_bulk_with_one_summary_audit_record(session, staff):
    today = local_today()
    content = xlsx_bytes([
        HEADER,
        ["a1", "张三", "医师执业证书", "", "110450100000001", "卫健委", date(2020, 7, 1), "2020-07-01",
         today + timedelta(days=20), "内科专业"],
        ["A2", None, "ANTIBIOTIC", "限制使用级", None, None, None, "2023/01/01", "2026年12月31日", None],
        ["A2", "李四", "医师资格证书", "", "199845110000002", "卫生部", None, None, None, None],
        ["A1", "张三", "放射工作人员证", "", "桂放-1", "卫健委", None, "2019-01-01", "2023-01-01", None]])
    preview = imports.preview("qualifications", "资质.xlsx", content)
    assert preview.counts == {"total": 4, "new": 4, "updated": 0, "duplicate": 0, "invalid": 0}, preview.first_errors()
    assert count() == 0
    audits_before = db.session.scalar(select(func.count()).select_from(AuditLog))
    log = imports.commit("qualifications", "资质.xlsx", content, "upsert", user_id=None)
    assert log.rows_new == 4 and count() == 4
    assert db.session.scalar(select(func.count()).select_from(AuditLog)) == audits_before + 1
    records = {r.number or r.level: r for r in db.session.scalars(select(Qualification))}
    assert records["桂放-1"].status == "expired" and records["110450100000001"].status == "active"
    assert records["限制使用级"].valid_to == date(2026, 12, 31) and records["限制使用级"].source == "import"
    held = services.valid_qualifications([staff["A1"].id])[staff["A1"].id]
    assert [h.type_code for h in held] == ["PRACTICE_LICENSE"]
    # The same file again: its certificate numbers are registered now, so every numbered row is refused.
    again = imports.preview("qualifications", "资质.xlsx", content)
    assert again.counts["invalid"] == 3


def test_a_bad_workbook_gives_row_errors_and_writes_nothing(session, staff):
    services.register_qualification(staff["A2"], {"type_id": _type_id("医师执业证书"), "number": "TAKEN-1",
                                                  "valid_to": local_today() + timedelta(days=300)})
    before = count()
    content = xlsx_bytes([HEADER,
                          ["A1", "张三", "医师执业证书", "", "N-1", "卫健委", None, "2020-01-01", "2030-01-01", None],
                          ["Z999", "王五", "医师执业证书", "", "N-2", None, None, None, "2030-01-01", None],
                          ["A1", "张三", "飞行执照", "", "N-3", None, None, None, "2030-01-01", None],
                          ["A1", "张三", "医师执业证书", "", "N-4", None, None, "明年一月", "2030-01-01", None],
                          ["A1", "张三", "医师执业证书", "", "N-5", None, None, "2030-01-01", "2025-01-01", None],
                          ["A1", "张三", "医师执业证书", "", "N-1", None, None, None, "2031-01-01", None],
                          [None, "张三", "医师执业证书", "", "N-7", None, None, None, "2030-01-01", None],
                          ["A1", "张三", "抗菌药物处方权", "", None, None, None, None, "2030-01-01", None],
                          ["A1", "张三", "医师执业证书", "", "N-9", None, None, "2020-01-01", None, None],
                          ["A2", "李四", "医师执业证书", "", "TAKEN-1", None, None, None, "2030-01-01", None],
                          ["A1", "李四", "医师资格证书", "", "N-11", None, None, None, None, None]])
    result = imports.preview("qualifications", "坏.xlsx", content)
    assert result.counts == {"total": 11, "new": 1, "updated": 0, "duplicate": 1, "invalid": 9}
    messages = {row: message for row, _, _, message in result.first_errors(50)}
    assert "找不到工号“Z999”" in messages[3]
    assert "找不到资质类型“飞行执照”" in messages[4]
    assert "明年一月" in messages[5] and "格式不正确" in messages[5]
    assert messages[6] == "有效期至不能早于有效期起"
    assert messages[7] == "与第 2 行重复"
    assert messages[8] == "必填项为空"
    assert "请选择级别" in messages[9]
    assert "请填写有效期至" in messages[10]
    assert messages[11] == "该证书编号已登记，不能重复导入"
    assert "与姓名不符" in messages[12]
    with pytest.raises(ServiceError, match="没有写入任何数据"):
        imports.commit("qualifications", "坏.xlsx", content, "upsert", user_id=None)
    assert count() == before


def test_the_import_pages_preview_the_errors(client, staff, tree):
    make_user("yiwu", ["ma_staff"], tree.hospital)
    client.login("yiwu")
    assert "资质（首次批量录入）" in text_of(client.get("/imports/qualifications"))
    template = client.get("/imports/qualifications/template")
    assert template.status_code == 200 and template.mimetype.endswith("sheet")
    bad = xlsx_bytes([HEADER, ["Z999", "王五", "医师执业证书", "", "N-2", None, None, None, "2030-01-01", None]])
    import io

    response = client.submit("/imports/qualifications/preview", {"file": (io.BytesIO(bad), "坏.xlsx")},
                             content_type="multipart/form-data")
    assert "找不到工号“Z999”" in text_of(response)
    assert count() == 0
    client.submit("/logout")
    make_user("doc", ["clinician"], tree.cardiology)
    client.login("doc")
    assert client.get("/imports/qualifications").status_code == 403


def _type_id(name: str) -> int:
    from portal.credentials.models import QualificationType

    return db.session.scalar(select(QualificationType.id).where(QualificationType.name == name))
