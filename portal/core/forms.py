"""Form helpers: Chinese messages and the bridge from ServiceError to a field error."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectChoice, SelectMultipleField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from .service import ServiceError


class PortalForm(FlaskForm):
    class Meta:
        locales = ("zh",)

    def apply_error(self, error: ServiceError) -> None:
        """Attach a service's refusal to its field (or to the form as a whole)."""
        field = getattr(self, error.field, None) if error.field else None
        if field is not None:
            field.errors = [*field.errors, error.message] if isinstance(field.errors, list) else [error.message]
        else:
            self.form_errors.append(error.message)


def required(message: str = "此项为必填项") -> DataRequired:
    return DataRequired(message=message)


def length(maximum: int, minimum: int = 0) -> Length:
    if minimum:
        return Length(min=minimum, max=maximum, message=f"长度应为 {minimum}–{maximum} 个字符")
    return Length(max=maximum, message=f"不能超过 {maximum} 个字符")


def optional() -> Optional:
    return Optional()


def select_choices(pairs) -> list[SelectChoice]:
    """(value, label) pairs, or a {value: label} dict, as WTForms choices."""
    items = pairs.items() if isinstance(pairs, dict) else pairs
    return [SelectChoice(value, label) for value, label in items]


class MultiChoiceField(SelectMultipleField):
    """A multi-select whose refusal of an unknown value is in Chinese."""

    def pre_validate(self, form):
        if not self.validate_choice or not self.data:
            return
        allowed = {choice.value for choice in self.choices}
        unknown = [value for value in self.data if value not in allowed]
        if unknown:
            raise ValidationError("所选项不在可选范围内，请刷新页面后重新选择")
