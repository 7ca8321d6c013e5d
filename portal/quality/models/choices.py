"""The enumerations of quality records: stored value -> Chinese label (the labels are what files and pages show)."""

# 离院方式 (病案首页): HIS codes 1/2/3/4/5/9, plus 家庭病床撤床, which no indicator counts.
DISCHARGE_MODES = {"1": "医嘱离院", "2": "医嘱转院", "3": "医嘱转社区/乡镇卫生院", "4": "非医嘱离院", "5": "死亡",
                   "9": "其他", "home_bed": "家庭病床撤床"}
DISCHARGE_MODE_WORDS = {"转院": "2", "转社区": "3", "转乡镇卫生院": "3", "自动出院": "4", "自动离院": "4",
                        "家床撤床": "home_bed", "家庭病床": "home_bed"}
EXCLUDED_MODE = "home_bed"
# 手术 / 介入 judgement: only these two count as an operation in the performance indicators.
KINDS = {"surgery": "手术", "interventional": "介入", "procedure": "操作"}
COUNTED_KINDS = ("surgery", "interventional")
INCISIONS = {"0": "0类", "I": "Ⅰ类", "II": "Ⅱ类", "III": "Ⅲ类"}
INCISION_WORDS = {"Ⅰ": "I", "Ⅱ": "II", "Ⅲ": "III", "1": "I", "2": "II", "3": "III", "1类": "I", "2类": "II",
                  "3类": "III", "0": "0", "i": "I", "ii": "II", "iii": "III", "I类": "I", "II类": "II", "III类": "III"}
HEALINGS = {"A": "甲", "B": "乙", "C": "丙", "X": "其他"}
HEALING_WORDS = {"甲级": "A", "乙级": "B", "丙级": "C", "甲级愈合": "A", "乙级愈合": "B", "丙级愈合": "C", "其他": "X"}
URGENCIES = {"elective": "择期", "emergency": "急诊", "limited": "限期"}
URGENCY_WORDS = {"择期手术": "elective", "急诊手术": "emergency", "限期手术": "limited", "急": "emergency"}
EVENT_KINDS = {"complication": "手术并发症", "reoperation": "非计划重返手术室再次手术", "infection": "术后感染",
               "ssi": "手术部位感染"}
SSI_DEPTHS = {"superficial": "表浅切口", "deep": "深部切口", "organ": "器官/腔隙"}
SSI_WORDS = {"表浅": "superficial", "浅表": "superficial", "浅表切口": "superficial", "深部": "deep",
             "器官腔隙": "organ", "器官/腔隙感染": "organ", "器官": "organ", "腔隙": "organ"}
EVENT_STATUSES = {"matched": "已关联", "unmatched": "未关联"}
SOURCES = {"import": "Excel 导入", "api": "HIS 推送", "demo": "演示数据", "bench": "基准数据"}
REOP_48H, REOP_31D = 48, 31 * 24  # hours from the end of the first operation
