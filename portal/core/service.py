"""What services raise when the input breaks a business rule: a Chinese message for the user."""

from __future__ import annotations


class ServiceError(Exception):
    """A rule was broken; nothing has been changed. ``field`` names the form field at fault."""

    def __init__(self, message: str, field: str | None = None, status: int = 422):
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status


class Conflict(ServiceError):
    def __init__(self, message: str = "该记录已被他人修改，请刷新后重试。"):
        super().__init__(message, status=409)


def clean(value: str | None) -> str:
    """Form text as stored: surrounding spaces removed, a missing value as empty."""
    return (value or "").strip()
