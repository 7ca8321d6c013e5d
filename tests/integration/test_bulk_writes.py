"""Rows written in bulk (COPY and one UPDATE over arrays on PostgreSQL, executemany on SQLite) are the rows an
INSERT or UPDATE per row writes; refusals are SQLAlchemy's errors; a staff import through them is audited as
before and the audit chain verifies."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import DataError, IntegrityError

from portal.auth.models import Staff
from portal.core.audit import AuditLog, verify_chain
from portal.core.service import ServiceError
from portal.extensions import db
from portal.io import imports
from portal.io.bulk import insert_rows, update_rows
from portal.io.models import ImportLog
from tests.conftest import xlsx_bytes
from tests.factories import make_staff
from tests.sqlcount import statements

WHEN = datetime(2026, 11, 5, 8, 30, 15, tzinfo=UTC)
HEADER = ["工号", "姓名", "科室", "职称", "职务", "在职"]


def columns_of(model, where, skip=("id",)) -> list[dict]:
    table = model.__table__
    rows = db.session.execute(select(table).where(where).order_by(table.c.id)).mappings()
    return [{k: v for k, v in row.items() if k not in skip} for row in rows]


def staff_values(prefix: str, department_id: int) -> list[dict]:
    # title, position and is_active left out: they take the columns' defaults, as with an INSERT.
    return [{"employee_no": f"{prefix}{n}", "name": f"员工{n}", "department_id": department_id,
             "created_at": WHEN, "updated_at": WHEN} for n in range(3)]


def test_insert_rows_writes_what_an_insert_writes(session, tree):
    db.session.execute(insert(Staff.__table__), staff_values("A", tree.cardiology.id))
    insert_rows(Staff.__table__, staff_values("B", tree.cardiology.id))
    by_insert = columns_of(Staff, Staff.employee_no.like("A%"))
    by_copy = columns_of(Staff, Staff.employee_no.like("B%"))
    assert [{**r, "employee_no": r["employee_no"][1:]} for r in by_copy] == \
           [{**r, "employee_no": r["employee_no"][1:]} for r in by_insert]
    assert by_copy[0]["created_at"] == WHEN and by_copy[0]["is_active"] is True and by_copy[0]["title"] == ""
    ids = db.session.scalars(select(Staff.id).where(Staff.employee_no.like("B%")).order_by(Staff.id)).all()
    assert db.session.scalars(select(Staff.employee_no).where(Staff.id.in_(ids)).order_by(Staff.id)).all() == \
           ["B0", "B1", "B2"]  # ids follow the rows' order


def test_insert_rows_keeps_json_bytes_and_nulls(session):
    log = {"import_type": "staff", "mode": "upsert", "filename": "甲.xlsx", "content": b"\x00\x01PK",
           "original_purged_at": None}
    db.session.execute(insert(ImportLog.__table__), [{**log, "sha256": "a" * 64}])
    insert_rows(ImportLog.__table__, [{**log, "sha256": "b" * 64}])
    rows = columns_of(ImportLog, ImportLog.sha256.in_(["a" * 64, "b" * 64]), skip=("id", "sha256", "created_at"))
    assert rows[0] == rows[1] and rows[1]["content"] == b"\x00\x01PK" and rows[1]["original_purged_at"] is None
    record = {"entity_type": "staff", "entity_id": "9", "action": "update", "prev_hash": "0" * 64,
              "created_at": WHEN, "changes": {"姓名": {"before": "甲", "after": None}, "keys": ["A1", "A2"]}}
    db.session.execute(insert(AuditLog.__table__), [{**record, "hash": "a" * 64}])
    insert_rows(AuditLog.__table__, [{**record, "hash": "b" * 64}])
    written = columns_of(AuditLog, AuditLog.hash.in_(["a" * 64, "b" * 64]), skip=("id", "hash"))
    assert written[0] == written[1] and written[1]["changes"] == record["changes"]


def test_a_refused_insert_is_an_integrity_error_and_its_savepoint_undoes_it(session, tree):
    make_staff("甲", tree.cardiology, employee_no="C1")
    before = db.session.scalar(select(func.count()).select_from(Staff))
    with pytest.raises(IntegrityError), db.session.begin_nested():
        insert_rows(Staff.__table__, [{**staff_values("C", tree.cardiology.id)[0], "employee_no": "C9"},
                                      {**staff_values("C", tree.cardiology.id)[1], "employee_no": "C1"}])
    assert db.session.scalar(select(func.count()).select_from(Staff)) == before  # the session goes on


def test_a_value_the_column_cannot_hold_is_a_data_error(session, tree):
    if db.session.get_bind().dialect.name != "postgresql":
        pytest.skip("SQLite keeps strings of any length")
    with pytest.raises(DataError), db.session.begin_nested():
        insert_rows(Staff.__table__, [{**staff_values("D", tree.cardiology.id)[0], "name": "长" * 51}])


def test_update_rows_sets_only_the_named_columns_of_each_keyed_row(session, tree):
    people = [make_staff(f"旧{n}", tree.cardiology, employee_no=f"U{n}") for n in range(3)]
    db.session.commit()
    untouched = columns_of(Staff, Staff.id == people[2].id)
    update_rows(Staff.__table__, [{"id": people[0].id, "name": "新0", "title": "主任", "updated_at": WHEN},
                                  {"id": people[1].id, "name": "新1", "title": "", "updated_at": WHEN}])
    update_rows(Staff.__table__, [{"id": people[1].id, "created_by_id": None, "is_active": False}])
    rows = {r["employee_no"]: r for r in columns_of(Staff, Staff.employee_no.like("U%"))}
    assert (rows["U0"]["name"], rows["U0"]["title"], rows["U0"]["updated_at"]) == ("新0", "主任", WHEN)
    assert (rows["U1"]["name"], rows["U1"]["is_active"], rows["U1"]["created_by_id"]) == ("新1", False, None)
    assert rows["U0"]["department_id"] == tree.cardiology.id and rows["U0"]["is_active"] is True
    assert [rows["U2"]] == untouched


def test_a_staff_import_writes_every_field_and_one_audit_record_and_the_chain_verifies(session, tree):
    make_staff("旧名", tree.surgery, employee_no="E2")
    db.session.commit()
    audits_before = db.session.scalar(select(func.count()).select_from(AuditLog))
    rows = [HEADER, ["e1", "张三", "心内科", "主治医师", "", "是"],
            ["E2", "李四", tree.cardiology.code, "", "科主任", ""], ["E3", "王五", "普外科", "", "", "否"]]
    log = imports.commit("staff", "人员.xlsx", xlsx_bytes(rows), "upsert", user_id=None)
    db.session.commit()
    assert (log.rows_new, log.rows_updated, log.rows_unchanged) == (2, 1, 0)
    written = {r["employee_no"]: r for r in columns_of(Staff, Staff.employee_no.like("E%"))}
    fields = {k: (r["name"], r["department_id"], r["title"], r["position"], r["is_active"]) for k, r in written.items()}
    assert fields == {"E1": ("张三", tree.cardiology.id, "主治医师", "", True),
                      "E2": ("李四", tree.cardiology.id, "", "科主任", True),
                      "E3": ("王五", tree.surgery.id, "", "", False)}
    assert written["E1"]["created_at"].tzinfo is not None and written["E1"]["created_at"] == written["E3"]["updated_at"]
    assert db.session.scalar(select(func.count()).select_from(AuditLog)) == audits_before + 1
    summary = db.session.scalars(select(AuditLog).order_by(AuditLog.id.desc())).first()
    assert summary.entity_id == str(log.id)
    assert summary.changes["keys"]["after"] == {"new": ["E1", "E3"], "updated": ["E2"]}
    assert verify_chain().ok
    # A correction of the same file: one audit record again, the chain still whole.
    rows[1][1] = "张三丰"
    log = imports.commit("staff", "人员.xlsx", xlsx_bytes(rows), "upsert", user_id=None)
    db.session.commit()
    assert (log.rows_new, log.rows_updated, log.rows_unchanged) == (0, 1, 2)
    assert db.session.scalar(select(Staff.name).where(Staff.employee_no == "E1")) == "张三丰"
    assert db.session.scalar(select(func.count()).select_from(AuditLog)) == audits_before + 2
    assert verify_chain().ok


def test_a_record_someone_else_wrote_meanwhile_refuses_the_whole_file(session, tree):
    rows = [HEADER, ["R1", "张三", "心内科"], ["R2", "李四", "心内科"]]

    def meanwhile():  # the same number saved between the check and the write
        make_staff("别人", tree.cardiology, employee_no="R2")

    logs_before = db.session.scalar(select(func.count()).select_from(ImportLog))
    with pytest.raises(ServiceError, match="与已有数据冲突"):
        imports.commit("staff", "人员.xlsx", xlsx_bytes(rows), "upsert", user_id=None, before_write=meanwhile)
    assert db.session.scalars(select(Staff.name).where(Staff.employee_no.in_(["R1", "R2"]))).all() == ["别人"]
    assert db.session.scalar(select(func.count()).select_from(ImportLog)) == logs_before


def test_copy_on_a_page_reads_connection_is_inside_its_transaction(app):
    """A GET on PostgreSQL reads without BEGIN (lazy_begin): a bulk write there still joins a transaction."""
    if "db.reader" not in app.extensions:
        pytest.skip("page reads begin lazily on PostgreSQL only")
    log = {"import_type": "staff", "mode": "upsert", "filename": "x.xlsx", "content": b"", "sha256": "c" * 64}
    try:
        with app.test_request_context("/", method="GET"):
            assert db.session.get_bind() is app.extensions["db.reader"]
            insert_rows(ImportLog.__table__, [log])
            assert db.session.scalar(select(func.count()).select_from(ImportLog)
                                     .where(ImportLog.sha256 == "c" * 64)) == 1
            db.session.rollback()
        with app.app_context():
            assert db.session.scalar(select(func.count()).select_from(ImportLog)
                                     .where(ImportLog.sha256 == "c" * 64)) == 0
    finally:
        with app.app_context():
            db.session.execute(delete(ImportLog).where(ImportLog.sha256 == "c" * 64))
            db.session.commit()


def test_update_rows_is_one_statement(session, tree):
    people = [make_staff(f"甲{n}", tree.cardiology, employee_no=f"S{n}") for n in range(30)]
    db.session.commit()
    with statements(db.session.connection()) as seen:
        update_rows(Staff.__table__, [{"id": p.id, "name": f"乙{n}"} for n, p in enumerate(people)])
    assert len(seen) == 1 and seen[0].lstrip().upper().startswith("UPDATE")  # executemany on SQLite: one call
    assert db.session.scalar(select(func.count()).select_from(Staff).where(Staff.name.like("乙%"))) == 30
