"""Case management's code lists: the stored code and its Chinese label."""

ID_TYPES = {
    "resident": "居民身份证",
    "passport": "护照",
    "hk_macao": "港澳居民来往内地通行证",
    "taiwan": "台湾居民来往大陆通行证",
    "foreign": "外国人永久居留身份证",
    "other": "其他证件",
}
GENDERS = {"M": "男", "F": "女", "U": "未知"}
PACKAGES = {"basic": "基础服务包（免费）", "custom": "定制服务包"}
PACKAGE_MONTHS = (1, 3, 6, 12)
ENROLMENT_STATES = {"active": "管理中", "closed": "已结案"}
TASK_TYPES = {
    "phone_followup": "电话随访",
    "education": "健康宣教推送",
    "revisit_reminder": "复诊提醒",
    "questionnaire": "问卷调查",
    "nutrition_screening": "营养筛查",
    "accompany_admission": "陪同入院",
    "accompany_discharge": "陪同出院",
    "medication_reminder": "用药提醒",
    "other": "其他服务",
}
ANCHORS = {"enrolment": "入组", "admission": "入院", "surgery": "手术", "discharge": "出院"}
TIME_SLOTS = {"morning": "上午", "afternoon": "下午", "evening": "晚间", "any": "全天"}
SPECIAL_NEEDS = {"wheelchair": "轮椅", "interpreter": "翻译", "fasting": "禁食", "isolation": "隔离",
                 "stretcher": "平车", "oxygen": "吸氧"}
PLAN_SOURCES = {"form": "页面填报", "excel": "Excel 导入", "api": "HIS 接口"}
TASK_SOURCES = {"plan": "次日计划", "pathway": "管理路径", "adhoc": "临时服务"}
TASK_STATES = {"open": "待完成", "done": "已完成", "declined": "患者拒绝", "unreached": "多次未联系上",
               "cancelled": "已取消"}
# Closed by an outcome: done (reached), declined, or not reached too many times (flagged to the supervisor).
CLOSED_STATES = ("done", "declined", "unreached")
OUTCOMES = {"reached": "已完成（联系上）", "not_reached": "未联系上", "rescheduled": "改期", "declined": "患者拒绝"}
EVENT_KINDS = {"adverse_event": "不良事件", "complaint": "投诉"}
SEVERITIES = {"mild": "轻度", "moderate": "中度", "severe": "重度", "critical": "严重"}
EVENT_STATES = {"open": "待处理", "handling": "处理中", "closed": "已关闭"}
