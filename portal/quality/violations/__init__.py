"""Privilege checks after the fact (事中监管 / 风险预警): detection on every surgery write, the risk alert, and the
page where medical affairs (all departments) and department heads (their own) handle open violations."""

from portal.core.permissions import register

HANDLE = register("quality.violations", "处理事后监管问题",
                  "查看并处理超权限手术、手术时间重合与术者不一致（科主任限本科室）", "医疗质量")
