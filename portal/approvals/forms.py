"""The approval process forms (a process and its steps)."""

from __future__ import annotations

from wtforms import BooleanField, IntegerField, SelectField, StringField
from wtforms.validators import NumberRange

from portal.auth.seed import ROLES
from portal.core.forms import PortalForm, length, optional, required, select_choices

from .models import COMMITTEE_MODES, RULES


def _optional_int(value):
    try:
        return int(value) if value not in (None, "", "None") else None
    except (TypeError, ValueError):
        return -1  # not a committee: refused by services.save_step


class StepForm(PortalForm):
    name = StringField("步骤名称", validators=[required(), length(100)])
    rule = SelectField("审批人规则", choices=select_choices(RULES), validators=[required()])
    # Only the chosen rule's target matters, so these two are checked by services.save_step, not here.
    role_code = SelectField("角色（规则为指定角色时）", validate_choice=False,
                            choices=select_choices([("", "—")] + [(k, v[0]) for k, v in ROLES.items()]))
    committee_id = SelectField("委员会（规则为委员会时）", validate_choice=False, coerce=_optional_int)
    committee_mode = SelectField("委员会签署方式", choices=select_choices(COMMITTEE_MODES))
    user_login = StringField("指定人员登录名（规则为指定人员时）", validators=[optional(), length(64)])
    time_limit_hours = IntegerField("办理时限（小时）", validators=[
        optional(), NumberRange(1, 24 * 90, "应为 1–2160 小时")])
    escalate_after_hours = IntegerField("超时后再过多少小时上报医务科", validators=[
        optional(), NumberRange(1, 24 * 90, "应为 1–2160 小时")])


class ProcessForm(PortalForm):
    name = StringField("流程名称", validators=[required(), length(100)])
    description = StringField("说明", validators=[optional(), length(255)])
    allow_withdraw = BooleanField("申请人可撤回")
    is_active = BooleanField("启用")
