"""The template library: categories, uploads of each type, kept versions, downloads (audited) and previews in the
page — PDF and images inline from the same origin, Excel as a table, Word as a download — and "use this template"."""

from __future__ import annotations

import io

from sqlalchemy import func, select

from portal.core.audit import AuditLog
from portal.extensions import db
from portal.projects import samples
from portal.projects.models import DocTemplate, TemplateCategory, TemplateVersion
from tests.conftest import text_of
from tests.factories import make_user


def setup(tree, client):
    make_user("yiwu", ["ma_admin", "ma_staff"], tree.hospital)
    make_user("sec", ["dept_secretary"], tree.cardiology)
    client.login("yiwu")
    assert client.submit("/projects/templates/categories", {"name": "申报材料"}).status_code == 303
    return db.session.scalar(select(TemplateCategory.id))


def new(client, category_id, name, filename, content):
    return client.post("/projects/templates/new", data={
        "csrf_token": client.csrf_token(), "category_id": category_id, "name": name, "description": "说明",
        "note": "", "file": (io.BytesIO(content), filename)}, content_type="multipart/form-data")


def template_id(name):
    return db.session.scalar(select(DocTemplate.id).where(DocTemplate.name == name))


def test_each_type_previews_as_it_should(client, tree):
    category = setup(tree, client)
    files = {"指南": ("指南.pdf", samples.pdf("Guide")), "照片": ("照片.png", samples.png()),
             "统计表": ("统计表.xlsx", samples.xlsx([["指标", "分子"], ["并发症", 3], ["<script>", 4]])),
             "报告": ("报告.docx", samples.docx(["报告"]))}
    for name, (filename, content) in files.items():
        assert new(client, category, name, filename, content).status_code == 303
    pdf = template_id("指南")
    page = client.get(f"/projects/templates/{pdf}").get_data(as_text=True)
    assert f'<iframe class="template-preview" src="/projects/templates/{pdf}/v/1/inline"' in page
    inline = client.get(f"/projects/templates/{pdf}/v/1/inline")
    assert inline.status_code == 200 and inline.mimetype == "application/pdf"
    assert inline.headers["Content-Disposition"].startswith("inline")
    assert inline.headers["X-Content-Type-Options"] == "nosniff" and inline.data.startswith(b"%PDF")
    image = template_id("照片")
    assert f'<img class="template-image" src="/projects/templates/{image}/v/1/inline"' in \
        client.get(f"/projects/templates/{image}").get_data(as_text=True)
    assert client.get(f"/projects/templates/{image}/v/1/inline").mimetype == "image/png"
    sheet = template_id("统计表")
    html = client.get(f"/projects/templates/{sheet}").get_data(as_text=True)
    assert "<td>指标</td><td>分子</td>" in html and "<td>并发症</td><td>3</td>" in html
    assert "&lt;script&gt;" in html and "<script>" not in html.split("</header>", 1)[1]
    word = template_id("报告")
    assert "Word 文档不能在页面中预览" in text_of(client.get(f"/projects/templates/{word}"))
    assert client.get(f"/projects/templates/{word}/v/1/inline").status_code == 404
    download = client.get(f"/projects/templates/{word}/v/1/download")
    assert download.status_code == 200 and download.headers["Content-Disposition"].startswith("attachment")
    assert download.mimetype.endswith("wordprocessingml.document")
    audited = db.session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.entity_type == "project_template", AuditLog.action == "export"))
    assert audited == 3  # the PDF and the image shown inline, the Word download


def test_new_versions_are_kept_and_each_downloads(client, tree):
    category = setup(tree, client)
    new(client, category, "统计表", "v1.xlsx", samples.xlsx([["第一版"]]))
    tid = template_id("统计表")
    response = client.post(f"/projects/templates/{tid}/versions", data={
        "csrf_token": client.csrf_token(), "note": "改表头",
        "file": (io.BytesIO(samples.xlsx([["第二版"]])), "v2.xlsx")},
        content_type="multipart/form-data")
    assert response.status_code == 303
    numbers = db.session.scalars(select(TemplateVersion.number).where(TemplateVersion.template_id == tid)).all()
    assert sorted(numbers) == [1, 2]
    assert "<td>第二版</td>" in client.get(f"/projects/templates/{tid}").get_data(as_text=True)
    assert "<td>第一版</td>" in client.get(f"/projects/templates/{tid}?v=1").get_data(as_text=True)
    assert client.get(f"/projects/templates/{tid}/v/1/download").status_code == 200
    assert client.get(f"/projects/templates/{tid}/v/9/download").status_code == 404
    # A wrong file for a new version: refused, nothing added.
    response = client.post(f"/projects/templates/{tid}/versions", data={
        "csrf_token": client.csrf_token(), "note": "", "file": (io.BytesIO(b"MZ"), "virus.exe")},
        content_type="multipart/form-data")
    assert response.status_code == 422 and "只接受 PDF" in text_of(response)
    assert db.session.scalar(select(func.count()).select_from(TemplateVersion)) == 2


def test_bad_uploads_and_permissions(client, tree):
    category = setup(tree, client)
    response = new(client, category, "假表", "假表.xlsx", b"not a zip")
    assert response.status_code == 422 and "内容与扩展名不符" in text_of(response)
    response = new(client, category, "无文件", "", b"")
    assert response.status_code == 422 and "请选择要上传的文件" in text_of(response)
    assert client.submit("/projects/templates/categories", {"name": "申报材料"}).status_code == 422
    assert db.session.scalar(select(func.count()).select_from(DocTemplate)) == 0
    new(client, category, "指南", "指南.pdf", samples.pdf())
    tid = template_id("指南")
    client.submit("/logout")
    # Departments read and download templates, but do not change the library.
    client.login("sec")
    assert client.get(f"/projects/templates/{tid}").status_code == 200
    assert client.get(f"/projects/templates/{tid}/v/1/download").status_code == 200
    assert new(client, category, "科室的", "a.pdf", samples.pdf()).status_code == 403
    assert client.submit("/projects/templates/categories", {"name": "新"}).status_code == 403
    client.submit("/logout")
    assert client.get(f"/projects/templates/{tid}/v/1/inline").status_code in (302, 401)


def test_use_this_template_fills_the_first_material(client, tree):
    category = setup(tree, client)
    new(client, category, "自查报告模板", "报告.docx", samples.docx(["x"]))
    tid = template_id("自查报告模板")
    assert f"/projects/new?template_id={tid}" in client.get(f"/projects/templates/{tid}").get_data(as_text=True)
    html = client.get(f"/projects/new?template_id={tid}").get_data(as_text=True)
    assert 'name="materials-0-name" type="text" value="自查报告模板"' in html
    assert f'<option selected value="{tid}">' in html
