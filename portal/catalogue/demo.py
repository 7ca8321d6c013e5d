"""Demo data of the catalogue: the hospital's operation dictionary with grades, flags and departments."""

from __future__ import annotations

from portal.core.domains import Demo

from .technologies.demo import build_catalogue


def build(demo: Demo) -> None:
    build_catalogue(demo.departments)
