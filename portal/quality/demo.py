"""Demo data placeholder (filled below)."""


def build(demo) -> None:
    return None
