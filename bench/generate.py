"""Accounts and organisation for the benchmarks: the department tree (each department with a ward), staff,
logins by role, five years of login events and the audit records of all that.

Bench accounts all use the password ``bench.kit.PASSWORD`` and need no first-login change:
``benchadmin`` (every role), ``bsys`` (sysadmin), ``baudit`` (auditor), ``bma`` (ma_admin), ``bsup``
(cm_supervisor), ``bplan`` (plan_issuer), ``bhNNN`` (head of department NNN), ``uNNNNNN`` (clinicians).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from portal.auth import org
from portal.auth.models import LoginEvent, Staff, User, user_roles
from portal.auth.passwords import hash_password
from portal.auth.seed import ensure_reference_data
from portal.extensions import db

from .kit import PASSWORD, Context

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰红建国海燕晓雪峰婷丹"
TITLES = ("主任医师", "副主任医师", "主治医师", "住院医师", "主管护师", "护师", "护士")
SPECIALTIES = ("心血管内科", "呼吸内科", "消化内科", "神经内科", "肾内科", "内分泌科", "普通外科", "骨科", "泌尿外科",
               "胸外科", "神经外科", "妇科", "产科", "儿科", "眼科", "耳鼻喉科", "口腔科", "皮肤科", "肿瘤科", "急诊科")
AGENTS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0", "Mozilla/5.0 (iPad; CPU OS 17_1) Safari/604.1",
          "Mozilla/5.0 (Linux; Android 13) wxwork/4.1.16")


def person(n: int) -> str:
    return SURNAMES[n % len(SURNAMES)] + GIVEN[(n * 7) % len(GIVEN)] + (GIVEN[(n * 13) % len(GIVEN)] if n % 3 else "")


def generate(ctx: Context) -> dict:
    s, rng = ctx.scale, ctx.rng
    roles = ensure_reference_data()
    # The tree is small: through the services (each audited through the ORM, chained like the rest).
    hospital = org.create_department(name="基准医院", code="BH", kind="hospital", parent_id=None)
    ctx.departments["BH"] = hospital.id
    divisions = [org.create_department(name=f"院区{i}", code=f"BD{i}", kind="division", parent_id=hospital.id)
                 for i in range(2)]
    depts = []
    for d in range(s.departments):
        name = SPECIALTIES[d % len(SPECIALTIES)] + (f"{d // len(SPECIALTIES) + 1}" if d >= len(SPECIALTIES) else "")
        dept = org.create_department(name=name, code=f"BK{d:03d}", kind="department",
                                     parent_id=divisions[d % 2].id, sort_order=d)
        ward = org.create_department(name=f"{name}病区", code=f"BW{d:03d}", kind="ward", parent_id=dept.id)
        ctx.departments[dept.code] = dept.id
        ctx.departments[ward.code] = ward.id
        depts.append(dept.id)
        ctx.wards.append(ward.id)
    office = org.create_department(name="医务科", code="BYW", kind="department", parent_id=divisions[0].id)
    centre = org.create_department(name="全程管理中心", code="BQC", kind="department", parent_id=divisions[0].id)
    ctx.departments.update(BYW=office.id, BQC=centre.id)
    db.session.flush()

    start = ctx.day(s.days)
    hashed = hash_password(PASSWORD)  # one hash for every bench account: hashing 1,500 would take minutes
    staff_rows, user_rows, role_rows, logins = [], [], [], []
    for n in range(s.staff):
        dept = depts[n % len(depts)]
        staff_rows.append((f"B{n:06d}", person(n), TITLES[n % len(TITLES)], "科主任" if n < len(depts) else "",
                           dept, True))
    staff_ids = ctx.bulk(Staff, ("employee_no", "name", "title", "position", "department_id", "is_active"), staff_rows)
    special = [("benchadmin", list(roles)), ("bsys", ["sysadmin"]), ("baudit", ["auditor"]), ("bma", ["ma_admin"]),
               ("bsup", ["cm_supervisor"]), ("bplan", ["plan_issuer"])]
    special_staff = ctx.bulk(Staff, ("employee_no", "name", "title", "position", "department_id", "is_active"),
                             [(f"BX{i:03d}", person(90_000 + i), "主管护师", "",
                               office.id if i < 4 else centre.id, True) for i in range(len(special))])
    for (login, codes), staff_id in zip(special, special_staff, strict=True):
        logins.append((login, staff_id, codes, person(90_000 + special_staff.index(staff_id))))
    for n, staff_id in enumerate(staff_ids):
        if n < len(depts):
            logins.append((f"bh{n:03d}", staff_id, ["dept_head"], staff_rows[n][1]))
        elif n % s.users_every == 0:
            logins.append((f"u{n:06d}", staff_id, ["clinician"], staff_rows[n][1]))
    for login, staff_id, _codes, _name in logins:
        user_rows.append((login, hashed, staff_id, True, False, ctx.now, 1, ctx.at(start, 8)))
    user_ids = ctx.bulk(User, ("login_name", "password_hash", "staff_id", "is_active", "must_change_password",
                               "password_changed_at", "access_version", "created_at"), user_rows)
    admin = ctx.users.setdefault("benchadmin", user_ids[0])
    ctx.names[admin] = logins[0][3]
    for (login, _staff_id, codes, name), uid in zip(logins, user_ids, strict=True):
        ctx.users[login] = uid
        ctx.names[uid] = name
        role_rows.extend((uid, roles[code].id) for code in codes)
        ctx.audit.add(ctx.at(start, 8, 30), ctx.user(admin), "user", uid, "create", label=login,
                      changes={"login_name": {"before": None, "after": login}, "roles": {"before": None,
                                                                                        "after": codes}})
    ctx.bulk(user_roles, ("user_id", "role_id"), role_rows, ids=False)
    ctx.ids["users"] = user_ids
    ctx.ids["clinicians"] = [uid for (login, *_), uid in zip(logins, user_ids, strict=True) if login.startswith("u")]
    ctx.ids["dept_heads"] = [ctx.users[f"bh{d:03d}"] for d in range(len(depts))]
    ctx.ids["departments"] = depts

    # Login events over the whole history: mostly successes, some failures, logouts and timeouts.
    events = []
    kinds = ("success",) * 12 + ("logout",) * 5 + ("timeout",) * 2 + ("failure",) + ("wecom_success",) * 3
    for k in range(s.logins):
        uid = user_ids[rng.randrange(len(user_ids))]
        when = ctx.at(start + timedelta(days=k * s.days // s.logins), 7 + rng.randrange(12), rng.randrange(60))
        events.append((when, uid, logins[uid - user_ids[0]][0], kinds[k % len(kinds)],
                       f"10.8.{rng.randrange(250)}.{rng.randrange(250)}", AGENTS[k % 3], ""))
    ctx.bulk(LoginEvent, ("created_at", "user_id", "login_name", "event", "ip", "user_agent", "detail"), events)
    db.session.execute(select(User.id).limit(1))  # the session sees the bulk rows (same transaction)
    return {"departments": len(depts), "wards": len(ctx.wards), "staff": len(staff_ids) + len(special_staff),
            "users": len(user_ids), "login events": len(events)}
