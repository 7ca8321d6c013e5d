"""The audit log: written by services, hash-chained, append-only, filterable and exportable."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from portal.core.audit import AuditLog, verify_chain
from portal.extensions import db
from tests.conftest import text_of
from tests.factories import make_staff, make_user, role


def logs(entity_type: str) -> list[AuditLog]:
    return list(db.session.scalars(select(AuditLog).where(AuditLog.entity_type == entity_type)
                                   .order_by(AuditLog.id)))


def test_user_creation_and_edit_are_audited_with_before_and_after(client, tree):
    make_user("root", ["sysadmin"], tree.hospital, name="管理员甲")
    client.login("root")
    response = client.submit("/admin/users/new", {"login_name": "newdoc", "password": "Fresh#Pass2026",
                                                  "role_ids": [role("clinician").id]})
    assert response.status_code == 303
    created = logs("user")[-1]
    assert (created.action, created.user_name, created.ip) == ("create", "管理员甲", "127.0.0.1")
    assert created.changes["login_name"] == {"before": None, "after": "newdoc"}
    user_id = int(created.entity_id)
    client.submit(f"/admin/users/{user_id}", {"login_name": "newdoc", "wecom_userid": "wx-newdoc",
                                             "role_ids": [role("clinician").id, role("committee").id]})
    updated = logs("user")[-1]
    assert updated.action == "update"
    assert updated.changes == {
        "role_codes": {"before": ["clinician"], "after": ["clinician", "committee"]},
        "wecom_userid": {"before": None, "after": "wx-newdoc"},
    }


def test_password_never_appears_in_the_audit_log(client, tree):
    make_user("root", ["sysadmin"], tree.hospital)
    client.login("root")
    client.submit("/admin/users/new", {"login_name": "newdoc", "password": "Fresh#Pass2026",
                                       "role_ids": [role("clinician").id]})
    dump = " ".join(str(log.changes) for log in db.session.scalars(select(AuditLog)))
    assert "Fresh#Pass2026" not in dump
    assert "scrypt" not in dump


def bypass_append_only(verb: str) -> None:
    """What a DBA with direct access could do (rolled back with the test); the chain still tells."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_append_only"))
    else:
        db.session.execute(text(f"DROP TRIGGER audit_logs_no_{verb}"))


def test_chain_verifies_and_reports_the_first_tampered_record(session, tree):
    make_staff("甲", tree.cardiology)
    make_staff("乙", tree.cardiology)
    make_staff("丙", tree.cardiology)
    assert verify_chain().ok
    target = logs("staff")[1]
    bypass_append_only("update")
    db.session.execute(text("UPDATE audit_logs SET user_name = '别人' WHERE id = :i"), {"i": target.id})
    report = verify_chain()
    assert report.broken_id == target.id
    assert "修改" in report.reason


def test_deleting_a_record_breaks_the_link_after_it(session, tree):
    make_staff("甲", tree.cardiology)
    make_staff("乙", tree.cardiology)
    first, second = logs("staff")[-2:]
    bypass_append_only("delete")
    db.session.execute(text("DELETE FROM audit_logs WHERE id = :i"), {"i": first.id})
    report = verify_chain()
    assert report.broken_id == second.id
    assert "删除" in report.reason


@pytest.mark.parametrize("statement", ["UPDATE audit_logs SET action = 'x'", "DELETE FROM audit_logs",
                                       "UPDATE login_events SET event = 'x'", "DELETE FROM login_events"])
def test_database_refuses_to_change_the_logs(session, tree, client, statement):
    make_staff("甲", tree.cardiology)
    make_user("doc", ["clinician"], tree.cardiology)
    client.login("doc")
    with pytest.raises(DBAPIError), db.session.begin_nested():
        db.session.execute(text(statement))


def test_auditor_filters_and_sees_entries(client, tree):
    make_user("aud", ["auditor"], tree.hospital)
    make_staff("被审计的人", tree.cardiology)
    client.login("aud")
    page = text_of(client.get("/audit/?entity_type=staff&action=create"))
    assert "被审计的人" in page
    assert "被审计的人" not in text_of(client.get("/audit/?entity_type=user"))
    partial = client.htmx_get("/audit/?entity_type=staff")
    assert "<html" not in partial.get_data(as_text=True) and "被审计的人" in text_of(partial)


def test_audit_export_follows_filters_and_neutralises_formulas(client, tree):
    make_user("aud", ["auditor"], tree.hospital)
    make_staff("=HYPERLINK(\"http://x\")", tree.cardiology)
    make_staff("普通人", tree.surgery)
    client.login("aud")
    response = client.get("/audit/export?entity_type=staff")
    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    header = rows.index(next(r for r in rows if r[0] == "编号"))
    labels = [r[6] for r in rows[header + 1:]]
    formula = next(row[6] for row in sheet.iter_rows(min_row=header + 2) if row[6].value == "=HYPERLINK(\"http://x\")")
    assert formula.data_type == "s" and formula.quotePrefix  # text with Excel's quote prefix, never a formula
    assert "普通人" in labels
    assert all(r[4] == "人员" for r in rows[header + 1:])
    assert logs("audit_log")[-1].action == "export"  # exporting the log is itself audited


def test_nobody_can_edit_audit_records_through_the_app(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("audit."):
            assert rule.methods <= {"GET", "HEAD", "OPTIONS"}, rule


def test_verify_page_reports_ok(client, tree):
    make_user("aud", ["auditor"], tree.hospital)
    client.login("aud")
    assert "日志链完整" in text_of(client.get("/audit/verify"))


def test_login_log_page_lists_failures(client, tree):
    make_user("aud", ["auditor"], tree.hospital)
    make_user("doc", ["clinician"], tree.cardiology)
    client.submit("/login", {"login_name": "doc", "password": "Wrong#pass1"})
    client.login("aud")
    page = text_of(client.get("/audit/logins?event=failure"))
    assert "doc" in page and "登录失败" in page
