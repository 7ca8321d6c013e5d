"""Restricted-technology filings: the deadline in working days, the tracker, documents and their permission,
the filing result, one filing per technology, and the 5/3/1 reminders sent once each."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select

from portal.auth.models import User
from portal.catalogue.filings import services
from portal.catalogue.models import FilingDocument, RestrictedFiling
from portal.catalogue.newtech.demo import make_technology
from portal.core import timeutil
from portal.core.audit import AuditLog
from portal.core.timeutil import LOCAL_TZ
from portal.extensions import db
from portal.notify.models import Notification
from tests.conftest import text_of
from tests.factories import make_staff, make_user

TODAY = date(2026, 10, 12)
PDF = b"%PDF-1.4\n%test\n%%EOF\n"


@pytest.fixture(autouse=True)
def pinned_clock(monkeypatch):
    noon = datetime.combine(TODAY, time(12), LOCAL_TZ).astimezone(UTC)
    monkeypatch.setattr(timeutil, "_now", lambda: noon)


@pytest.fixture
def setup(tree):
    class S:
        ma = make_user("ma", ["ma_staff"], tree.hospital, name="医务科陈")
        boss = make_user("boss", ["ma_admin"], tree.hospital, name="医务科李")
        head = make_user("head", ["dept_head"], tree.cardiology, name="张主任")
        other = make_user("ohead", ["dept_head"], tree.surgery, name="周主任")
        doc = make_user("doc", ["clinician"], tree.cardiology, name="刘医生")
        surgeon = make_staff("王术者", tree.cardiology, employee_no="C9001")
        tech = make_technology("T-TAVR", "经导管主动脉瓣置换术", "interventional", 4, [tree.cardiology],
                               restricted=True)
        plain = make_technology("T-PCI", "经皮冠状动脉介入治疗", "interventional", 3, [tree.cardiology])
    db.session.commit()
    return S


def first_case(client, s, tree, **changes):
    data = {"technology_id": s.tech.id, "first_case_date": "2026-09-24", "patient_record_no": "00231875",
            "surgeon_employee_no": "C9001", "department_id": tree.cardiology.id, **changes}
    return client.submit("/catalogue/filings/new", data)


def test_first_case_opens_a_filing_due_in_15_working_days(client, tree, setup):
    client.login("ma")
    response = first_case(client, setup, tree)
    assert response.status_code == 303, text_of(response)[-400:]
    filing = db.session.scalar(select(RestrictedFiling))
    # Thursday 2026-09-24 + 15 working days, skipping mid-autumn and national day, with Saturday 10-10 worked.
    assert filing.deadline == date(2026, 10, 22) and filing.status == "open"
    page = text_of(client.get(f"/catalogue/filings/{filing.id}"))
    assert "15 个工作日内" in page and "剩余 8 个工作日" in page and "00231875" in page
    listing = client.get("/catalogue/filings")
    assert "00****75" in text_of(listing) and "00231875" not in text_of(listing)
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.entity_type == "catalogue_filing")) == 1
    assert "00231875" not in str(db.session.scalar(select(AuditLog.changes).where(
        AuditLog.entity_type == "catalogue_filing")))
    ma_titles = db.session.scalars(select(Notification.title).where(Notification.user_id == setup.boss.id)).all()
    assert ma_titles == ["限制类技术首例：经导管主动脉瓣置换术"]


def test_a_second_first_case_is_refused(client, tree, setup):
    client.login("ma")
    assert first_case(client, setup, tree).status_code == 303
    response = first_case(client, setup, tree, patient_record_no="00990001")
    assert response.status_code == 409
    assert "已于 2026-09-24 登记首例病例" in text_of(response)
    assert db.session.scalar(select(func.count()).select_from(RestrictedFiling)) == 1


def test_bad_first_case_input_changes_nothing(client, tree, setup):
    client.login("ma")
    cases = [
        ({"technology_id": ""}, 422, "请选择限制类技术"),
        ({"technology_id": str(setup.plain.id)}, 422, "不是有效的选择"),
        ({"first_case_date": ""}, 422, "请填写首例日期"),
        ({"first_case_date": "2026-10-13"}, 422, "不能晚于今天"),
        ({"first_case_date": "2024-01-02"}, 422, "不能早于一年前"),
        ({"patient_record_no": "12"}, 422, "病案号应为"),
        ({"patient_record_no": "12 34;drop"}, 422, "病案号应为"),
        ({"surgeon_employee_no": "X0000"}, 422, "找不到该工号"),
        ({"department_id": ""}, 422, "请选择科室"),
        ({"department_id": str(tree.north.id)}, 422, "在用的科室或病区"),
    ]
    for changes, status, message in cases:
        response = first_case(client, setup, tree, **changes)
        assert response.status_code == status, (changes, text_of(response)[-300:])
        assert message in text_of(response), changes
    assert db.session.scalar(select(func.count()).select_from(RestrictedFiling)) == 0


def test_documents_complete_the_filing_and_are_served_only_to_permitted_users(client, tree, setup):
    filing = services.open_filing(technology_id=setup.tech.id, first_case_date=date(2026, 9, 24),
                                  patient_record_no="00231875", surgeon_staff_id=setup.surgeon.id,
                                  department_id=tree.cardiology.id, today=TODAY)
    db.session.commit()
    client.login("ma")
    url = f"/catalogue/filings/{filing.id}/documents"
    bad = client.submit(url, {"slot": "self_assessment", "attachments": (io.BytesIO(b"MZ..."), "x.exe")},
                        content_type="multipart/form-data")
    assert bad.status_code == 422 and "附件只接受" in text_of(bad)
    fake = client.submit(url, {"slot": "self_assessment", "attachments": (io.BytesIO(b"hello"), "a.pdf")},
                         content_type="multipart/form-data")
    assert fake.status_code == 422 and "内容与扩展名不符" in text_of(fake)
    no_slot = client.submit(url, {"slot": "", "attachments": (io.BytesIO(PDF), "a.pdf")},
                            content_type="multipart/form-data")
    assert no_slot.status_code == 422 and "请选择材料类型" in text_of(no_slot)
    assert db.session.scalar(select(func.count()).select_from(FilingDocument)) == 0
    # Recording the filing before the documents are complete is refused.
    early = client.submit(f"/catalogue/filings/{filing.id}/filed", {"filing_no": "备2026-01", "filed_on": "2026-10-10"})
    assert early.status_code == 422 and "备案材料不全" in text_of(early)
    for slot in ("self_assessment", "committee", "ethics", "lead_credentials"):
        response = client.submit(url, {"slot": slot, "attachments": (io.BytesIO(PDF), f"{slot}.pdf")},
                                 content_type="multipart/form-data")
        assert response.status_code == 303, text_of(response)[-300:]
    assert db.session.get(RestrictedFiling, filing.id, populate_existing=True).status == "complete"
    doc = db.session.scalar(select(FilingDocument).order_by(FilingDocument.id))
    served = client.get(f"/catalogue/filings/documents/{doc.id}")
    assert served.status_code == 200 and served.data == PDF and served.mimetype == "application/pdf"
    client.submit("/logout")
    client.login("head")  # the department's head may see the filing and its documents, not change them
    assert client.get(f"/catalogue/filings/documents/{doc.id}").status_code == 200
    assert client.submit(f"/catalogue/filings/documents/{doc.id}/delete").status_code == 403
    client.submit("/logout")
    client.login("ohead")  # another department: as if it did not exist
    assert client.get(f"/catalogue/filings/documents/{doc.id}").status_code == 404
    assert client.get(f"/catalogue/filings/{filing.id}").status_code == 404
    client.submit("/logout")
    client.login("doc")  # a clinician holds no catalogue view
    assert client.get(f"/catalogue/filings/documents/{doc.id}").status_code == 403
    client.submit("/logout")
    client.get("/logout")
    assert client.get(f"/catalogue/filings/documents/{doc.id}").status_code in (302, 303, 401)
    client.login("ma")
    for data, message in (({"filing_no": "", "filed_on": "2026-10-10"}, "请填写备案号"),
                          ({"filing_no": "备2026-01", "filed_on": "2026-10-20"}, "备案日期应在"),
                          ({"filing_no": "备2026-01", "filed_on": ""}, "请填写备案日期")):
        response = client.submit(f"/catalogue/filings/{filing.id}/filed", data)
        assert response.status_code == 422 and message in text_of(response), data
    assert db.session.get(RestrictedFiling, filing.id, populate_existing=True).status == "complete"
    done = client.submit(f"/catalogue/filings/{filing.id}/filed",
                         {"filing_no": "浙卫备2026-01", "filed_on": "2026-10-10"})
    assert done.status_code == 303
    filing = db.session.get(RestrictedFiling, filing.id, populate_existing=True)
    assert (filing.status, filing.filing_no, filing.filed_on) == ("filed", "浙卫备2026-01", date(2026, 10, 10))
    assert client.submit(f"/catalogue/filings/documents/{doc.id}/delete").status_code == 409


def count_reminders(user) -> int:
    return db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user.id, Notification.title.like("限制类技术备案%")))


def test_reminders_at_5_3_and_1_working_days_left_once_each(session, tree, setup):
    filing = services.open_filing(technology_id=setup.tech.id, first_case_date=date(2026, 9, 24),
                                  patient_record_no="00231875", surgeon_staff_id=setup.surgeon.id,
                                  department_id=tree.cardiology.id, today=TODAY)
    sent_on = {}
    day = TODAY
    while day <= date(2026, 10, 24):
        for _ in range(2):  # the job runs twice a day: nothing is sent twice
            before = count_reminders(setup.ma)
            services.remind_due(day)
            if count_reminders(setup.ma) > before:
                sent_on.setdefault(day, 0)
                sent_on[day] += 1
        day += timedelta(days=1)
    # 5 left on Thu 10-15, 3 on Mon 10-19, 1 on Wed 10-21 (deadline Thu 10-22).
    assert sent_on == {date(2026, 10, 15): 1, date(2026, 10, 19): 1, date(2026, 10, 21): 1}
    titles = db.session.scalars(select(Notification.title).where(
        Notification.user_id == setup.ma.id, Notification.title.like("限制类技术备案%"))
        .order_by(Notification.id)).all()
    assert titles == [f"限制类技术备案还剩 {n} 个工作日：经导管主动脉瓣置换术" for n in (5, 3, 1)]
    assert count_reminders(setup.boss) == 3 and count_reminders(db.session.get(User, setup.head.id)) == 0
    assert filing.is_overdue(date(2026, 10, 23))


def test_a_missed_day_is_caught_up_with_one_message(session, tree, setup):
    services.open_filing(technology_id=setup.tech.id, first_case_date=date(2026, 9, 24),
                         patient_record_no="00231875", surgeon_staff_id=setup.surgeon.id,
                         department_id=tree.cardiology.id, today=TODAY)
    services.remind_due(date(2026, 10, 20))  # 2 left: thresholds 5 and 3 both passed, one message
    services.remind_due(date(2026, 10, 20))
    assert count_reminders(setup.ma) == 1
    services.remind_due(date(2026, 10, 21))
    assert count_reminders(setup.ma) == 2


def test_the_tracker_marks_urgent_and_overdue(client, tree, setup):
    services.open_filing(technology_id=setup.tech.id, first_case_date=date(2026, 9, 24),
                         patient_record_no="00231875", surgeon_staff_id=setup.surgeon.id,
                         department_id=tree.cardiology.id, today=TODAY)
    db.session.commit()
    client.login("ma")
    assert "8" in text_of(client.get("/catalogue/filings"))
    assert "row-bad" not in client.get("/catalogue/filings").get_data(as_text=True)
    overdue = client.get("/catalogue/filings?overdue=1")
    assert "经导管主动脉瓣置换术" not in text_of(overdue)
    partial = client.htmx_get("/catalogue/filings?status=open")
    assert partial.status_code == 200 and "<html" not in partial.get_data(as_text=True)


def test_the_daily_job_runs_through_the_queue_and_is_idempotent(app, tree, setup, monkeypatch):
    from rq import SimpleWorker

    import jobs
    from jobs.catalogue import send_reminders
    from portal.core.redis_conn import get_queue

    services.open_filing(technology_id=setup.tech.id, first_case_date=date(2026, 9, 24),
                         patient_record_no="00231875", surgeon_staff_id=setup.surgeon.id,
                         department_id=tree.cardiology.id, today=TODAY)
    db.session.commit()
    on_day = datetime.combine(date(2026, 10, 19), time(8, 10), LOCAL_TZ).astimezone(UTC)
    monkeypatch.setattr(timeutil, "_now", lambda: on_day)  # 3 working days left: thresholds 5 and 3 passed
    jobs.use_app(app)
    queue = get_queue()
    results = []
    for _ in range(2):
        job = queue.enqueue(send_reminders)
        SimpleWorker([queue], connection=queue.connection).work(burst=True)
        job.refresh()
        assert job.is_finished, job.latest_result()
        results.append(job.return_value())
    assert [r["filings_reminded"] for r in results] == [1, 0]
    assert count_reminders(setup.ma) == 1


def test_a_concurrent_first_case_gets_409_from_the_unique_constraint(client, tree, setup, monkeypatch):
    # Another request recorded the same first case after this one checked: the constraint answers.
    db.session.add(RestrictedFiling(technology_id=setup.tech.id, department_id=tree.cardiology.id,
                                    surgeon_staff_id=setup.surgeon.id, first_case_date=date(2026, 9, 25),
                                    patient_record_no="00110011", deadline=date(2026, 10, 23)))
    db.session.commit()
    monkeypatch.setattr(services, "filing_of", lambda technology_id: None)
    client.login("ma")
    response = first_case(client, setup, tree)
    assert response.status_code == 409 and "刚刚已由他人登记首例病例" in text_of(response)
    assert db.session.scalar(select(func.count()).select_from(RestrictedFiling)) == 1
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.entity_type == "catalogue_filing")) == 0


def test_a_deadline_in_a_year_without_holidays_shows_the_warning(client, tree, setup, monkeypatch):
    noon = datetime.combine(date(2026, 12, 21), time(12), LOCAL_TZ).astimezone(UTC)
    monkeypatch.setattr(timeutil, "_now", lambda: noon)
    client.login("ma")
    assert "2027 年节假日安排尚未录入" not in text_of(client.get("/catalogue/filings/new"))
    assert first_case(client, setup, tree, first_case_date="2026-12-18").status_code == 303
    filing = db.session.scalar(select(RestrictedFiling))
    assert filing.deadline.year == 2027
    assert "2027 年节假日安排尚未录入" in text_of(client.get(f"/catalogue/filings/{filing.id}"))
    assert "2027 年节假日安排尚未录入" in text_of(client.get("/catalogue/filings"))


def test_the_export_is_the_list_with_the_record_number_masked(client, tree, setup):
    from openpyxl import load_workbook

    services.open_filing(technology_id=setup.tech.id, first_case_date=date(2026, 9, 24),
                         patient_record_no="00231875", surgeon_staff_id=setup.surgeon.id,
                         department_id=tree.cardiology.id, today=TODAY)
    db.session.commit()
    client.login("ma")
    response = client.get("/catalogue/filings/export?status=open")
    assert response.status_code == 200
    rows = list(load_workbook(io.BytesIO(response.data)).active.iter_rows(values_only=True))
    flat = [str(v) for row in rows for v in row if v is not None]
    assert "经导管主动脉瓣置换术" in flat and "00****75" in flat and "00231875" not in flat
