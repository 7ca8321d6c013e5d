"""Demo key projects: two budgets near their thresholds, and one with an expenditure over its line waiting for
approval."""

from __future__ import annotations

from datetime import date, timedelta

from portal.core.timeutil import local_today

from .expenditures.services import add_expenditure
from .money import parse_money
from .projects.services import create_project


def _spend(project, user, code: str, amounts: list[str], start: date, prefix: str, reason: str = "") -> None:
    line = next(line for line in project.lines if line.code == code)
    for number, amount in enumerate(amounts, 1):
        add_expenditure(project, user, line_id=line.id, spent_on=start + timedelta(days=number * 9),
                        amount=parse_money(amount), description=f"{line.name}支出 {number}",
                        voucher_no=f"{prefix}-{number:03d}", over_reason=reason)


def build(demo) -> None:
    today = local_today()
    start = date(today.year, 1, 1)
    end = date(today.year, 12, 31)
    ma = demo.users["yiwu"]
    cardio, surgery = demo.departments["XXGNK"], demo.departments["PTWK"]
    year = str(today.year)
    if ma is not None:
        chest_pain = create_project(
            code=f"ZD-{year}-01", name="胸痛中心建设", department_id=cardio.id, start_date=start, end_date=end,
            lines="\n".join([f"A | 设备购置 | 设备购置 | {year} | 0",
                             f"A01 | 心电监护设备 | 设备购置 | {year} | 300,000.00 | A",
                             f"A02 | 转运设备 | 设备购置 | {year} | 120,000.00 | A",
                             f"B01 | 培训与会议 | 培训与会议 | {year} | 50,000.00",
                             f"C01 | 劳务费 | 劳务费 | {year} | 80,000.00"]))
        _spend(chest_pain, ma, "A01", ["118,000.00", "92,500.00", "36,800.00"], start, "JZ-XT")  # 82.4 %
        _spend(chest_pain, ma, "B01", ["12,300.00", "9,860.50"], start, "JZ-XT-B")
        ecmo = create_project(
            code=f"ZD-{year}-02", name="ECMO 技术推广", department_id=cardio.id, start_date=start, end_date=end,
            thresholds="80,90,100", lines="\n".join([f"A01 | 耗材 | 材料费 | {year} | 200,000.00",
                                                    f"B01 | 进修培训 | 培训与会议 | {year} | 60,000.00"]))
        _spend(ecmo, ma, "A01", ["88,000.00", "56,400.00", "28,600.00"], start, "JZ-ECMO")  # 86.6 %
        robot = create_project(
            code=f"ZD-{year}-03", name="达芬奇机器人手术平台", department_id=surgery.id, start_date=start,
            end_date=end, approve_over_line=True,
            lines="\n".join([f"A01 | 专用器械 | 材料费 | {year} | 150,000.00",
                             f"B01 | 医师培训 | 培训与会议 | {year} | 40,000.00"]))
        _spend(robot, ma, "B01", ["22,000.00", "16,500.00"], start, "JZ-RB")
        _spend(robot, ma, "B01", ["8,800.00"], start + timedelta(days=40), "JZ-RB-X",
               reason="国际培训名额增加，需追加一名医师赴外培训")  # over its line: waits for approval
