"""Personal data shown on screen is masked: 张*三, 138****1234, 1101**********1234."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


def mask_name(name: str | None) -> str:
    if not name:
        return ""
    if len(name) == 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_phone(phone: str | None) -> str:
    if not phone:
        return ""
    if len(phone) < 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def mask_id_number(number: str | None) -> str:
    if not number:
        return ""
    if len(number) <= 8:
        return "*" * len(number)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


# Fields an audit record must never hold in clear: (entity type, field) -> its mask. The record is written masked
# (a six-year log is no place for a copy of a patient's name) and shown masked (records written before a field
# was registered).
_AUDITED: dict[tuple[str, str], Callable[[str], str]] = {}


def register_audited(entity: str, field: str, mask: Callable[[str], str] = mask_name) -> None:
    """Mask `field` of `entity` in audit records, e.g. ("patient", "name"); field "filters.q": an export's search."""
    _AUDITED[(entity, field)] = mask


def audited_changes(entity: str, changes: Any) -> Any:
    """An audit record's changes with the registered fields masked: a value, a before/after or from/to pair, and
    the search text among an export's filters."""
    if not _AUDITED or not isinstance(changes, Mapping):
        return changes
    out = dict(changes)
    for key, change in changes.items():
        mask = _AUDITED.get((entity, str(key)))
        if mask is not None:
            out[key] = _masked_change(mask, change)
        elif key == "filters" and isinstance(change, Mapping):
            out[key] = {name: _masked_change(_AUDITED[(entity, f"filters.{name}")], value)
                        if (entity, f"filters.{name}") in _AUDITED else value for name, value in change.items()}
    return out


def _masked_change(mask: Callable[[str], str], change: Any) -> Any:
    if isinstance(change, Mapping):
        return {side: _masked_change(mask, value) for side, value in change.items()}
    if isinstance(change, list):
        return [_masked_change(mask, value) for value in change]
    return mask(change) if isinstance(change, str) and change else change
