"""The template library: categories, templates, new versions (all kept), and previews."""

from __future__ import annotations

import hashlib

from sqlalchemy import func, or_, select

from portal.core import audit
from portal.core.service import ServiceError, clean
from portal.extensions import db

from ..files import XLSX, check_file
from ..models import DocTemplate, TemplateCategory, TemplateVersion

PREVIEW_ROWS = 200
PREVIEW_COLS = 30


def categories() -> list[TemplateCategory]:
    return list(db.session.scalars(select(TemplateCategory).order_by(TemplateCategory.position, TemplateCategory.id)))


def add_category(name: str) -> TemplateCategory:
    name = clean(name)
    if not name or len(name) > 60:
        raise ServiceError("分类名称必填，且不超过 60 个字。", field="name")
    if db.session.scalar(select(TemplateCategory.id).where(TemplateCategory.name == name)):
        raise ServiceError("已有同名分类。", field="name")
    position = (db.session.scalar(select(func.max(TemplateCategory.position))) or 0) + 1
    category = TemplateCategory(name=name, position=position)
    db.session.add(category)
    db.session.flush()
    audit.record("create", "project_template_category", category.id, label=name, after={"name": name})
    return category


def list_query(q: str = "", category_id: int | None = None):
    stmt = select(DocTemplate)
    if category_id:
        stmt = stmt.where(DocTemplate.category_id == category_id)
    if q:
        like = f"%{q}%"
        stmt = stmt.where(or_(DocTemplate.name.like(like), DocTemplate.description.like(like)))
    return stmt.order_by(DocTemplate.category_id, DocTemplate.name, DocTemplate.id)


def _version(template: DocTemplate, filename: str, content: bytes, note: str) -> TemplateVersion:
    content_type = check_file(filename, content)
    number = template.current_version + 1
    version = TemplateVersion(template_id=template.id, number=number, filename=clean(filename)[-200:],
                              content_type=content_type, size=len(content),
                              sha256=hashlib.sha256(content).hexdigest(), note=clean(note)[:200], content=content)
    db.session.add(version)
    template.current_version = number
    db.session.flush()
    return version


def create_template(*, category_id: int, name: str, description: str, filename: str, content: bytes,
                    note: str = "") -> DocTemplate:
    if db.session.get(TemplateCategory, category_id or 0) is None:
        raise ServiceError("请选择模板分类。", field="category_id")
    check_file(filename, content)
    template = DocTemplate(category_id=category_id, name=clean(name)[:200], description=clean(description),
                           current_version=0)
    db.session.add(template)
    db.session.flush()
    version = _version(template, filename, content, note or "首次上传")
    audit.record("create", "project_template", template.id, label=template.name,
                 after={"name": template.name, "version": version.number, "filename": version.filename})
    return template


def add_version(template: DocTemplate, filename: str, content: bytes, note: str = "") -> TemplateVersion:
    """A new version; earlier versions stay downloadable."""
    version = _version(template, filename, content, note)
    audit.record("update", "project_template", template.id, label=template.name,
                 changes={"version": version.number, "filename": version.filename, "note": version.note})
    db.session.expire(template, ["versions"])
    return version


def version_of(template: DocTemplate, number: int) -> TemplateVersion | None:
    return db.session.scalar(select(TemplateVersion).where(TemplateVersion.template_id == template.id,
                                                           TemplateVersion.number == number))


def record_download(template: DocTemplate, version: TemplateVersion) -> None:
    audit.record("export", "project_template", template.id, label=template.name,
                 changes={"version": version.number, "filename": version.filename})


def sheet_preview(version: TemplateVersion) -> tuple[list[list[str]], bool]:
    """The first sheet of an Excel template as text rows (bounded), and whether it was cut."""
    from portal.io.reader import preview_rows

    if version.content_type != XLSX:
        raise ServiceError("只有 Excel 模板可以表格预览。", status=400)
    try:
        return preview_rows(version.content, PREVIEW_ROWS, PREVIEW_COLS)
    except ValueError as error:
        raise ServiceError(f"无法读取该 Excel 文件：{error}", status=422) from None
