"""Demo data of the technology catalogue: each area adds its builder here."""

from __future__ import annotations

from portal.core.domains import Demo

from .technologies.demo import build_catalogue


def build(demo: Demo) -> None:
    from .newtech.demo import build as build_newtech

    build_catalogue(demo.departments)
    build_newtech(demo)
