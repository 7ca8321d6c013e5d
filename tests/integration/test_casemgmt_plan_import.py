"""The next-day plan as an Excel import (cm_plan): template, preview, commit, idempotence, cell errors, replace."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, date, datetime

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from portal.casemgmt.models import Patient, Plan, PlanItem
from portal.casemgmt.patients import services as patients
from portal.casemgmt.plans import clock as plan_clock
from portal.casemgmt.plans import parsing as plan_parsing
from portal.casemgmt.plans import queries as plan_queries
from portal.core.service import ServiceError
from portal.extensions import db
from portal.io import imports
from tests import cm_factories as cm
from tests.conftest import text_of, xlsx_bytes
from tests.factories import make_user
from tests.sqlcount import statements

DAY = date(2026, 11, 24)
BEFORE = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # 16:00 Beijing
AFTER = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)  # 17:30 Beijing
HEADER = ["计划日期", "项目编号", "患者", "姓名", "服务项目", "服务内容", "病区", "床号", "时段", "特殊需求",
          "特殊需求说明", "备注"]


@pytest.fixture
def clock(monkeypatch):
    state = {"now": BEFORE}
    monkeypatch.setattr(plan_clock, "utcnow", lambda: state["now"])
    return state


@pytest.fixture
def world(tree, clock):
    ward = cm.make_ward("胸外病区", tree.surgery)
    cm.make_patient("张三丰", hospital_no="ZY001")
    cm.make_patient("王五", hospital_no="ZY002")
    return {"ward": ward}


def rows(*extra: list) -> list[list]:
    return [HEADER,
            ["2026-11-24", "H1", "ZY001", "张三丰", "陪同入院", "办理入院", "胸外病区", "12", "上午", "轮椅、禁食",
             "家属陪同", ""],
            ["2026/11/24", "H2", "ZY002", "王五", "电话随访", "", "", "", "", "", "", "术后第一天"],
            ["2026年11月24日", None, "ZY404", "孙七", "健康宣教推送", "", "胸外病区", "", "下午", "", "", ""],
            *extra]


def items() -> dict[str, PlanItem]:
    stmt = select(PlanItem).order_by(PlanItem.id).execution_options(populate_existing=True)
    return {i.external_id: i for i in db.session.scalars(stmt)}


def plan() -> Plan:
    return db.session.scalar(select(Plan).execution_options(populate_existing=True))


def test_template_has_the_columns_and_an_example(client, tree, world):
    make_user("importer", ["plan_issuer", "sysadmin"], tree.surgery)
    client.login("importer")
    response = client.get("/imports/cm_plan/template")
    assert response.status_code == 200
    wb = load_workbook(io.BytesIO(response.data))
    assert [c.value for c in wb.worksheets[0][1]] == HEADER
    notes = {row[0].value: row[3].value for row in wb.worksheets[1].iter_rows(min_row=2)}
    assert "轮椅" in notes["特殊需求"] and "陪同入院" in notes["服务项目"]


def test_preview_then_commit_then_the_same_file_again_changes_nothing(session, world):
    content = xlsx_bytes(rows())
    result = imports.preview("cm_plan", "计划.xlsx", content)
    assert result.counts == {"total": 3, "new": 3, "updated": 0, "duplicate": 0, "invalid": 0}
    assert db.session.scalar(select(func.count()).select_from(PlanItem)) == 0
    log = imports.commit("cm_plan", "计划.xlsx", content, "upsert", user_id=None)
    db.session.commit()
    assert (log.rows_new, log.rows_updated, log.rows_unchanged) == (3, 0, 0)
    found = items()
    generated = next(k for k in found if k not in ("H1", "H2"))
    assert generated == plan_parsing.stable_external_id(DAY, "ZY404", "education", "afternoon")
    assert found["H1"].special_needs == ["wheelchair", "fasting"] and found["H1"].ward_id == world["ward"].id
    assert found["H2"].time_slot == "any" and found[generated].patient_id is None
    assert {i.source for i in found.values()} == {"excel"}
    assert (plan().revision, plan().is_late) == (1, False)  # one file, one submission
    again = imports.commit("cm_plan", "计划.xlsx", content, "upsert", user_id=None)
    db.session.commit()
    assert (again.rows_new, again.rows_updated, again.rows_unchanged) == (0, 0, 3)
    assert plan().revision == 1 and db.session.scalar(select(func.count()).select_from(PlanItem)) == 3


def test_a_corrected_file_after_the_cutoff_is_one_late_revision(session, world, clock):
    imports.commit("cm_plan", "计划.xlsx", xlsx_bytes(rows()), "upsert", user_id=None)
    db.session.commit()
    clock["now"] = AFTER
    changed = rows()
    changed[1][7] = "15"  # H1 moves bed
    changed[2][11] = "改为下午随访"
    log = imports.commit("cm_plan", "计划2.xlsx", xlsx_bytes(changed), "upsert", user_id=None)
    db.session.commit()
    assert (log.rows_updated, log.rows_unchanged) == (2, 1)
    assert (plan().revision, plan().is_late) == (2, True)
    found = items()
    assert found["H1"].bed == "15" and found["H1"].is_late and found["H2"].is_late
    assert not next(i for k, i in found.items() if k not in ("H1", "H2")).is_late


def test_cell_and_row_errors_in_the_preview(session, world):
    enrolment = cm.enrol(db.session.scalar(select(Patient).where(Patient.hospital_no == "ZY002")))
    patients.close_enrolment(enrolment, closed_on=date(2026, 11, 20), reason="结案")
    db.session.commit()
    content = xlsx_bytes(rows(
        ["2026-11-24", "H5", "ZY001", "张三丰", "陪同出院", "", "", "", "", "轮椅、飞毯", "", ""],
        ["2026-11-23", "H6", "ZY001", "张三丰", "营养筛查", "", "", "", "", "", "", ""],
        ["2026-11-24", "H7", "ZY001", "张三丰", "挂号", "", "火星病区", "", "", "", "", "备" * 501],
        ["2026-11-24", "H1", "ZY001", "张三丰", "用药提醒", "", "", "", "", "", "", ""],
    ))
    result = imports.preview("cm_plan", "坏.xlsx", content)
    errors = {(row, header): message for row, header, _, message in result.first_errors(50)}
    assert errors[(3, "患者")].startswith("患者王*（ZY002）已出院结案")
    assert errors[(5, "特殊需求")].startswith("未知的特殊需求“飞毯”")
    assert "明天" in errors[(6, "计划日期")]
    assert errors[(7, "服务项目")].startswith("应为以下之一") and "找不到科室“火星病区”" in errors[(7, "病区")]
    assert errors[(7, "备注")] == "超过 500 个字符"
    assert errors[(8, "计划日期、项目编号")] == "与第 2 行重复"
    with pytest.raises(ServiceError, match="没有写入任何数据"):
        imports.commit("cm_plan", "坏.xlsx", content, "upsert", user_id=None)
    assert db.session.scalar(select(func.count()).select_from(PlanItem)) == 0
    report = load_workbook(io.BytesIO(imports.error_report(result))).active
    assert any("飞毯" in str(c.value) for c in report["N"])


def test_replace_cancels_the_period_and_restores_what_comes_back_unchanged(session, world, clock):
    imports.commit("cm_plan", "计划.xlsx", xlsx_bytes(rows()), "upsert", user_id=None)
    db.session.commit()
    assert plan_queries.count_period(DAY, DAY) == 3
    clock["now"] = AFTER
    only_h1 = xlsx_bytes([HEADER, rows()[1]])
    log = imports.commit("cm_plan", "只有H1.xlsx", only_h1, "replace", user_id=None, period=(DAY, DAY))
    db.session.commit()
    assert log.rows_deleted == 3 and log.rows_unchanged == 1
    found = items()
    assert len(found) == 3  # cancelled, never deleted
    assert {k: i.is_cancelled for k, i in found.items()} == {k: k != "H1" for k in found}
    # H1 came back as it was: not late, not cancelled; the cancelled ones were withdrawn after the cutoff.
    assert not found["H1"].is_late and found["H2"].is_late
    assert plan_queries.count_period(DAY, DAY) == 1 and (plan().revision, plan().is_late) == (2, True)
    with pytest.raises(ServiceError, match="明天"):
        imports.commit("cm_plan", "只有H1.xlsx", only_h1, "replace", user_id=None, period=(date(2026, 11, 23), DAY))


def test_import_through_the_pages(client, tree, world):
    make_user("importer", ["plan_issuer", "sysadmin"], tree.surgery)
    client.login("importer")
    assert "Excel 导入" in text_of(client.get(f"/casemgmt/plans/{DAY}"))
    content = xlsx_bytes(rows())
    page = client.submit("/imports/cm_plan/preview", {"file": (io.BytesIO(content), "计划.xlsx")},
                         content_type="multipart/form-data")
    assert page.status_code == 200 and "确认导入" in text_of(page)
    done = client.submit("/imports/cm_plan/commit", {"sha256": hashlib.sha256(content).hexdigest(), "mode": "upsert"})
    assert done.status_code == 303
    assert db.session.scalar(select(func.count()).select_from(PlanItem)) == 3
    make_user("nurse", ["case_manager"], tree.surgery)
    client.submit("/logout")
    client.login("nurse")
    assert client.get("/imports/cm_plan").status_code == 403


def test_the_same_patient_service_and_slot_under_two_item_ids_is_a_preview_error(session, world):
    # By the same 住院号 (the file's own unique key), and by 住院号 in one row and ID number in the other
    # (the plan's rule, checked for all rows of the date at once).
    zhang = db.session.scalar(select(Patient).where(Patient.hospital_no == "ZY001"))
    number = patients.reveal(zhang, "id_number")
    content = xlsx_bytes(rows(
        ["2026-11-24", "H8", "ZY001", "张三丰", "陪同入院", "", "", "", "上午", "", "", ""],
        ["2026-11-24", "H9", "ZY002", "王五", "电话随访", "", "", "", "", "", "", ""],
        ["2026-11-24", "H10", number, "张三丰", "营养筛查", "", "", "", "", "", "", ""],
        ["2026-11-24", "H11", "ZY001", "张三丰", "营养筛查", "", "", "", "全天", "", "", ""],
    ))
    result = imports.preview("cm_plan", "重复.xlsx", content)
    errors = {row: message for row, _, _, message in result.first_errors(50)}
    assert errors[5] == "与第 2 行重复（计划日期、患者、服务项目、时段相同）"
    assert errors[6] == "与第 3 行重复（计划日期、患者、服务项目、时段相同）"  # a blank slot is "全天"
    assert errors[8].startswith("与第 7 行重复：同一患者、同一服务项目")
    assert result.counts["duplicate"] == 2 and result.counts["invalid"] == 1
    with pytest.raises(ServiceError, match="没有写入任何数据"):
        imports.commit("cm_plan", "重复.xlsx", content, "upsert", user_id=None)
    assert db.session.scalar(select(func.count()).select_from(PlanItem)) == 0


def test_the_plan_import_writes_in_bulk_with_one_summary_audit_record(session, world, clock):
    """One submission per date, not one per row: the items are audited by the import's record of changed keys."""
    from portal.core.audit import AuditLog

    def commit_counting(content: bytes, name: str):
        with statements(db.session.connection(), only=("INSERT", "UPDATE")) as writes:
            log = imports.commit("cm_plan", name, content, "upsert", user_id=None)
        db.session.commit()
        return log, len(writes)

    for i in range(20):
        cm.make_patient(f"患者{i}", hospital_no=f"ZY1{i:02d}")
    extra = [["2026-11-24", f"X{i}", f"ZY1{i:02d}", f"患者{i}", "电话随访", "", "", "", "", "", "", ""]
             for i in range(20)]
    small, small_writes = commit_counting(xlsx_bytes(rows()), "计划.xlsx")
    clock["now"] = AFTER
    changed = rows(*extra)
    changed[1][7] = "15"  # H1 corrected
    large, large_writes = commit_counting(xlsx_bytes(changed), "计划2.xlsx")
    assert (small.rows_new, large.rows_new, large.rows_updated, large.rows_unchanged) == (3, 20, 1, 2)
    assert large_writes == small_writes + 1  # one more UPDATE (the corrected item), not one INSERT per new row
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.entity_type == "plan_item")) == 0
    summary = db.session.scalar(select(AuditLog).where(AuditLog.entity_type == "import_log")
                                .order_by(AuditLog.id.desc()))
    keys = summary.changes["keys"]["after"]
    assert keys["updated"] == ["2026-11-24/H1"] and keys["new"] == [f"2026-11-24/X{i}" for i in range(20)]
    found = items()
    assert found["H1"].bed == "15" and found["H1"].is_late and found["X3"].is_late and found["X3"].source == "excel"
    assert (plan().revision, plan().is_late) == (2, True)


def test_a_commit_checks_each_row_once_under_the_write_lock(session, world, monkeypatch):
    """The preview runs the plan's checks; a commit leaves them to submit_plan (under the write lock), so a
    problem found there still refuses the whole file and writes nothing."""
    from portal.casemgmt.plans import services as plan_services

    plan_type = imports.TYPES["cm_plan"]
    calls = {"check_rows": 0, "submit_plan": 0}
    check_rows, submit_plan = plan_type.check_rows, plan_services.submit_plan

    def counted_check_rows(rows):
        calls["check_rows"] += 1
        return check_rows(rows)

    def counted_submit_plan(*args, **kwargs):
        calls["submit_plan"] += 1
        return submit_plan(*args, **kwargs)

    monkeypatch.setattr(plan_type, "check_rows", counted_check_rows)
    monkeypatch.setattr(plan_services, "submit_plan", counted_submit_plan)
    imports.commit("cm_plan", "计划.xlsx", xlsx_bytes(rows()), "upsert", user_id=None)
    db.session.commit()
    assert calls == {"check_rows": 0, "submit_plan": 1} and len(items()) == 3
    # The same patient and service under two ids, one naming them by ID number: only the plan's rule sees it.
    zhang = db.session.scalar(select(Patient).where(Patient.hospital_no == "ZY001"))
    number = patients.reveal(zhang, "id_number")
    content = xlsx_bytes(rows(["2026-11-24", "H10", number, "张三丰", "营养筛查", "", "", "", "", "", "", ""],
                              ["2026-11-24", "H11", "ZY001", "张三丰", "营养筛查", "", "", "", "全天", "", "", ""]))
    assert imports.preview("cm_plan", "重复.xlsx", content).counts["invalid"] == 1
    assert calls["check_rows"] == 1
    with pytest.raises(ServiceError, match="没有写入任何数据"):
        imports.commit("cm_plan", "重复.xlsx", content, "upsert", user_id=None)
    db.session.rollback()
    found = items()
    assert calls["check_rows"] == 1 and len(found) == 3 and "H10" not in found and "H11" not in found
