"""Privilege checks after the fact: the open violation list (medical affairs, all departments; a department
head, own departments), one kind, and the list filtered to one surgeon."""

from .load import Load, LoadContext, Page
from .openloop import Request


def load(ctx: LoadContext) -> Load:
    ma = ctx.cookie("bma")

    def page(name: str, weight: int, path: str, cookie: str = ma) -> Page:
        return Page(name, weight, [Request(name, path, cookie)])

    pages = [
        page("violations: open list", 2, "/quality/violations"),
        page("violations: privilege kind", 1, "/quality/violations?kind=privilege"),
        page("violations: overlaps, all states", 1, "/quality/violations?kind=overlap&status=all"),
    ]
    if "bh000" in ctx.sessions:
        pages.append(page("dept head: violations", 2, "/quality/violations", ctx.cookie("bh000")))
    return Load(pages=pages)
