"""A plausible operation dictionary: names per specialty with grades, categories and flags (demo and benchmark).

Each specialty lists its operations as (name, grade, category, flags); open abdominal operations also come
laparoscopic and robot-assisted, limb operations left and right, so a few hundred entries arise.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

from portal.core.actor import SYSTEM, acting_as
from portal.core.timeutil import utcnow

# flags: m = minimally invasive, d = day surgery, r = restricted, n = new technology, p = grade-4 performance
S, INT, E, A, V = "surgery", "interventional", "endoscopy", "anaesthesia", "invasive"
SPECIALTIES: list[tuple[str, str | None, int, list[tuple]]] = [
    # (specialty, demo department code or None, ICD-9-CM-3 chapter, operations)
    ("普通外科", "PTWK", 47, [
        ("阑尾切除术", 2, S, "A"), ("胆囊切除术", 3, S, "A"), ("腹股沟疝修补术", 2, S, "Ad"),
        ("胃大部切除术", 3, S, "A"),
        ("根治性远端胃切除术", 4, S, "Ap"), ("根治性全胃切除术", 4, S, "Ap"), ("右半结肠切除术", 4, S, "Ap"),
        ("乙状结肠切除术", 3, S, "A"), ("直肠癌根治术", 4, S, "Ap"), ("肝部分切除术", 4, S, "Ap"),
        ("胰十二指肠切除术", 4, S, "Ap"), ("脾切除术", 3, S, "A"), ("胆总管切开取石术", 3, S, "A"),
        ("肠粘连松解术", 2, S, "A"), ("甲状腺腺叶切除术", 2, S, ""), ("甲状腺癌根治术", 3, S, ""),
        ("乳腺肿物切除术", 1, S, "d"), ("乳腺癌改良根治术", 3, S, ""), ("混合痔切除术", 1, S, "d"),
        ("肛瘘切除术", 1, S, "d"), ("体表肿物切除术", 1, S, "d"), ("下肢静脉曲张腔内激光闭合术", 2, S, "md"),
    ]),
    ("骨科", "GK", 81, [
        ("股骨颈骨折闭合复位内固定术", 3, S, "L"), ("人工全髋关节置换术", 4, S, "Lp"),
        ("人工全膝关节置换术", 4, S, "Lp"),
        ("单髁膝关节置换术", 4, S, "Lpn"), ("关节镜下半月板部分切除术", 3, S, "Lm"),
        ("关节镜下前交叉韧带重建术", 4, S, "Lmp"),
        ("关节镜下肩袖修补术", 3, S, "Lm"), ("桡骨远端骨折切开复位内固定术", 2, S, "L"),
        ("踝关节骨折切开复位内固定术", 2, S, "L"),
        ("腕管松解术", 1, S, "Ld"), ("腰椎间盘髓核摘除术", 3, S, ""), ("经皮椎间孔镜下腰椎间盘髓核摘除术", 4, S, "mpn"),
        ("经皮椎体成形术", 3, S, "m"), ("腰椎后路椎间融合内固定术", 4, S, "p"), ("颈椎前路减压植骨融合术", 4, S, "p"),
        ("脊柱侧弯后路矫形术", 4, S, "p"), ("同种异体骨移植术", 4, S, "rp"), ("清创缝合术", 1, S, ""),
        ("骨折内固定物取出术", 1, S, "Ld"),
    ]),
    ("心血管内科", "XXGNK", 37, [
        ("冠状动脉造影术", 2, INT, "m"), ("经皮冠状动脉球囊扩张术", 3, INT, "m"),
        ("经皮冠状动脉支架植入术", 4, INT, "mp"),
        ("冠状动脉腔内旋磨术", 4, INT, "mp"), ("血管内超声检查", 3, INT, "m"), ("永久心脏起搏器植入术", 3, INT, "m"),
        ("心脏再同步化治疗除颤器植入术", 4, INT, "mp"), ("植入型心律转复除颤器植入术", 4, INT, "mp"),
        ("心房颤动导管射频消融术", 4, INT, "mp"), ("室上性心动过速导管射频消融术", 3, INT, "m"),
        ("室性早搏导管射频消融术", 4, INT, "mp"), ("左心耳封堵术", 4, INT, "mpn"),
        ("经导管主动脉瓣置换术", 4, INT, "mpn"),
        ("心室辅助装置植入术", 4, S, "rp"), ("临时心脏起搏器植入术", 2, INT, "m"), ("心包穿刺引流术", 2, V, ""),
    ]),
    ("肿瘤科", "ZLK", 50, [
        ("经皮肺穿刺活检术", 2, V, "m"), ("胸腔穿刺置管引流术", 1, V, ""), ("腹腔穿刺置管引流术", 1, V, ""),
        ("经皮肝动脉化疗栓塞术", 3, INT, "m"), ("完全植入式静脉输液港植入术", 2, V, "d"),
        ("经外周静脉置入中心静脉导管术", 1, V, ""),
        ("骨髓穿刺术", 1, V, ""), ("放射性粒子植入术", 4, INT, "rmp"), ("肿瘤射频消融术", 4, INT, "rmp"),
        ("肿瘤微波消融术", 4, INT, "rmp"), ("肿瘤冷冻消融术", 4, INT, "rmpn"), ("CT引导下经皮穿刺活检术", 2, V, "m"),
    ]),
    ("消化内镜", "PTWK", 45, [
        ("电子胃镜检查", 1, E, "d"), ("电子结肠镜检查", 1, E, "d"), ("内镜下结肠息肉切除术", 2, E, "md"),
        ("内镜黏膜下剥离术", 4, E, "mp"), ("内镜逆行胰胆管造影术", 3, E, "m"), ("内镜下胆管支架置入术", 4, E, "mp"),
        ("内镜下食管静脉曲张套扎术", 3, E, "m"), ("超声内镜引导下细针穿刺术", 3, E, "m"),
        ("经口内镜下肌切开术", 4, E, "mpn"),
    ]),
    ("神经外科", None, 1, [
        ("慢性硬膜下血肿钻孔引流术", 2, S, ""), ("幕上肿瘤切除术", 4, S, "p"), ("颅内动脉瘤夹闭术", 4, S, "p"),
        ("颅内动脉瘤血管内栓塞术", 4, INT, "mp"), ("脑室腹腔分流术", 3, S, ""), ("经鼻蝶垂体瘤切除术", 4, S, "mp"),
        ("脑深部电刺激器植入术", 4, S, "pn"), ("去骨瓣减压术", 3, S, ""), ("颅骨修补术", 3, S, ""),
    ]),
    ("泌尿外科", None, 60, [
        ("经尿道前列腺电切术", 3, E, "m"), ("经尿道膀胱肿瘤电切术", 3, E, "m"), ("输尿管镜下钬激光碎石术", 3, E, "md"),
        ("经皮肾镜取石术", 4, E, "mp"), ("根治性肾切除术", 4, S, "Ap"), ("肾部分切除术", 4, S, "Ap"),
        ("根治性前列腺切除术", 4, S, "Ap"), ("包皮环切术", 1, S, "d"), ("睾丸鞘膜翻转术", 1, S, "d"),
    ]),
    ("妇产科", None, 68, [
        ("子宫肌瘤剔除术", 3, S, "A"), ("全子宫切除术", 3, S, "A"), ("广泛性子宫切除术", 4, S, "Ap"),
        ("卵巢囊肿剥除术", 2, S, "A"), ("宫腔镜下子宫内膜息肉切除术", 2, E, "md"), ("子宫下段剖宫产术", 2, S, ""),
        ("宫颈环形电切术", 1, S, "d"), ("输卵管切除术", 2, S, "A"),
    ]),
    ("眼科与耳鼻咽喉科", None, 13, [
        ("白内障超声乳化摘除联合人工晶体植入术", 3, S, "Lmd"), ("玻璃体切割术", 4, S, "Lmp"), ("小梁切除术", 3, S, "L"),
        ("鼻内镜下鼻窦开放术", 3, E, "m"), ("扁桃体切除术", 2, S, "d"), ("支撑喉镜下声带息肉切除术", 2, E, "md"),
        ("人工耳蜗植入术", 4, S, "p"), ("鼓室成形术", 3, S, "L"),
    ]),
    ("胸外科", None, 32, [
        ("肺叶切除术", 4, S, "Tp"), ("肺楔形切除术", 3, S, "T"), ("肺段切除术", 4, S, "Tp"),
        ("食管癌根治术", 4, S, "Tp"),
        ("纵隔肿瘤切除术", 3, S, "T"), ("胸腔闭式引流术", 1, V, ""), ("漏斗胸微创矫形术", 3, S, "mn"),
        ("肋骨骨折切开复位内固定术", 2, S, "L"), ("肺大疱切除术", 2, S, "T"), ("手汗症胸交感神经切断术", 2, S, "md"),
    ]),
    ("血管外科", None, 39, [
        ("腹主动脉瘤腔内修复术", 4, INT, "mp"), ("颈动脉内膜剥脱术", 4, S, "p"),
        ("下肢动脉球囊扩张支架植入术", 3, INT, "Lm"),
        ("动静脉内瘘成形术", 2, S, "L"), ("下腔静脉滤器置入术", 2, INT, "m"), ("大隐静脉高位结扎剥脱术", 2, S, "Ld"),
        ("主动脉夹层腔内隔绝术", 4, INT, "mp"),
    ]),
    ("口腔颌面外科", None, 24, [
        ("阻生牙拔除术", 1, S, "d"), ("颌骨囊肿刮治术", 2, S, ""), ("下颌骨骨折切开复位内固定术", 3, S, ""),
        ("舌癌联合根治术", 4, S, "p"), ("唇腭裂修复术", 3, S, ""), ("腮腺浅叶切除术", 3, S, ""),
    ]),
    ("烧伤整形科", None, 86, [
        ("刃厚皮片移植术", 2, S, ""), ("带蒂皮瓣移植术", 3, S, ""), ("游离皮瓣移植术", 4, S, "p"),
        ("瘢痕松解术", 2, S, ""),
        ("同种异体皮肤移植术", 4, S, "rp"), ("负压封闭引流术", 1, S, ""),
    ]),
    ("麻醉", None, 3, [
        ("全身麻醉", 2, A, ""), ("椎管内麻醉", 2, A, ""), ("超声引导下神经阻滞", 2, A, "m"),
        ("困难气道纤维支气管镜引导插管", 3, A, ""),
        ("监测下麻醉管理", 1, A, "d"),
    ]),
]
APPROACHES = (("", 0, ""), ("腹腔镜下", 0, "m"), ("机器人辅助腹腔镜下", 0, "m"))
THORACIC = (("", 0, ""), ("胸腔镜下", 0, "m"), ("机器人辅助胸腔镜下", 0, "m"))
ROBOT_NEW = 3  # the latest robot-assisted operations are still new technologies (the others are routine by now)
SIDES = ("左侧", "右侧")


@dataclass
class Operation:
    code: str
    national_code: str
    insurance_code: str
    name: str
    category: str
    grade: int
    flags: dict[str, bool]
    department: str | None  # demo department code
    specialty: str
    extra: dict = field(default_factory=dict)


def _flags(letters: str) -> dict[str, bool]:
    return {"minimally_invasive": "m" in letters, "day_surgery": "d" in letters, "restricted": "r" in letters,
            "new_tech": "n" in letters, "perf_grade4": "p" in letters}


def operations() -> Iterator[Operation]:
    """The dictionary in a fixed order (the same codes every time)."""
    number = robots = 0
    for specialty, department, chapter, ops in SPECIALTIES:
        for index, (name, grade, category, letters) in enumerate(ops):
            variants = [("", 0, "")]
            if "A" in letters or "T" in letters:
                variants = list(APPROACHES if "A" in letters else THORACIC)
                if grade < 3:
                    variants = variants[:2]  # no robot for the simple ones
            elif "L" in letters:
                variants = [(side, 0, "") for side in SIDES]
            for vindex, (prefix, bump, more) in enumerate(variants):
                number += 1
                flags = _flags(letters + more)
                full = f"{prefix}{name}"
                if prefix.startswith("机器人"):
                    grade_here = 4
                    flags["perf_grade4"] = True
                    robots += 1
                    flags["new_tech"] = robots > ROBOT_NEW * 5  # the last few made
                else:
                    grade_here = min(4, grade + bump)
                national = f"{chapter:02d}.{index + 1:02d}{vindex:02d}x{number % 1000:03d}"
                yield Operation(f"SS{number:05d}", national, national if number % 7 else "", full, category,
                                grade_here, flags, department, specialty)


def build_catalogue(departments: dict, rng: random.Random | None = None) -> int:
    """The demo catalogue through the services (a revision and an audit record each), dated a year back, then a
    few revisions and disabled entries so the timeline and "as of" have something to show."""
    from . import services

    rng = rng or random.Random(20261201)
    now = utcnow()
    created_at = now - timedelta(days=400)
    made = []
    with acting_as(SYSTEM):
        for op in operations():
            dept = departments.get(op.department) if op.department else None
            extra_dept = departments.get("ZLK") if op.specialty == "普通外科" and "癌" in op.name else None
            ids = [d.id for d in (dept, extra_dept) if d is not None]
            values = {"code": op.code, "national_code": op.national_code, "insurance_code": op.insurance_code,
                      "name": op.name, "category": op.category, "grade": op.grade, **op.flags,
                      "prerequisites": ["YSZYZ"] + (["XZLJS"] if op.flags["restricted"] else []),
                      "note": "按《医疗技术临床应用管理办法》备案管理" if op.flags["restricted"] else ""}
            made.append(services.create_technology(values, ids, reason="初始手术字典", source="demo", when=created_at))
        for tech in rng.sample(made, 24):
            services.update_technology(tech, {"grade": min(4, tech.grade + 1)}, None, reason="院内手术分级目录年度调整",
                                       source="form", when=now - timedelta(days=rng.randint(60, 200)))
        for tech in rng.sample([t for t in made if t.grade < 3], 6):
            services.set_status(tech, "disabled", reason="已被新术式取代，停止开展",
                                when=now - timedelta(days=rng.randint(5, 40)))
    return len(made)
