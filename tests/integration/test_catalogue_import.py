"""The operation dictionary import: a messy workbook gives row errors and writes nothing; a clean one tells new,
changed (with the fields) and unchanged rows, and writes revisions only for the changed ones."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.catalogue.models import Technology, TechnologyRevision
from portal.catalogue.technologies import services as catalogue
from portal.catalogue.technologies.imports import parse_grade
from portal.core.audit import AuditLog
from portal.core.service import ServiceError
from portal.extensions import db
from portal.io import imports
from portal.io.columns import CellError
from tests.conftest import text_of, xlsx_bytes
from tests.factories import make_user
from tests.workbooks import DateNum, raw_xlsx

HEADER = ["院内编码", "国家临床版3.0编码", "医保版2.0编码", "名称", "类别", "等级", "绩效考核四级手术", "微创", "日间",
          "限制类技术", "新技术新项目", "可开展科室", "前置资质", "状态", "生效日期"]


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize("value, grade", [(1, 1), (4.0, 4), ("3", 3), ("一级", 1), ("四级", 4), ("三级手术", 3),
                                          ("2级", 2), ("Ⅳ级", 4)])
def test_grades_accepted(value, grade):
    assert parse_grade(value) == grade


@pytest.mark.parametrize("value", [5, 0, 2.5, "五级", "特级", "高", True])
def test_grades_refused(value):
    with pytest.raises(CellError):
        parse_grade(value)


def test_a_messy_workbook_gives_row_errors_and_writes_nothing(session, tree):
    no = ["否"] * 5
    rows = [HEADER,
            ["SS001", "47.0100", "", "阑尾切除术", "手术", "五级", *no, "普外科", "", "启用", None],
            ["SS002", "", "", "胆囊切除术", "手术", "三级", *no, tree.surgery.code, "", "", None],
            ["ss002", "", "", "胆囊切除术（重复）", "手术", "三级", *no, "", "", "", None],
            ["SS003", "", "", "", "手术", "2", "否", "否", "否", "否", "否", "", "", "", None],
            ["SS004", "", "", "疝修补术", "手术", "2", "否", "否", "是", "否", "否", "", "", "", "三月初"],
            ["SS005", "", "", "甲状腺切除术", "介入", "2", "否", "否", "否", "否", "否", "", "", "", None],
            ["SS006", "", "", "乳腺肿物切除术", None, "1", "否", "否", "是", "否", "否", "", "", "", None],
            ["SS007", "", "", "痔切除术", "手术", "1", "Y", "√", "N", "否", "否", "普外科、不存在科", "", "", None],
            ["SS008", "", "", "冠脉造影", "介入", "2", "否", "否", "否", "否", "也许", "", "", "", None],
            ["SS009", "", "", "好的一行", "手术", "一级", *no, "普外科", "", "", DateNum("46000")]]
    content = raw_xlsx({"手术字典": rows}, merges={"手术字典": ("E7:E8",)})  # 类别 merged over rows 7-8
    result = imports.preview("technology", "字典.xlsx", content)
    errors = {}
    for number, header, _, message in result.first_errors(50):
        errors.setdefault(number, []).append((header, message))
    assert result.counts["total"] == 10
    assert errors[2] == [("等级", "手术等级“五级”无效，应为 1–4 或 一级–四级")]
    assert errors[4][0][1] == "与第 3 行重复"  # codes compare in any case
    assert errors[5] == [("名称", "必填项为空")]
    assert errors[6][0][0] == "生效日期" and "格式不正确" in errors[6][0][1]
    assert any("合并单元格" in m for _, m in errors[7]) and any("合并单元格" in m for _, m in errors[8])
    assert errors[9] == [("可开展科室", "找不到科室“不存在科”（可填科室代码或名称，用“、”分隔）")]
    assert errors[10] == [("新技术新项目", "应填“是”或“否”")]
    assert 11 not in errors and 3 not in errors
    with pytest.raises(ServiceError, match="没有写入任何数据"):
        imports.commit("technology", "字典.xlsx", content, "upsert", user_id=None)
    assert count(Technology) == 0 and count(TechnologyRevision) == 0


def test_a_clean_workbook_tells_new_changed_unchanged_and_revises_only_changes(session, tree):
    same = catalogue.create_technology({"code": "SS010", "name": "阑尾切除术", "category": "surgery", "grade": 2,
                                        "national_code": "47.0100"}, [tree.surgery.id], reason="初始")
    moved = catalogue.create_technology({"code": "SS011", "name": "胆囊切除术", "category": "surgery", "grade": 2},
                                        [], reason="初始")
    db.session.commit()
    audits = count(AuditLog)
    rows = [HEADER,
            ["SS010", "47.0100", "", "阑尾切除术", "手术", 2, "否", "否", "否", "否", "否", tree.surgery.code, "",
             "启用", None],
            ["SS011", "51.2200", "", "腹腔镜下胆囊切除术", "手术", "三级手术", "", "是", "", "", "",
             f"普外科；{tree.cardiology.code}", "YSZYZ", "", None],
            ["ss012", "", "", "经皮冠状动脉支架植入术", "介入", "四级", "Y", "√", "N", "否", "否", "心内科", "", "",
             None]]
    content = xlsx_bytes(rows)
    result = imports.preview("technology", "字典.xlsx", content)
    assert result.counts == {"total": 3, "new": 1, "updated": 2, "duplicate": 0, "invalid": 0}
    assert result.comparison["changed"] == 1 and result.comparison["unchanged"] == 1
    (row, key, fields), = result.comparison["rows"]
    assert (row, key) == (3, "SS011")
    assert fields == ["国家临床版3.0编码", "名称", "手术等级", "微创", "前置资质", "可开展科室"]
    assert count(Technology) == 2  # the preview wrote nothing
    imports.commit("technology", "字典.xlsx", content, "upsert", user_id=None)
    db.session.commit()
    assert [r.revision for r in catalogue.revisions(same.id)] == [1]
    moved = db.session.get(Technology, moved.id)
    assert (moved.revision, moved.grade, moved.name, moved.minimally_invasive) == (2, 3, "腹腔镜下胆囊切除术", True)
    assert sorted(d.code for d in moved.departments) == sorted([tree.surgery.code, tree.cardiology.code])
    latest = catalogue.revision(moved.id, 2)
    assert latest.source == "import" and latest.data["prerequisites"] == ["YSZYZ"]
    assert "手术等级" in latest.reason
    new = db.session.scalar(select(Technology).where(Technology.code == "SS012"))
    assert (new.grade, new.perf_grade4, new.day_surgery, new.status, new.revision) == (4, True, False, "active", 1)
    assert [d.id for d in new.departments] == [tree.cardiology.id]
    assert count(AuditLog) == audits + 1  # one summary record for the file
    # The same file again changes nothing.
    again = imports.commit("technology", "字典.xlsx", content, "upsert", user_id=None)
    assert (again.rows_new, again.rows_updated, again.rows_unchanged) == (0, 0, 3)
    assert count(TechnologyRevision) == 4


def test_effective_date_may_not_rewrite_history_or_lie_ahead(session, tree):
    catalogue.create_technology({"code": "SS020", "name": "甲", "category": "surgery", "grade": 2}, [], reason="初始")
    db.session.commit()
    rows = [HEADER,
            ["SS020", "", "", "甲", "手术", 3, "", "", "", "", "", "", "", "", "2020-01-01"],
            ["SS021", "", "", "乙", "手术", 3, "", "", "", "", "", "", "", "", "2099-01-01"],
            ["SS022", "", "", "丙", "手术", 3, "", "", "", "", "", "", "", "", "2024-05-01"]]
    result = imports.preview("technology", "字典.xlsx", xlsx_bytes(rows))
    messages = {number: message for number, _, _, message in result.first_errors()}
    assert "历史版本不能改写" in messages[2] and messages[3] == "生效日期不能晚于今天" and 4 not in messages


def test_the_import_page_shows_changed_fields(client, tree):
    catalogue.create_technology({"code": "SS030", "name": "甲", "category": "surgery", "grade": 2}, [], reason="初始")
    db.session.commit()
    make_user("yiwu_imp", ["ma_staff"], tree.hospital)
    client.login("yiwu_imp")
    assert client.get("/imports/technology").status_code == 200
    content = xlsx_bytes([HEADER[:6], ["SS030", "", "", "甲", "手术", "三级"]])
    import io

    response = client.submit("/imports/technology/preview", {"file": (io.BytesIO(content), "字典.xlsx")},
                             content_type="multipart/form-data")
    body = text_of(response)
    assert response.status_code == 200 and "将修改的记录" in body and "SS030 手术等级" in body
    assert "其中有改动 1" in body


def test_the_template_reads_back_as_a_valid_row(client, tree):
    make_user("yiwu_tpl", ["ma_staff"], tree.hospital)
    client.login("yiwu_tpl")
    response = client.get("/imports/technology/template")
    assert response.status_code == 200
    result = imports.preview("technology", "模板.xlsx", response.get_data())
    # The example names the demo hospital's 普外科 (PTWK): unknown here, and said so in Chinese.
    assert [m for _, _, _, m in result.first_errors()] == ["找不到科室“PTWK”（可填科室代码或名称，用“、”分隔）"]
