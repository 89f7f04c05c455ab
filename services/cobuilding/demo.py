"""Demo co-building data for `hongguan seed-demo`: member units of every type with their 兼职委员 logins, and a
few hundred resources and needs in Chinese, generated deterministically from the vocabulary below."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from infra import clock
from models.cobuilding import CobuildingNeed, CobuildingResource, CobuildingUnit
from models.staff import Staff
from services.cobuilding import needs, resources, units

# (code, name, kind, contact, 兼职委员)
UNITS: tuple[tuple[str, str, str, str, str], ...] = (
    ("CB-TAX", "区税务局", "agency", "钱科长", "钱立"),
    ("CB-POWER", "国网供电公司湖西营业部", "state_owned", "孙主任", "孙强"),
    ("CB-BANK", "农商银行湖西支行", "state_owned", "周行长", "周敏"),
    ("CB-HOSP", "湖西社区卫生服务中心", "agency", "吴医生", "吴静"),
    ("CB-SCHOOL", "星海实验中学", "school", "郑老师", "郑华"),
    ("CB-LAW", "明德律师事务所", "business", "王律师", "王明"),
    ("CB-MART", "邻里生鲜超市", "business", "冯店长", "冯丽"),
    ("CB-SOCIAL", "暖心社工服务社", "social_org", "陈社工", "陈晨"),
)

# Per resource kind: (subject, what is offered, who it suits, unit label, capacity range).
VOCABULARY: dict[str, tuple[tuple[str, str, str, str, tuple[int, int]], ...]] = {
    "activity": (
        ("亲子阅读会", "周末亲子共读绘本，志愿者讲故事", "家长和学龄前儿童", "场", (2, 8)),
        ("重阳敬老文艺演出", "舞蹈合唱戏曲进社区慰问老人", "社区老年人", "场", (1, 3)),
        ("垃圾分类宣传活动", "互动游戏讲解垃圾分类知识，发放分类指南", "全体居民", "场", (2, 6)),
        ("暑期夏令营", "手工科学实验和体育游戏，看护双职工家庭孩子", "小学生", "期", (1, 2)),
        ("反诈宣传讲座", "民警讲解电信诈骗常见套路，防范养老诈骗", "老年人和居民", "场", (2, 6)),
        ("消防演练", "灭火器使用和疏散逃生演练", "楼栋居民", "场", (1, 4)),
    ),
    "venue": (
        ("多功能会议室", "可容纳五十人，有投影和音响，可开居民议事会", "社区议事和培训", "场", (4, 12)),
        ("篮球场", "室外灯光篮球场，晚上和周末开放", "青少年和上班族", "场", (6, 20)),
        ("活动室", "棋牌书画活动室，适合老年兴趣小组", "老年人兴趣团队", "场", (6, 20)),
        ("报告厅", "两百座报告厅，适合大型宣讲和文艺演出", "大型活动", "场", (1, 4)),
        ("食堂就餐点", "职工食堂错峰向社区老人开放助餐", "独居和高龄老人", "人次", (50, 300)),
    ),
    "service": (
        ("义诊", "测血压血糖、常见病咨询、慢病随访", "老年人和慢性病患者", "场", (2, 6)),
        ("家电义务维修", "电工上门检修电路、维修小家电", "困难家庭和独居老人", "户", (10, 40)),
        ("免费理发", "志愿者为老人上门理发", "高龄和行动不便老人", "人次", (20, 80)),
        ("助老上门服务", "助浴助洁陪同就医", "失能半失能老人", "人次", (10, 50)),
        ("金融知识进社区", "讲解防范非法集资，帮老人开通手机银行", "老年人", "场", (2, 6)),
        ("税费政策咨询", "个税汇算、社保缴费政策现场答疑", "居民和个体户", "场", (2, 6)),
    ),
    "expertise": (
        ("法律咨询", "律师坐班解答婚姻继承劳动纠纷等法律问题", "有法律困惑的居民", "次", (6, 24)),
        ("心理疏导", "心理咨询师一对一倾听，舒缓情绪压力", "青少年和家长", "人次", (10, 40)),
        ("课业辅导", "教师志愿者辅导作业，补习数学英语", "困难家庭学生", "人次", (20, 60)),
        ("急救培训", "心肺复苏和AED使用培训", "居民和楼栋长", "场", (2, 6)),
        ("电工安全检查", "检查老旧小区楼道线路和电动车充电隐患", "老旧小区", "次", (4, 12)),
        ("智能手机教学", "教老人用微信视频、扫码、挂号", "老年人", "场", (3, 10)),
    ),
    "funding": (
        ("微实事项目资金", "资助社区小微公益项目", "居民自治项目", "元", (5000, 30000)),
        ("困难家庭帮扶金", "定向资助低保边缘和大病家庭", "困难家庭", "元", (10000, 50000)),
        ("助学金", "资助家庭困难的在读学生", "困难学生", "元", (5000, 20000)),
    ),
    "goods": (
        ("爱心米面油", "大米食用油等生活物资", "困难家庭", "份", (30, 120)),
        ("防暑降温物资", "绿豆清凉油矿泉水", "户外工作者和老人", "份", (50, 200)),
        ("图书捐赠", "儿童绘本和科普读物", "社区书屋", "册", (100, 500)),
        ("冬季御寒物资", "棉被棉衣暖手宝", "独居老人和困难家庭", "份", (30, 100)),
        ("灭火器", "家用干粉灭火器", "老旧小区楼道", "只", (20, 80)),
        ("文体器材", "乒乓球台羽毛球拍跳绳", "社区活动室", "套", (5, 20)),
    ),
}

# Needs: (kind, title template, description, beneficiary note); the templates take a place.
NEED_VOCABULARY: tuple[tuple[str, str, str, str], ...] = (
    ("service", "{place}老人想测血压看病", "不少老人行动不便，希望有医生来社区义诊量血压", "高龄老人"),
    ("expertise", "{place}居民需要法律援助", "邻里纠纷和遗产继承问题多，想请律师来答疑", "有纠纷的居民"),
    ("activity", "{place}暑假孩子没人看管", "双职工家庭的孩子暑期无人照看，希望办夏令营", "小学生"),
    ("goods", "{place}困难家庭过冬缺棉被", "低保家庭冬天缺少御寒物资", "困难家庭"),
    ("venue", "{place}居民议事没有场地", "议事会和培训找不到能坐五十人的会议室", "居民代表"),
    ("expertise", "{place}楼道电线老化有隐患", "老旧小区电动车飞线充电，需要电工检查线路", "楼栋居民"),
    ("expertise", "{place}老人不会用智能手机", "老人不会扫码挂号视频聊天，想有人教", "老年人"),
    ("activity", "{place}老人常接到诈骗电话", "想请民警讲讲怎么防电信诈骗", "老年人"),
    ("expertise", "{place}学生作业没人辅导", "困难家庭孩子成绩跟不上，需要老师辅导功课", "困难家庭学生"),
    ("service", "{place}独居老人需要理发", "行动不便的老人很久没理发了", "独居老人"),
    ("goods", "{place}楼道缺少灭火器", "老旧楼栋没有配灭火器", "楼栋居民"),
    ("funding", "{place}想办微实事项目", "居民自治小项目缺启动资金", "居民"),
)
PLACES = ("绿洲花园", "星苑小区", "第一网格", "第二网格", "第三网格", "湖畔新村", "金鸡湖社区")


@dataclass
class SeededUnits:
    """The demo units and the staff logins of their 兼职委员."""

    units: dict[str, CobuildingUnit] = field(default_factory=dict)
    logins: dict[str, Staff] = field(default_factory=dict)


def seed_units(session: Session, community_id: int, coordinator: Staff) -> SeededUnits:
    """Create (once) the demo member units, each with a 兼职委员 who signs in as `member_unit`."""
    out = SeededUnits()
    for i, (code, name, kind, contact, member) in enumerate(UNITS):
        unit = session.scalar(select(CobuildingUnit).where(CobuildingUnit.code == code))
        login = session.scalar(select(Staff).where(Staff.openid == f"o-unit-{code.lower()}"))
        if unit is None:
            unit = units.create_unit(session, coordinator, community_id=community_id, code=code, name=name,
                                     kind=kind, member_from=date(2026, 1, 1), member_until=date(2028, 12, 31),
                                     contact_name=contact, contact_phone=f"1391234{i:04d}")  # fmt: skip
            login = Staff(name=member, role=units.UNIT_ROLE, community_id=community_id,
                          openid=f"o-unit-{code.lower()}")  # fmt: skip
            session.add(login)
            session.flush()
            units.add_member(session, coordinator, unit, name=member, serves_from=date(2026, 1, 1),
                             staff_id=login.id, phone=f"1379876{i:04d}")  # fmt: skip
        assert login is not None
        out.units[code] = unit
        out.logins[code] = login
    return out


def generated_resources(count: int, seed: int = 7) -> list[tuple[str, str, str, str, int]]:
    """`count` resources (kind, title, description, unit label, capacity) from the vocabulary, deterministic."""
    rng = random.Random(seed)
    flat = [(kind, *entry) for kind, entries in VOCABULARY.items() for entry in entries]
    out = []
    for n in range(count):
        kind, subject, offer, audience, label, (low, high) = flat[n % len(flat)]
        season = ("春季", "夏季", "秋季", "冬季")[rng.randrange(4)]
        out.append((kind, f"{season}{subject}", f"{offer}。面向{audience}。", label, rng.randint(low, high)))
    return out


def generated_needs(count: int, seed: int = 11) -> list[tuple[str, str, str, str, int]]:
    """`count` needs (kind, title, description, beneficiary note, beneficiaries), deterministic."""
    rng = random.Random(seed)
    out = []
    for n in range(count):
        kind, title, description, who = NEED_VOCABULARY[n % len(NEED_VOCABULARY)]
        place = PLACES[rng.randrange(len(PLACES))]
        out.append((kind, title.format(place=place), description, who, rng.randint(5, 120)))
    return out


def seed_cobuilding(
    session: Session, community_id: int, coordinator: Staff, *, resource_count: int = 300, need_count: int = 200
) -> dict[str, int]:
    """The demo units, `resource_count` resources spread over them and `need_count` needs (idempotent)."""
    seeded = seed_units(session, community_id, coordinator)
    have = session.scalar(select(func.count()).select_from(CobuildingResource)) or 0
    now = clock.now()
    codes = list(seeded.units)
    for n, (kind, title, description, label, capacity) in enumerate(generated_resources(resource_count)):
        if n < have:
            continue
        unit = seeded.units[codes[n % len(codes)]]
        start = now - timedelta(days=n % 10)
        resources.publish(session, coordinator, unit, kind=kind, title=title, description=description,
                          capacity=capacity, unit_label=label, available_from=start,
                          available_until=start + timedelta(days=90 + n % 120))  # fmt: skip
    posted = session.scalar(select(func.count()).select_from(CobuildingNeed)) or 0
    for n, (kind, title, description, who, beneficiaries) in enumerate(generated_needs(need_count)):
        if n < posted:
            continue
        needs.post(session, coordinator, kind=kind, title=title, description=description,
                   beneficiaries=beneficiaries, beneficiary_note=who,
                   wanted_by=(now + timedelta(days=14 + n % 60)).date())  # fmt: skip
    return {"member_units": len(seeded.units), "resources": resource_count, "needs": need_count}
