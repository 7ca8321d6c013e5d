"""The audit log: written by services, hash-chained, append-only, filterable and exportable."""

from __future__ import annotations

import hashlib
import io
import json

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from portal.audit.services import verify_and_anchor
from portal.core import audit
from portal.core.audit import AuditLog, verify_chain
from portal.core.audit_chain import anchor_path
from portal.extensions import db
from portal.notify.models import Notification, OutboxMessage
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
        db.session.execute(text(f"DROP TRIGGER IF EXISTS audit_logs_no_{verb}"))


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


def all_logs() -> list[AuditLog]:
    return list(db.session.scalars(select(AuditLog).order_by(AuditLog.id)
                                   .execution_options(populate_existing=True)))


def rehash_without_the_key(from_id: int, **edit) -> None:
    """Change the record from_id and recompute its hash and every later one as the chain used to: plain SHA-256."""
    bypass_append_only("update")
    prev = None
    for log in all_logs():
        if log.id < from_id:
            prev = log.hash
            continue
        if log.id == from_id:
            for name, value in edit.items():
                setattr(log, name, value)
        log.prev_hash = prev or audit.GENESIS
        log.hash = hashlib.sha256(audit._payload(log)).hexdigest()
        prev = log.hash
    db.session.flush()


def test_a_record_rewritten_with_its_tail_rehashed_without_the_key_is_found(session, tree):
    for name in "甲乙丙丁":
        make_staff(name, tree.cardiology)
    target = logs("staff")[1]
    rehash_without_the_key(target.id, user_name="别人")
    report = verify_chain()
    assert not report.ok and report.broken_id == target.id
    assert "密钥" in report.reason


def test_deleting_the_last_records_is_found_through_the_anchor(client, tree):
    make_user("aud", ["auditor"], tree.hospital, wecom_userid="aud")
    for name in "甲乙丙丁":
        make_staff(name, tree.cardiology)
    result = verify_and_anchor()
    head = all_logs()[-1]
    assert result["anchor"]["row_id"] == head.id and result["broken_id"] is None
    doomed = [log.id for log in all_logs()[-3:]]
    bypass_append_only("delete")
    db.session.execute(text("DELETE FROM audit_logs WHERE id >= :i"), {"i": doomed[0]})
    db.session.commit()  # (undone with the test)
    report = verify_chain()  # without the anchor this chain is whole: three records shorter
    assert report.broken_id == doomed[0] and "被删除" in report.reason
    assert f"第 {head.id} 号" in report.reason
    client.login("aud")  # signing in writes to the log as well
    page = client.get("/audit/verify").get_data(as_text=True)
    assert 'data-testid="chain-broken"' in page and "被删除" in page
    # The application carries on writing: the gap is still reported.
    make_staff("戊", tree.cardiology)
    make_staff("己", tree.cardiology)
    assert not verify_chain().ok
    # The nightly job tells the auditors and does not anchor the cut chain.
    again = verify_and_anchor()
    assert again["anchor"] is None and again["broken_id"] is not None
    assert len(anchor_path().read_text().splitlines()) == 1
    warning = db.session.scalars(select(Notification).where(Notification.category == "warning")).all()[-1]
    assert warning.title == "审计日志链校验发现问题" and "被删除" in warning.body


def test_untouched_chain_verifies_against_every_anchor_and_the_auditor_is_told(session, tree):
    auditor = make_user("aud", ["auditor"], tree.hospital, wecom_userid="aud")
    make_staff("甲", tree.cardiology)
    first = verify_and_anchor()["anchor"]
    make_staff("乙", tree.cardiology)
    second = verify_and_anchor()["anchor"]
    assert second["row_id"] > first["row_id"] and second["count"] > first["count"]
    report = verify_chain()
    assert report.ok and report.anchors == 2 and report.legacy == 0
    lines = [json.loads(line) for line in anchor_path().read_text().splitlines()]
    assert [(a["row_id"], a["count"], a["hash"]) for a in lines] == [
        (first["row_id"], first["count"], first["hash"]), (second["row_id"], second["count"], second["hash"])]
    note = db.session.scalars(select(Notification).where(Notification.user_id == auditor.id)
                              .order_by(Notification.id.desc())).first()
    assert note.title == "审计日志链校验通过并已锚定" and second["hash"][:16] in note.body
    assert db.session.scalars(select(OutboxMessage).where(OutboxMessage.notification_id == note.id)).one()


def test_records_from_before_the_key_verify_only_as_the_chains_beginning(session, tree):
    make_staff("甲", tree.cardiology)
    make_staff("乙", tree.cardiology)
    first_id = all_logs()[0].id
    rehash_without_the_key(first_id)  # the whole chain as an older version wrote it
    old = len(all_logs())
    make_staff("丙", tree.cardiology)  # written keyed, chained onto the old head
    report = verify_chain()
    assert report.ok and report.legacy == old and report.first_keyed_id == all_logs()[old].id
    # An unkeyed record after a keyed one is a rewrite, not history.
    verify_and_anchor()
    make_staff("丁", tree.cardiology)
    last = all_logs()[-1]
    rehash_without_the_key(last.id, entity_label="改过")
    assert verify_chain().broken_id == last.id


def test_a_chain_rewritten_from_its_first_record_is_caught_by_the_anchor(session, tree):
    make_staff("甲", tree.cardiology)
    make_staff("乙", tree.cardiology)
    verify_and_anchor()
    first = all_logs()[0]
    rehash_without_the_key(first.id, user_name="别人")  # every hash recomputed: looks like a pre-key chain
    report = verify_chain()
    assert report.broken_id == first.id and "密钥" in report.reason


def test_an_edited_anchor_line_is_reported(session, tree):
    make_staff("甲", tree.cardiology)
    verify_and_anchor()
    path = anchor_path()
    line = json.loads(path.read_text())
    line["count"] -= 1
    path.write_text(json.dumps(line) + "\n")
    report = verify_chain()
    assert not report.ok and report.broken_id is None
    assert "锚点文件第 1 行校验失败" in report.anchor_problems[0]


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


def test_a_page_of_records_naming_the_same_people_looks_each_one_up_once(client, tree):
    from tests.integration.test_scale_queries import statements

    make_user("aud", ["auditor"], tree.hospital)
    doctor = make_user("doc", ["clinician"], tree.cardiology, name="被提到的医生")
    client.login("aud")

    def record(n):
        for _ in range(n):
            audit.record("update", "approval_instance", 1, label="测试", changes={"applicant_id": {
                "before": None, "after": doctor.id}})
        db.session.commit()

    record(2)
    client.htmx_get("/audit/?entity_type=approval_instance")
    with statements() as few:
        page = client.htmx_get("/audit/?entity_type=approval_instance")
    assert text_of(page).count("被提到的医生") == 2
    record(10)
    with statements() as many:
        page = client.htmx_get("/audit/?entity_type=approval_instance")
    assert text_of(page).count("被提到的医生") == 12
    assert len(many) == len(few)
