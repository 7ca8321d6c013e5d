"""A refused service action changes nothing, and the rest of the request's work stays (core.service.atomic)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.auth.models import User
from portal.core.service import ServiceError, atomic
from portal.extensions import db
from tests.factories import make_user


@atomic()
def _refused_rename(user: User, login_name: str) -> None:
    user.login_name = login_name
    db.session.flush()  # written, then refused: the savepoint takes it back
    raise ServiceError("不允许修改。")


def _stored_login(user_id: int) -> str:
    return db.session.execute(select(User.login_name).where(User.id == user_id)).scalar_one()


def test_a_refused_action_is_undone_while_the_request_keeps_its_earlier_work(session):
    earlier, target = make_user("sp_earlier"), make_user("sp_target")
    earlier.must_change_password = True  # the request's own work before the action
    db.session.flush()
    with pytest.raises(ServiceError):
        _refused_rename(target, "sp_renamed")
    assert target.login_name == "sp_target"  # the object reads as stored, no reload needed
    assert _stored_login(target.id) == "sp_target"
    assert earlier.must_change_password is True
    assert db.session.scalar(select(User.must_change_password).where(User.id == earlier.id)) is True
    target.login_name = "sp_after"  # the session is usable: a later action in the same request is written
    db.session.flush()
    assert _stored_login(target.id) == "sp_after"


def test_an_accepted_action_is_kept_and_actions_nest(session):
    user = make_user("sp_nested")
    with atomic():
        user.login_name = "sp_outer"
        with pytest.raises(ServiceError), atomic():
            user.must_change_password = True
            raise ServiceError("内层被拒绝。")
    assert _stored_login(user.id) == "sp_outer"
    assert user.must_change_password is False

