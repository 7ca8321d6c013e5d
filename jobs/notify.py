"""Delivery of the outbox and its sweep."""

from __future__ import annotations

from . import job_context


def deliver_outbox_message(message_id: int) -> str:
    """Push one outbox message to WeCom."""
    from portal.notify import outbox

    with job_context():
        return outbox.deliver(message_id)


def sweep_outbox() -> int:
    """Enqueue every outbox message that is due."""
    from portal.notify import outbox

    with job_context():
        return outbox.sweep()
