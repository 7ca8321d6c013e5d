"""Helpers the study views share: loading a department-month within the user's reach, uploaded files."""

from __future__ import annotations

from datetime import date

from flask import abort, request
from flask_login import current_user

from portal.approvals.services import check_upload
from portal.auth.models import Department
from portal.core.months import parse_month
from portal.core.scoping import MAX_ID
from portal.core.service import ServiceError
from portal.extensions import db

MAX_FILES = 10


def department_or_404(department_id: int, perm, seen_with=None) -> Department:
    """A study department within `perm`'s reach: 404 outside it (403 when only `seen_with` reaches it)."""
    if not 0 < department_id <= MAX_ID:
        abort(404)
    dept = db.session.get(Department, department_id)
    if dept is None or dept.kind != "department":
        abort(404)
    principal = current_user.principal
    if not principal.can_act_on(perm, dept.id):
        if seen_with is not None and principal.can_act_on(seen_with, dept.id):
            abort(403, "该科室不在您可以填报的范围内。")
        abort(404)
    return dept


def month_or_400(text: str) -> date:
    try:
        return parse_month(text)
    except ServiceError as error:
        abort(400, error.message)


def uploaded_files() -> list[tuple[str, bytes]]:
    """The request's attachments, checked (type, size, content) before anything is changed."""
    files = []
    for upload in request.files.getlist("attachments"):
        try:
            if upload.filename:
                files.append((upload.filename, upload.read()))
        finally:
            upload.close()  # a large upload is spooled to a temporary file: close it here
    if len(files) > MAX_FILES:
        raise ServiceError(f"一次最多上传 {MAX_FILES} 个附件。", field="attachments")
    for name, content in files:
        check_upload(name, content)
    return files
