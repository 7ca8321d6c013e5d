"""Every case-management page against bad input: no 500, Chinese refusals, nothing written.

The routes are read from the URL map, so a page added later is covered without listing it here:
each GET is asked with malformed and hostile query strings and with ids that do not exist; each POST
is sent empty, with garbage fields and to records that do not exist. Whatever the answer, it is never
a server error, markup is echoed escaped, and no case-management table changes.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.casemgmt.models import (
    AdverseEvent,
    CareTask,
    Enrolment,
    HandoverNote,
    LedgerEntry,
    MonthlyAssessment,
    Pathway,
    PathwayVersion,
    Patient,
    Plan,
    PlanItem,
    SatisfactionSurvey,
    WardCoverage,
)
from portal.casemgmt.tasks import services as tasks
from portal.core.timeutil import local_today
from portal.extensions import db
from tests import cm_factories as cm
from tests.conftest import text_of
from tests.factories import make_user

SCRIPT = "<script>alert(1)</script>"
TABLES = (Patient, Enrolment, Pathway, PathwayVersion, WardCoverage, Plan, PlanItem, CareTask, HandoverNote,
          LedgerEntry, SatisfactionSurvey, AdverseEvent, MonthlyAssessment)
BAD_QUERY = {"month": "2026-13", "day": "2026-02-30", "date_from": "abc", "date_to": "99999-01-01", "page": "-1",
             "q": SCRIPT, "status": "nonsense", "ward_id": "abc", "manager_id": "99999999999999999999",
             "case_manager_id": "1e9", "task_type": "<b>", "outcome": "x", "kind": "x", "severity": "x",
             "sort": "bogus", "group": "x", "year": "20260", "version": "-3", "state": "x", "source": "x"}
MISSING_IDS = ("0", "999999", "99999999999999999999")


def _counts() -> dict[str, int]:
    return {model.__tablename__: db.session.scalar(select(func.count()).select_from(model)) for model in TABLES}


def _routes(app, method: str) -> list:
    return sorted((rule for rule in app.url_map.iter_rules()
                   if rule.endpoint.startswith("casemgmt.") and method in rule.methods), key=lambda r: r.rule)


def _url(rule, ident: str) -> str:
    url = rule.rule
    for name, converter in rule._converters.items():
        kind = type(converter).__name__
        value = ident if kind == "IntegerConverter" else ("2026-13" if "month" in name else "nothing")
        url = re.sub(r"<[^>]*" + name + ">", value, url)
    return url


@pytest.fixture
def world(tree):
    ward = cm.make_ward("胸外病区", tree.surgery)
    li = cm.make_case_manager("cm_li", tree.surgery, "李个管")
    make_user("cm_all", ["cm_supervisor", "plan_issuer", "case_manager", "ma_admin"], tree.surgery, name="全能")
    cm.cover(ward, li)
    cm.make_pathway()
    patient = cm.make_patient("张三丰", hospital_no="ZY1")
    cm.enrol(patient, case_manager=li, ward=ward, discharge_date=local_today() - timedelta(days=1))
    tasks.build_daily_tasks(local_today())
    db.session.commit()
    return patient


def test_every_get_page_survives_bad_query_strings(app, client, world):
    client.login("cm_all")
    before = _counts()
    gets = _routes(app, "GET")
    assert len(gets) >= 30
    for rule in gets:
        for ident in ("1", *MISSING_IDS):
            url = _url(rule, ident)
            for query in (BAD_QUERY, {k: SCRIPT for k in BAD_QUERY}):
                response = client.get(url, query_string=query)
                assert response.status_code < 500, (url, query, response.status_code, text_of(response)[:300])
                if response.mimetype == "text/html":
                    assert SCRIPT not in response.get_data(as_text=True), url
                if response.status_code in (400, 404, 422):
                    assert re.search(r"[\u4e00-\u9fff]", text_of(response)), (url, "no Chinese message")
    assert _counts() == before


def test_every_post_survives_empty_and_garbage_forms_and_missing_records(app, client, world):
    client.login("cm_all")
    before = _counts()
    garbage = {key: SCRIPT for key in ("name", "id_type", "id_number", "phone", "icd10_code", "disease_name",
                                       "package", "package_months", "start_date", "ward_id", "case_manager_id",
                                       "outcome", "score", "reschedule_to", "note", "body", "to_user_id", "field",
                                       "month", "score", "payable", "kind", "severity", "occurred_on",
                                       "description", "handling", "status", "patient_ref", "task_type",
                                       "time_slot", "special_needs", "special_note", "external_id", "day",
                                       "active", "covered", "closed_on", "close_reason", "steps-0-title")}
    posts = _routes(app, "POST")
    assert len(posts) >= 20  # the walk really walks
    for rule in posts:
        has_id = any(type(c).__name__ == "IntegerConverter" for c in rule._converters.values())
        for ident in MISSING_IDS:
            url = _url(rule, ident)
            for data in ({}, garbage):
                response = client.submit(url, data)
                assert response.status_code < 500, (url, response.status_code, text_of(response)[:300])
                if has_id:  # a record that does not exist is never acted on
                    assert 400 <= response.status_code < 500, (url, response.status_code)
        for data in ({}, garbage):
            url = _url(rule, "1")
            response = client.submit(url, data, htmx=True)
            assert response.status_code < 500, (url, response.status_code, text_of(response)[:300])
            if response.mimetype == "text/html":
                assert SCRIPT not in response.get_data(as_text=True), url
    after = _counts()
    # Empty or garbage forms change nothing; the one exception a button with no fields may make is a rebuild
    # of today's lists (idempotent: no new task) and toggling the pathway (no new row either).
    assert after == before, {k: (before[k], after[k]) for k in before if before[k] != after[k]}
