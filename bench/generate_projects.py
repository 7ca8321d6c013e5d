"""Medical-affairs projects over the whole history, and the template library.

At hospital scale: about 300 projects (one every six days for five years), each sent to 30 departments with
4 required materials — some 36,000 department-material items. Every item that was uploaded has its file
versions as rows with a real, tiny PDF blob (a few hundred bytes, the same bytes for every file): the pages,
the matrix, the archive and the downloads read real rows, while the database does not grow by gigabytes of
scanned documents a real hospital would keep (the per-file cost is the row, not the size). Each submitted item
has its approval instance, task and timeline, in the state its item says. Old projects are closed, mostly
complete; recent ones are in progress with items in every state; the newest is still a draft.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import select

from portal.approvals.models import ApprovalAction, ApprovalInstance, ApprovalProcess, ApprovalTask
from portal.projects import samples
from portal.projects.files import DOCX, XLSX
from portal.projects.models import (
    DocTemplate,
    ItemFile,
    Material,
    Project,
    ProjectItem,
    ProjectTask,
    TemplateCategory,
    TemplateVersion,
)

from .kit import Context

MATERIALS = ("自查报告", "统计表", "现场照片", "整改措施")
CATEGORIES = ("质量安全", "病历质量", "合理用药", "重点专科", "院感防控")
# item state of an open project, by (department + material) index
OPEN_CYCLE = ("passed", "passed", "submitted", "uploaded", "returned", "pending", "passed", "submitted")
INSTANCE = {"submitted": ("pending", "pending", None), "passed": ("approved", "approved", "approve"),
            "returned": ("returned", "returned", "return")}
PER_DEPARTMENT = 30


def _templates(ctx: Context, admin: int) -> list[int]:
    categories = ctx.bulk(TemplateCategory, ("name", "position", "created_at", "updated_at"),
                          [(name, n, ctx.now, ctx.now) for n, name in enumerate(("申报材料", "统计表格", "检查表",
                                                                                 "示例图片"))])
    blobs = [("pdf", "application/pdf", samples.pdf("Template")), ("xlsx", XLSX, samples.xlsx([["指标", "数值"]])),
             ("docx", DOCX, samples.docx(["模板"])), ("png", "image/png", samples.png())]
    count = 40
    template_ids = ctx.bulk(DocTemplate, ("category_id", "name", "description", "current_version", "created_at",
                                          "updated_at", "created_by_id"),
                            [(categories[n % len(categories)], f"模板{n:03d}", "基准数据模板", 1 + n % 3, ctx.now,
                              ctx.now, admin) for n in range(count)])
    versions = []
    for n, tid in enumerate(template_ids):
        ext, content_type, blob = blobs[n % len(blobs)]
        for number in range(1, 2 + n % 3):
            versions.append((tid, number, f"模板{n:03d}_v{number}.{ext}", content_type, len(blob),
                             hashlib.sha256(blob).hexdigest(), "", blob, ctx.now, ctx.now, admin))
    ctx.bulk(TemplateVersion, ("template_id", "number", "filename", "content_type", "size", "sha256", "note",
                               "content", "created_at", "updated_at", "created_by_id"), versions)
    return template_ids


def generate(ctx: Context) -> dict:
    s = ctx.scale
    admin = ctx.users["bma"]
    reviewer = admin
    depts, heads = ctx.ids["departments"], ctx.ids["dept_heads"]
    templates = _templates(ctx, admin)
    process = ctx.connection.execute(select(ApprovalProcess.id).where(ApprovalProcess.code == "project_material")
                                     ).scalar()
    n_projects = max(10, s.days // 6)
    per_project = min(PER_DEPARTMENT, len(depts))
    start = ctx.day(s.days)
    blob = samples.pdf("Submitted material")
    sha = hashlib.sha256(blob).hexdigest()

    projects = []
    for n in range(n_projects):
        published = ctx.at(start + timedelta(days=n * s.days // n_projects), 9)
        deadline = published.date() + timedelta(days=30)
        status = "draft" if n == n_projects - 1 else "closed" if deadline + timedelta(days=15) < ctx.today \
            else "published"
        projects.append((CATEGORIES[n % len(CATEGORIES)], f"医务项目{n:04d}：{CATEGORIES[n % len(CATEGORIES)]}专项",
                         "请各科室按要求提交材料。", published.date() - timedelta(days=1),
                         deadline + timedelta(days=30), deadline, status,
                         published if status != "draft" else None,
                         ctx.at(deadline + timedelta(days=15), 17) if status == "closed" else None,
                         published, published, admin))
    project_ids = ctx.bulk(Project, ("category", "title", "description", "starts_on", "ends_on", "deadline", "status",
                                     "published_at", "closed_at", "created_at", "updated_at", "created_by_id"),
                           projects)
    materials, task_rows, task_meta = [], [], []
    for pid, row in zip(project_ids, projects, strict=True):
        for m, name in enumerate(MATERIALS):
            materials.append((pid, m, name, "", templates[(pid + m) % len(templates)], row[9], row[9]))
        ctx.audit.add(row[9], ctx.user(admin), "project", pid, "create", label=row[1])
        if row[6] == "draft":
            continue
        first = pid % len(depts)
        for k in range(per_project):
            d = (first + k) % len(depts)
            task_rows.append((pid, depts[d], row[9], row[9]))
            task_meta.append((pid, d, row))
    material_ids = ctx.bulk(Material, ("project_id", "position", "name", "note", "template_id", "created_at",
                                       "updated_at"), materials)
    by_project = {}
    for mid, row in zip(material_ids, materials, strict=True):
        by_project.setdefault(row[0], []).append(mid)
    task_ids = ctx.bulk(ProjectTask, ("project_id", "department_id", "created_at", "updated_at"), task_rows)

    items, item_meta = [], []
    for tid, (pid, d, row) in zip(task_ids, task_meta, strict=True):
        published = row[9]
        for m, mid in enumerate(by_project[pid]):
            if row[6] == "closed":
                state = "pending" if (tid + m) % 10 == 0 else "passed"
            else:
                state = OPEN_CYCLE[(tid + m) % len(OPEN_CYCLE)]
            submitted = published + timedelta(days=5 + (tid + m) % 20) if state not in ("pending", "uploaded") \
                else None
            decided = submitted + timedelta(days=2) if state in ("passed", "returned") else None
            items.append((tid, mid, state, submitted, decided, "请补充签字页" if state == "returned" else "",
                          published, decided or submitted or published))
            item_meta.append((state, heads[d], depts[d], submitted, decided, published, row[1]))
    item_ids = ctx.bulk(ProjectItem, ("task_id", "material_id", "status", "submitted_at", "decided_at", "comment",
                                      "created_at", "updated_at"), items)
    files = []
    for iid, (state, head, _dept, submitted, _decided, published, _title) in zip(item_ids, item_meta, strict=True):
        if state == "pending":
            continue
        versions = 2 if iid % 10 == 0 else 1
        when = (submitted or published + timedelta(days=3)) - timedelta(hours=1)
        for v in range(1, versions + 1):
            files.append((iid, v, f"材料{iid}_v{v}.pdf", "application/pdf", len(blob), sha, blob, when, when, head))
    ctx.bulk(ItemFile, ("item_id", "version", "filename", "content_type", "size", "sha256", "content", "created_at",
                        "updated_at", "created_by_id"), files)

    instances, instance_meta = [], []
    if process:
        for iid, (state, head, dept, submitted, decided, _published, title) in zip(item_ids, item_meta, strict=True):
            if state not in INSTANCE:
                continue
            status = INSTANCE[state][0]
            instances.append((process, "project_item", iid, f"项目材料：{title}"[:200], head, dept, status, 1,
                              submitted, decided if status == "approved" else None, submitted, decided or submitted))
            instance_meta.append((iid, state, head, submitted, decided))
    instance_ids = ctx.bulk(ApprovalInstance, ("process_id", "entity_type", "entity_id", "title", "applicant_id",
                                               "department_id", "status", "step_position", "submitted_at",
                                               "finished_at", "created_at", "updated_at"), instances)
    tasks, actions = [], []
    for instance_id, (iid, state, head, submitted, decided) in zip(instance_ids, instance_meta, strict=True):
        _, task_state, last = INSTANCE[state]
        tasks.append((instance_id, 1, "医务科审核", reviewer, task_state, submitted, submitted + timedelta(hours=120),
                      decided, "通过" if last == "approve" else "请补充签字页" if last else ""))
        actions.append((instance_id, head, "submit", "提交", "", submitted))
        ctx.audit.add(submitted, ctx.user(head), "project_item", iid, "update", label=f"项目材料{iid}",
                      changes={"status": "submitted"})
        if last:
            actions.append((instance_id, reviewer, last, "医务科审核", "通过" if last == "approve" else "请补充签字页",
                            decided))
    ctx.bulk(ApprovalTask, ("instance_id", "step_position", "step_name", "assignee_id", "status", "created_at",
                            "due_at", "acted_at", "comment"), tasks)
    ctx.bulk(ApprovalAction, ("instance_id", "actor_id", "action", "step_name", "comment", "created_at"), actions)
    if instance_ids:
        table = ProjectItem.__table__
        from sqlalchemy import bindparam

        stmt = table.update().where(table.c.id == bindparam("iid")).values(approval_id=bindparam("aid"))
        ctx.connection.execute(stmt, [{"iid": m[0], "aid": aid} for aid, m in zip(instance_ids, instance_meta,
                                                                                   strict=True)])
    return {"projects": len(project_ids), "project items": len(item_ids), "project files": len(files),
            "project approvals": len(instance_ids), "templates": len(templates)}
