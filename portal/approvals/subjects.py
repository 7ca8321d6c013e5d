"""The one small interface a domain implements so its objects can be approved.

A domain registers a Subject for its entity type; the engine asks it for a title, summary,
link, attachments, and tells it the outcome. Nothing else about the domain leaks in here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class Summary:
    title: str
    url: str
    facts: list[tuple[str, str]] = field(default_factory=list)
    attachments: list[Any] = field(default_factory=list)  # objects with id, filename, kind, url


class Subject(Protocol):
    entity_type: str
    label: str

    def summary(self, entity_id: int) -> Summary | None: ...

    def on_approved(self, entity_id: int, instance) -> None: ...

    def on_rejected(self, entity_id: int, instance) -> None: ...

    def on_returned(self, entity_id: int, instance) -> None: ...

    def on_withdrawn(self, entity_id: int, instance) -> None: ...

    # Optional: `on_resubmitted(entity_id, instance)` when the applicant sends a returned request back.


SUBJECTS: dict[str, Subject] = {}


def register(subject: Subject) -> Subject:
    SUBJECTS[subject.entity_type] = subject
    from portal.core.audit import register_entity

    register_entity(subject.entity_type, subject.label)
    return subject


def subject_for(entity_type: str) -> Subject:
    try:
        return SUBJECTS[entity_type]
    except KeyError:
        raise LookupError(f"no approval subject registered for {entity_type}") from None


def call(entity_type: str, hook: str, entity_id: int, instance) -> None:
    method = getattr(subject_for(entity_type), hook, None)
    if method is not None:
        method(entity_id, instance)
