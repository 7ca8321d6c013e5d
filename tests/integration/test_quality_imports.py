"""Quality imports through portal/io: messy workbooks get row errors naming the value and write nothing; clean
ones write in bulk with one audit record and keep the summary; "replace the period"; events match or wait."""

from __future__ import annotations

import hashlib
import io
from datetime import date, datetime

import pytest
from sqlalchemy import func, select

from portal.core.audit import AuditLog
from portal.core.service import ServiceError
from portal.extensions import db
from portal.io import imports
from portal.quality import summary
from portal.quality.indicators.definitions import raw_counts
from portal.quality.models import Discharge, QualityEvent, QualityMonth, Surgery
from tests import quality_factories as qf
from tests.conftest import text_of, xlsx_bytes
from tests.factories import make_user

D_HEAD = ["出院记录号", "病案号", "住院次数", "患者标识", "出院科室", "入院日期", "出院日期", "离院方式", "日间手术"]
S_HEAD = ["手术记录号", "出院记录号", "病案号", "手术科室", "主刀工号", "手术编码", "手术类别", "开始时间", "结束时间",
          "切口类型", "愈合等级"]


@pytest.fixture
def setup(tree):
    qf.make_catalogue()
    qf.make_surgeon(tree.surgery, "王刀", "W001")
    return tree


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def summary_rows() -> dict:
    return {(r.month, r.department_id): (r.discharges, r.is_surgical, r.has_class1_infected)
            for r in db.session.scalars(select(QualityMonth)) if r.discharges}


def test_a_messy_discharge_workbook_gets_row_errors_naming_the_value_and_writes_nothing(setup):
    rows = [
        ["说明：2026年11月出院病案首页"],  # a title row above the header
        ["离院方式", "Discharge_Date", "出院科室", "病案号", "出院记录号", "入院日期", "住院次数", "姓名"],  # shuffled,
        ["医嘱离院", "2026-11-03", "普外科", "ZY1", "C1", "2026/11/01", 1, "张三"],  # English alias, unknown 姓名
        ["1", "2026年11月4日", "普外科", "ZY2", "C2", 46326, 1, ""],  # serial date, code 1
        ["家庭病床撤床", "20261105", "普外科", "ZY3", "C3", "2026.11.01", 2, ""],
        ["死亡", datetime(2026, 11, 6), "火星科", "ZY4", "C4", "2026-11-01", 1, ""],  # unknown department
        ["医嘱离院", "2026-11-07", "普外科", "", "C5", "2026-11-01", 1, ""],  # blank required 病案号
        ["医嘱离院", "2026-11-08", "普外科", "ZY6", "C1", "2026-11-01", 1, ""],  # C1 twice in the file
        ["飞走了", "2026-11-31", "普外科", "ZY7", "C7", "2026-11-01", 1, ""],  # bad mode and a day that is not
        ["医嘱离院", "2026-11-02", "普外科", "ZY8", "C8", "2026-11-05", 1, ""],  # discharged before admission
    ]
    content = xlsx_bytes(rows)
    preview = imports.preview("quality_discharges", "首页.xlsx", content)
    errors = {(r, h): (v, m) for r, h, v, m in preview.first_errors(50)}
    assert preview.counts["new"] == 3 and len(preview.invalid) + len(preview.duplicates) == 5
    assert "火星科" in errors[(6, "出院科室")][1]
    assert errors[(7, "病案号")][1] == "必填项为空"
    assert "与第 3 行重复" in errors[(8, "出院记录号")][1]
    assert (9, "离院方式") in errors and "不存在" in errors[(9, "出院日期")][1]
    assert "早于入院日期" in errors[(10, "出院日期")][1]
    assert "姓名" in preview.sheet.unknown_headers
    with pytest.raises(ServiceError):
        imports.commit("quality_discharges", "首页.xlsx", content, "upsert", user_id=None)
    assert count(Discharge) == 0 and count(QualityMonth) == 0
    # Wrong headers (no record id column, a typo for another): refused as a whole, with what is missing.
    with pytest.raises(ServiceError, match="表头"):
        imports.preview("quality_discharges", "错表头.xlsx", xlsx_bytes(
            [["编号", "病案号", "出院科室", "入院日其", "出院日期", "离院方式"],
             ["C1", "ZY1", "普外科", "2026-11-01", "2026-11-03", "医嘱离院"]]))
    good = xlsx_bytes([rows[1], *rows[2:5]])
    log = imports.commit("quality_discharges", "首页.xlsx", good, "upsert", user_id=None)
    db.session.commit()
    assert log.rows_new == 3 and count(Discharge) == 3
    stored = {d.record_id: d for d in db.session.scalars(select(Discharge))}
    assert stored["C2"].admission_date == date(2026, 10, 31) and stored["C3"].discharge_date == date(2026, 11, 5)
    assert stored["C3"].discharge_mode == "home_bed" and stored["C2"].discharge_mode == "1"
    assert not hasattr(stored["C1"], "name") and stored["C1"].patient_pseudonym == ""
    audits = select(func.count()).select_from(AuditLog).where(AuditLog.entity_type == "import_log")
    assert db.session.scalar(audits) == 1  # one summary record for the whole file
    assert summary_rows() == {(date(2026, 11, 1), setup.surgery.id): (2, 0, 0)}  # C3 家庭病床撤床 not counted
    # A duplicate against the database is a correction, not a second record.
    again = xlsx_bytes([D_HEAD, ["C2", "ZY2", 1, "", "心内科", "2026-11-01", "2026-11-04", "死亡", "否"]])
    log = imports.commit("quality_discharges", "更正.xlsx", again, "upsert", user_id=None)
    db.session.commit()
    assert (log.rows_new, log.rows_updated) == (0, 1) and count(Discharge) == 3
    assert summary_rows() == {(date(2026, 11, 1), setup.surgery.id): (1, 0, 0),
                              (date(2026, 11, 1), setup.cardiology.id): (1, 0, 0)}


def test_surgeries_need_known_staff_and_operation_codes_and_take_the_catalogue_defaults(setup):
    content = xlsx_bytes([
        ["Surgery_ID", "出院记录号", "病案号", "科室", "主刀", "手术编码", "手术类别", "手术开始时间", "切口", "愈合"],
        ["S1", "D1", "ZY1", "普外科", "w001", "T-LC", "择期", "2026-11-03 08:30", "Ⅰ类", "丙"],  # local code
        ["S2", "D1", "ZY1", "普外科", "W001", "43.7x00", "急诊", "2026/11/04 09:00", "II", "甲级"],  # national code
        ["S3", "D1", "ZY1", "普外科", "X999", "T-LC", "择期", "2026-11-05 08:00", "", ""],  # unknown staff
        ["S4", "D1", "ZY1", "普外科", "W001", "99.9999", "择期", "2026-11-05 08:00", "", ""],  # unknown code
        ["S5", "D1", "ZY1", "普外科", "W001", "T-LC", "随便", "2026-11-05 08:00", "IV", ""],  # bad enums
    ])
    preview = imports.preview("quality_surgeries", "手术.xlsx", content)
    errors = {(r, h): m for r, h, _, m in preview.first_errors(50)}
    assert "X999" in errors[(4, "主刀工号")] and "99.9999" in errors[(5, "手术编码")]
    assert (6, "手术类别") in errors and (6, "切口类型") in errors
    assert count(Surgery) == 0
    qf.save(discharge_rows=[qf.discharge("D1", setup.surgery, date(2026, 11, 8))])
    clean = xlsx_bytes([["手术记录号", "出院记录号", "病案号", "科室", "主刀", "手术编码", "手术类别", "开始时间",
                         "切口", "愈合"],
                        ["S1", "D1", "ZY1", "普外科", "w001", "T-LC", "择期", "2026-11-03 08:30", "Ⅰ类", "丙"],
                        ["S2", "D1", "ZY1", "普外科", "W001", "43.7x00", "急诊", "2026/11/04 09:00", "II", "甲级"]])
    imports.commit("quality_surgeries", "手术.xlsx", clean, "upsert", user_id=None)
    db.session.commit()
    s1, s2 = (db.session.scalar(select(Surgery).where(Surgery.record_id == r)) for r in ("S1", "S2"))
    assert (s1.grade, s1.minimally_invasive, s1.kind, s1.incision, s1.healing) == (3, True, "surgery", "I", "C")
    assert (s2.operation_code, s2.grade, s2.urgency) == ("T-GAS", 4, "emergency")
    assert s1.started_at.hour == 0 and s1.operation_date == date(2026, 11, 3)  # 08:30 Beijing is 00:30 UTC
    flags = db.session.scalar(select(Discharge).where(Discharge.record_id == "D1"))
    assert (flags.is_surgical, flags.has_mi, flags.has_grade4, flags.has_class1_infected) == (True, True, True, True)
    assert summary_rows() == {(date(2026, 11, 1), setup.surgery.id): (1, 1, 1)}


def test_replace_the_period_deletes_only_that_period_and_keeps_the_summary(setup):
    qf.save(discharge_rows=[qf.discharge("A1", setup.surgery, date(2026, 10, 20)),
                            qf.discharge("B1", setup.surgery, date(2026, 11, 2)),
                            qf.discharge("B2", setup.surgery, date(2026, 11, 3))])
    content = xlsx_bytes([D_HEAD, ["B2", "ZYB2", 1, "", "普外科", "2026-11-01", "2026-11-03", "医嘱离院", "否"],
                          ["B3", "ZYB3", 1, "", "普外科", "2026-11-01", "2026-11-04", "医嘱离院", "否"]])
    plan = imports.plan_replace("quality_discharges", date(2026, 11, 1), date(2026, 11, 30),
                                (date(2026, 11, 3), date(2026, 11, 4)))
    assert plan.deleting == 2
    log = imports.commit("quality_discharges", "11月.xlsx", content, "replace", user_id=None,
                         period=(date(2026, 11, 1), date(2026, 11, 30)))
    db.session.commit()
    assert log.rows_deleted == 2 and log.rows_new == 2
    assert sorted(db.session.scalars(select(Discharge.record_id))) == ["A1", "B2", "B3"]
    expected = summary_rows()
    summary.rebuild()
    assert summary_rows() == expected == {(date(2026, 10, 1), setup.surgery.id): (1, 0, 0),
                                          (date(2026, 11, 1), setup.surgery.id): (2, 0, 0)}
    with pytest.raises(ServiceError, match="不在替换期间"):
        imports.commit("quality_discharges", "11月.xlsx", content, "replace", user_id=None,
                       period=(date(2026, 11, 4), date(2026, 11, 30)))


def test_events_by_date_match_by_id_or_record_number_and_date_and_unmatched_ones_wait(setup, client):
    qf.save(discharge_rows=[qf.discharge("D1", setup.surgery, date(2026, 11, 8))])
    content = xlsx_bytes([
        ["手术记录号", "病案号", "手术日期", "发生日期", "并发症名称"],
        ["", "ZYD1", "2026-11-03", "2026-11-05", "术后出血"],  # by 病案号 + date: surgery comes later
        ["S9", "", "", "2026-11-05", "肺部感染"],  # a surgery id nobody knows
        ["", "ZYD1", "", "2026-11-05", "缺日期"],  # neither way to match
        ["", "ZYD1", "2026-11-03", "2026-11-05", "术后出血"],  # the first row again
    ])
    preview = imports.preview("quality_complications", "并发症.xlsx", content)
    errors = {(r, h): m for r, h, _, m in preview.first_errors()}
    assert "病案号和手术日期" in errors[(4, "手术记录号")] and "与第 2 行重复" in errors[(5, "事件编号")]
    good = xlsx_bytes([["手术记录号", "病案号", "手术日期", "发生日期", "并发症名称"],
                       ["", "ZYD1", "2026-11-03", "2026-11-05", "术后出血"], ["S9", "", "", "2026-11-05", "肺部感染"]])
    imports.commit("quality_complications", "并发症.xlsx", good, "upsert", user_id=None)
    db.session.commit()
    assert sorted(db.session.scalars(select(QualityEvent.status))) == ["unmatched", "unmatched"]
    surgeon = qf.make_surgeon(setup.surgery, "赵刀")
    qf.save(surgery_rows=[qf.surgery("S1", "D1", setup.surgery, surgeon, "T-LC", datetime(2026, 11, 3, 9))])
    matched = db.session.scalar(select(QualityEvent).where(QualityEvent.name == "术后出血"))
    assert matched.status == "matched" and matched.surgery.record_id == "S1"
    assert raw_counts(date(2026, 11, 1), date(2026, 11, 30))[setup.surgery.id]["has_complication"] == 1
    assert db.session.scalar(select(Discharge.has_complication).where(Discharge.record_id == "D1")) is True
    # The unmatched one is listed and corrected by hand.
    make_user("qa_ma", ["ma_staff"], setup.hospital, name="医务科")
    client.login("qa_ma")
    listed = text_of(client.get("/quality/events?month=2026-11&status=unmatched"))
    assert "肺部感染" in listed and "术后出血" not in listed
    waiting = db.session.scalar(select(QualityEvent).where(QualityEvent.name == "肺部感染"))
    assert client.get(f"/quality/events/{waiting.id}").status_code == 200
    bad = client.submit(f"/quality/events/{waiting.id}/link", {"surgery_record_id": "NOPE"})
    assert bad.status_code == 422 and "找不到手术记录号" in text_of(bad)
    done = client.submit(f"/quality/events/{waiting.id}/link", {"surgery_record_id": "S1"})
    assert done.status_code == 303
    db.session.expire_all()
    assert db.session.get(QualityEvent, waiting.id).status == "matched"


def test_reoperation_import_measures_the_interval_from_the_end_of_the_first_operation(setup):
    surgeon = qf.make_surgeon(setup.surgery, "钱刀")
    qf.save(discharge_rows=[qf.discharge("D1", setup.surgery, date(2026, 11, 20))],
            surgery_rows=[qf.surgery("S1", "D1", setup.surgery, surgeon, "T-GAS", datetime(2026, 11, 3, 8),
                                     ended_at=datetime(2026, 11, 3, 12))])
    content = xlsx_bytes([["手术记录号", "发生日期", "再次手术名称", "再次手术时间", "间隔小时数"],
                          ["S1", "2026-11-05", "止血", "2026-11-05 11:30", ""],
                          ["S1", "2026-11-20", "再探查", "", ""]])
    preview = imports.preview("quality_reoperations", "重返.xlsx", content)
    assert [m for *_, m in preview.first_errors()] == ["请填写再次手术时间或间隔小时数"]
    imports.commit("quality_reoperations", "重返.xlsx", xlsx_bytes([
        ["手术记录号", "发生日期", "再次手术名称", "再次手术时间"], ["S1", "2026-11-05", "止血", "2026-11-05 11:30"]]),
        "upsert", user_id=None)
    db.session.commit()
    event = db.session.scalar(select(QualityEvent))
    assert float(event.interval_hours) == 47.5
    flags = db.session.scalar(select(Discharge).where(Discharge.record_id == "D1"))
    assert flags.has_reop48 and flags.has_reop31


def test_the_upload_pages_work_for_medical_affairs_and_refuse_a_department_head(setup, client):
    make_user("qa_ma", ["ma_staff"], setup.hospital, name="医务科")
    make_user("gs_head", ["dept_head"], setup.surgery, name="普外主任")
    client.login("qa_ma")
    content = xlsx_bytes([D_HEAD, ["W1", "ZYW1", 1, "", "普外科", "2026-11-01", "2026-11-03", "医嘱离院", "否"]])
    page = client.submit("/imports/quality_discharges/preview", {"file": (io.BytesIO(content), "出院.xlsx")},
                         content_type="multipart/form-data")
    assert page.status_code == 200 and "新记录 1" in text_of(page)
    done = client.submit("/imports/quality_discharges/commit",
                         {"sha256": hashlib.sha256(content).hexdigest(), "mode": "upsert"})
    assert done.status_code == 303 and count(Discharge) == 1
    for code in ("quality_surgeries", "quality_complications", "quality_reoperations", "quality_infections",
                 "quality_ssi"):
        assert client.get(f"/imports/{code}").status_code == 200
        assert client.get(f"/imports/{code}/template").status_code == 200
    client.get("/logout")
    client.login("gs_head")
    assert client.get("/imports/quality_discharges").status_code in (403, 404)


def test_hostile_files_get_a_clear_refusal_and_nothing_is_written(setup, client, monkeypatch):
    from portal.quality.discharges.imports import DISCHARGE_IMPORT

    make_user("qa_ma", ["ma_staff"], setup.hospital, name="医务科")
    client.login("qa_ma")

    def upload(content: bytes, name: str = "出院.xlsx"):
        return client.submit("/imports/quality_discharges/preview", {"file": (io.BytesIO(content), name)},
                             content_type="multipart/form-data")

    renamed = upload(b"PK\x03\x04" + b"\x00" * 200)  # a broken zip renamed .xlsx
    assert renamed.status_code == 422 and "xlsx" in text_of(renamed).lower()
    assert upload(b"not a workbook at all").status_code == 422
    row = ["F1", "ZYF1", 1, "", "普外科", "2026-11-01", "2026-11-03", "医嘱离院", "否"]
    formulas = upload(xlsx_bytes([D_HEAD, [*row[:1], "=HYPERLINK(\"http://x.example/\",\"ZY1\")", *row[2:]],
                                  ["F2", "='[外部.xlsx]Sheet1'!A1", 1, "", "普外科", "2026-11-01", "2026-11-03",
                                   "医嘱离院", "否"]]))
    assert formulas.status_code in (200, 422) and "确认导入" not in text_of(formulas)
    monkeypatch.setattr(DISCHARGE_IMPORT, "max_rows", 3)
    many = upload(xlsx_bytes([D_HEAD, *([f"M{i}", *row[1:]] for i in range(8))]))
    assert many.status_code == 422 and "超过 3 行" in text_of(many)
    assert count(Discharge) == 0
