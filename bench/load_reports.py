"""The report catalogue (each report is measured on its own by the harness, over five years and a month)."""

from .load import Load, LoadContext, Page
from .openloop import Request


def load(ctx: LoadContext) -> Load:
    return Load(pages=[Page("reports", 3, [Request("reports", "/reports/", ctx.cookie("bsup"))])])
