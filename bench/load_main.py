"""The home page and its panels (every benchmark user's panels, as each one's home page loads them)."""

from .load import Load, LoadContext, Page
from .openloop import Request

HX = (("HX-Request", "true"),)


def load(ctx: LoadContext) -> Load:
    cms = ctx.case_managers()
    panels = [Request("home panels", url, ctx.cookie(login), headers=HX)
              for login in (*cms, "bsup", "bma", "bsys") for url in ctx.sessions[login][2]]
    return Load(pages=[Page("cm: home", 6, [Request("cm: home", "/", ctx.cookie(login)) for login in cms]),
                       Page("home panels", 16, panels)])
