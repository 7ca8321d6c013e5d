"""Imports of workbooks as ward staff make them and LibreOffice saves them: numbers where text was meant,
hinted headers, an instructions sheet first, and hostile files refused before they cost the server."""

from __future__ import annotations

import io
from datetime import date

from sqlalchemy import select

from portal.auth.models import Staff
from portal.extensions import db
from portal.io import imports
from tests import cm_factories as cm
from tests.conftest import text_of
from tests.factories import make_user
from tests.workbooks import Num, Styled, raw_xlsx


def test_staff_behind_an_instructions_sheet_with_a_hinted_header_are_stored_as_written(session, tree):
    content = raw_xlsx({"填写说明": [["人员导入说明"], ["在职填“是”或“否”"]],
                        "人员": [["工号", "姓名", "科室", "在职（是/否）"], [1001, "张三", "心内科", "否"]]})
    result = imports.preview("staff", "人员.xlsx", content)
    assert result.counts["new"] == 1 and result.sheet.sheet_name == "人员"
    imports.commit("staff", "人员.xlsx", content, "upsert", user_id=None)
    staff = db.session.scalar(select(Staff).where(Staff.employee_no == "1001"))
    assert staff.name == "张三" and staff.is_active is False  # not the default "是"


def test_a_resident_id_read_as_a_number_is_refused_with_the_text_format_message(session, tree):
    header = ["姓名", "证件类型", "证件号码", "ICD-10编码", "疾病名称", "入组日期"]
    typed = cm.resident_id(611)
    rows = [header, ["钱一", "居民身份证", Num(f"{float(typed[:17] + '0'):.14E}".replace("E+", "E+0")), "C34", "肺",
                     Num("20261102")],
            ["孙二", "居民身份证", cm.resident_id(612), "C34", "肺", Num("20261102")]]
    result = imports.preview("cm_enrolment", "入组.xlsx", raw_xlsx({"Sheet1": rows}))
    assert result.counts["invalid"] == 1 and result.counts["new"] == 1
    (_, column, _, message), = result.first_errors()
    assert column == "证件号码" and "请把该列设置为文本格式后重新填写" in message and "校验位" not in message
    assert result.new[0].values["start_date"] == date(2026, 11, 2)  # 20261102 typed as a number is that day


def test_hostile_uploads_are_refused_with_a_reason_and_nothing_read(app, client, tree):
    make_user("root", ["sysadmin"], tree.hospital)
    client.login("root")
    far = raw_xlsx({"Sheet1": [["工号", "姓名", "科室"], ["H1", "张三", "心内科"]]},
                   extra={"Sheet1": {"XFD1048576": Styled()}})
    page = client.submit("/imports/staff/preview", {"file": (io.BytesIO(far), "人员.xlsx")},
                         content_type="multipart/form-data")
    # Refused from the declared range before any row is read (the row cap or the dimension check, whichever first).
    assert page.status_code == 422 and ("1048576 行" in text_of(page) or "A1:XFD1048576" in text_of(page))
    filler = "".join(f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>H{r}</t></is></c></row>' for r in range(2, 3000))
    sheet = ('<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
             f"<sheetData>{filler * 15}</sheetData></worksheet>").encode()  # 3 MB inflated
    bomb = raw_xlsx({"Sheet1": []}, big_parts={"Sheet1": sheet})
    app.config["IMPORT_MAX_INFLATED_MB"] = 2
    try:
        page = client.submit("/imports/staff/preview", {"file": (io.BytesIO(bomb), "人员.xlsx")},
                             content_type="multipart/form-data")
    finally:
        app.config["IMPORT_MAX_INFLATED_MB"] = 200
    assert page.status_code == 422 and "文件解压后超过 2 MB" in text_of(page)
