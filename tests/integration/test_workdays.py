"""The working-day calendar: the package's holidays and 调休, the administrator's entries for a year the package
does not know, and the visible warning when nothing covers a year."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from portal.core import workdays
from portal.core.audit import AuditLog
from portal.core.workdays import WorkdayAdjustment
from portal.extensions import db
from tests.conftest import text_of
from tests.factories import make_user


def test_national_day_and_spring_festival_from_the_package(session):
    # 2026: 10-01..10-07 off, Sunday 09-20 and Saturday 10-10 worked; 2025: 10-01..10-08 off, 09-28 and 10-11 worked.
    for day in range(1, 8):
        assert not workdays.is_working_day(date(2026, 10, day))
    assert workdays.is_working_day(date(2026, 10, 8))
    assert workdays.is_working_day(date(2026, 10, 10)) and workdays.is_working_day(date(2026, 9, 20))
    assert not workdays.is_working_day(date(2025, 10, 8))
    assert workdays.is_working_day(date(2025, 9, 28)) and workdays.is_working_day(date(2025, 10, 11))
    # Spring festival 2026: 02-15..02-23 off, Saturdays 02-14 and 02-28 worked.
    assert not any(workdays.is_working_day(date(2026, 2, d)) for d in range(15, 24))
    assert workdays.is_working_day(date(2026, 2, 14)) and workdays.is_working_day(date(2026, 2, 28))
    assert workdays.add_working_days(date(2026, 9, 30), 1) == date(2026, 10, 8)
    assert workdays.add_working_days(date(2025, 9, 30), 1) == date(2025, 10, 9)
    assert workdays.working_days_between(date(2026, 9, 30), date(2026, 10, 10)) == 3
    assert workdays.working_days_between(date(2026, 10, 10), date(2026, 9, 30)) == -3
    assert workdays.working_days_between(date(2026, 10, 8), date(2026, 10, 8)) == 0
    # 15 working days from Thursday 2026-09-24 cross mid-autumn (09-25) and national day.
    assert workdays.add_working_days(date(2026, 9, 24), 15) == date(2026, 10, 22)
    assert workdays.uncovered_years(date(2025, 1, 1), date(2026, 12, 31)) == []
    assert workdays.warning(date(2026, 1, 1)) == ""


def test_a_year_the_package_does_not_know_falls_back_to_weekends_with_a_warning(session):
    assert workdays.package_years()[1] == 2026
    assert workdays.is_working_day(date(2027, 10, 1))  # a Friday: a guess, so it is flagged
    assert not workdays.is_working_day(date(2027, 10, 2))
    assert workdays.uncovered_years(date(2026, 12, 20), date(2027, 1, 20)) == [2027]
    assert "2027 年节假日安排尚未录入" in workdays.warning(date(2026, 12, 20), date(2027, 1, 20))


def test_the_administrator_enters_2027_and_entries_override(client, tree):
    make_user("admin", ["sysadmin"], tree.hospital)
    client.login("admin")
    page = text_of(client.get("/admin/workdays?year=2027"))
    assert "2027 年节假日安排尚未录入" in page and "尚未录入" in page
    for day, working, note in (("2027-10-01", "0", "国庆节"), ("2027-10-04", "0", "国庆节"),
                               ("2027-09-26", "1", "国庆节调休上班")):
        response = client.submit("/admin/workdays", {"day": day, "is_working_day": working, "note": note})
        assert response.status_code == 303, text_of(response)[-400:]
    assert not workdays.is_working_day(date(2027, 10, 1))
    assert workdays.is_working_day(date(2027, 9, 26))
    assert workdays.add_working_days(date(2027, 9, 30), 1) == date(2027, 10, 5)
    assert workdays.uncovered_years(date(2027, 1, 1)) == [] and workdays.warning(date(2027, 5, 1)) == ""
    page = text_of(client.get("/admin/workdays?year=2027"))
    assert "国庆节调休上班" in page and "尚未录入" not in page
    # An entry for a year the package knows also wins (a late change by the State Council).
    assert client.submit("/admin/workdays", {"day": "2026-10-09", "is_working_day": "0",
                                             "note": "临时调整"}).status_code == 303
    assert not workdays.is_working_day(date(2026, 10, 9))
    entry = db.session.scalar(select(WorkdayAdjustment).where(WorkdayAdjustment.day == date(2026, 10, 9)))
    assert client.submit(f"/admin/workdays/{entry.id}/delete").status_code == 303
    assert workdays.is_working_day(date(2026, 10, 9))
    actions = db.session.scalars(select(AuditLog.action).where(AuditLog.entity_type == "workday_adjustment")).all()
    assert sorted(actions) == ["create"] * 4 + ["delete"]


def test_bad_entries_are_refused_in_chinese_and_change_nothing(client, tree):
    make_user("admin", ["ma_admin"], tree.hospital)
    client.login("admin")
    assert client.submit("/admin/workdays", {"day": "2027-10-01", "is_working_day": "0",
                                             "note": "国庆节"}).status_code == 303
    cases = [
        ({"day": "", "is_working_day": "0", "note": "国庆节"}, 422, "请填写日期"),
        ({"day": "2027-13-01", "is_working_day": "0", "note": "国庆节"}, 422, "请填写日期"),
        ({"day": "2027-10-02", "is_working_day": "", "note": "国庆节"}, 422, "请选择该日是上班还是休息"),
        ({"day": "2027-10-05", "is_working_day": "0", "note": ""}, 422, "请填写说明"),
        ({"day": "2027-10-05", "is_working_day": "0", "note": "长" * 101}, 422, "不能超过 100 个字符"),
        ({"day": "2027-10-01", "is_working_day": "0", "note": "重复"}, 409, "已有录入"),
        ({"day": "2027-10-05", "is_working_day": "1", "note": "上班"}, 422, "本来就是工作日"),
        ({"day": "2027-10-02", "is_working_day": "0", "note": "休息"}, 422, "本来就是周末休息日"),
        ({"day": "1999-10-02", "is_working_day": "1", "note": "上班"}, 422, "年份应在"),
    ]
    for data, status, message in cases:
        response = client.submit("/admin/workdays", data)
        assert response.status_code == status, (data, text_of(response)[-300:])
        assert message in text_of(response), data
    assert db.session.scalar(select(func.count()).select_from(WorkdayAdjustment)) == 1


def test_only_administrators_see_the_calendar(client, tree):
    make_user("doc", ["clinician"], tree.cardiology)
    client.login("doc")
    assert client.get("/admin/workdays").status_code == 403
    assert client.submit("/admin/workdays", {"day": "2027-10-01", "is_working_day": "0",
                                             "note": "国庆节"}).status_code == 403
    assert db.session.scalar(select(func.count()).select_from(WorkdayAdjustment)) == 0
