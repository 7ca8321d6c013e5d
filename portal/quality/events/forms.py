"""Correcting an unmatched event: the surgery it belongs to."""

from __future__ import annotations

from wtforms import StringField

from portal.core.forms import PortalForm, length, required


class LinkForm(PortalForm):
    surgery_record_id = StringField("手术记录号", validators=[required("请填写手术记录号"), length(64)])
