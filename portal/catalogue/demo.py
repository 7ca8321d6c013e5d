"""Demo data of the technology catalogue: each area adds its builder here."""

from __future__ import annotations

from portal.core.domains import Demo


def build(demo: Demo) -> None:
    from .newtech.demo import build as build_newtech

    build_newtech(demo)
