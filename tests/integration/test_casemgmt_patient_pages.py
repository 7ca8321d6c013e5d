"""The patient list pages its ids first and reads the shown columns for that page only: every page, order and
filter still shows the right patients in the right order, each with its own enrolment, ward and manager."""

from __future__ import annotations

import re
from datetime import date, timedelta

from portal.extensions import db
from tests import cm_factories as cm
from tests.integration.test_casemgmt_patients import s  # noqa: F401 (the fixture)
from tests.sqlcount import statements


def _numbers(response) -> list[str]:
    return re.findall(r">(H\d{3})<", response.get_data(as_text=True))


def _rows(response) -> dict[str, str]:
    return {m.group(1): row for row in response.get_data(as_text=True).split("<tr>")
            if (m := re.search(r">(H\d{3})<", row))}


def test_pages_orders_and_filters_show_each_patient_with_its_own_enrolment(client, s):  # noqa: F811
    expected = {}
    for n in range(25):
        patient = cm.make_patient(f"病人{chr(0x4e00 + n)}", hospital_no=f"H{n:03d}", phone=None)
        if n % 5 == 4:
            continue  # never enrolled
        manager, ward, name = (s.li, s.ward, "李个管") if n % 2 else (s.wang, s.other, "王个管")
        cm.enrol(patient, case_manager=manager, ward=ward, bed=f"{n}床", start=date(2026, 10, 1) + timedelta(days=n))
        expected[f"H{n:03d}"] = (name, ward.name, f"{n}床")
    li_ward, ward_id = s.ward.name, s.ward.id
    db.session.commit()
    client.login("cm_boss")
    newest_first = [f"H{n:03d}" for n in range(24, -1, -1)]
    assert _numbers(client.get("/casemgmt/patients")) == newest_first[:20]
    second = client.get("/casemgmt/patients?page=2")
    assert _numbers(second) == newest_first[20:] and "（25）" in second.get_data(as_text=True)
    latest_start = client.get("/casemgmt/patients?sort=-start_date")
    started = [k for k in _numbers(latest_start) if k in expected]  # the never enrolled sort as the database puts NULL
    assert started == sorted(started, reverse=True) and len(_numbers(latest_start)) == 20
    ascending = _numbers(client.get("/casemgmt/patients?sort=start_date&status=active"))
    assert ascending == sorted(expected)[:20]
    for number, row in _rows(client.get("/casemgmt/patients?page=1&sort=hospital_no")).items():
        if number in expected:
            manager, ward, bed = expected[number]
            assert ward in row and bed in row and manager in row, (number, row)
        else:
            assert "未入组" in row and "个管" not in row, row
    by_ward = _numbers(client.get(f"/casemgmt/patients?ward_id={ward_id}&page=1"))
    assert by_ward == [k for k in newest_first if k in expected and expected[k][1] == li_ward]
    never = _numbers(client.get("/casemgmt/patients?status=none"))
    assert never == ["H024", "H019", "H014", "H009", "H004"]
    # A case manager: only their patients (and their ward's), the page and the total in one statement.
    client.submit("/logout")
    client.login("cm_li")
    client.get("/casemgmt/patients")
    with statements() as seen:
        mine = client.get("/casemgmt/patients")
    listed = [st for st in seen if "FROM patients" in st]
    assert len(listed) == 1, listed
    assert _numbers(mine) == [k for k in newest_first if k in expected and expected[k][0] == "李个管"]
