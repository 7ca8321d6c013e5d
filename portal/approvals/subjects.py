"""The one small interface a domain implements so its objects can be approved.

A domain registers a Subject for its entity type; the engine asks it for a title, summary,
link, attachments, and tells it the outcome. Nothing else about the domain leaks in here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol


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


class StatusSubject:
    """A subject whose other outcomes than approval only set its status: ``_set(entity_id, status)`` with the
    status ``OUTCOMES`` names (a subclass overrides the mapping or a hook where an outcome does more)."""

    OUTCOMES: ClassVar[dict[str, str]] = {"returned": "returned", "rejected": "rejected", "withdrawn": "withdrawn"}

    def _set(self, entity_id: int, status: str) -> Any:
        raise NotImplementedError

    def on_returned(self, entity_id: int, instance) -> None:
        self._set(entity_id, self.OUTCOMES["returned"])

    def on_rejected(self, entity_id: int, instance) -> None:
        self._set(entity_id, self.OUTCOMES["rejected"])

    def on_withdrawn(self, entity_id: int, instance) -> None:
        self._set(entity_id, self.OUTCOMES["withdrawn"])


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
