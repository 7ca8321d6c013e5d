"""Demo client systems: HIS and the HR system registered, without tokens or secret (an administrator issues
them on the client page, where they are shown once)."""

from __future__ import annotations

from . import clients


def build(demo) -> None:
    clients.create_client(code="HIS", name="医院信息系统（HIS）", contact="信息科 8001",
                          notes="次日服务计划、授权查询、页面集成")
    clients.create_client(code="HR", name="人事管理系统", contact="人事处 8123", notes="科室与人员同步")
