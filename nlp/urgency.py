"""Urgency detector: a danger happening now (fire, gas, someone trapped, hurt, fallen, a crime or fraud under way …).

It is a detector of its own, independent of the category: a blocked fire exit is serious and goes to fire safety,
but only danger happening now is an emergency. The decision is a readable linear score:

    score = bias + weight(danger signal) + weight(now-marker, if any) + the weights of the discounts found

taken over the danger signals of the message (the best one counts), urgent when the score is at least 0.
Danger signals and now-markers add, discounts (past, hypothetical, question, resolved, negated, topical,
habitual, an everyday nuisance) subtract. The weights are learned from `nlp/data/urgency_train.csv`
(`python -m nlp.urgency_train`) with a false negative costing far more than a false alarm, and shipped in
`nlp/data/urgency_weights.json`; the patterns below are the rules, and every decision names the signal, the
now-marker and the discounts that made it, for the staff who read it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import NamedTuple

# Punctuation that ends a clause; a clause is where negation and hypotheticals take effect.
_P = "，。！？,.!?；;\n 　"
_G = f"[^{_P}]"  # any character inside the clause


@dataclass(frozen=True, slots=True)
class Danger:
    """One kind of danger: its code, the reason shown to staff, and the patterns of its signals.

    Every signal pattern starts with a plain character (no group, class or lookaround first): the scanner that
    joins them all then skips in C every position whose character starts no signal, which keeps the detector
    cheap on the webhook's hot path (a first group or lookbehind makes the same scan a hundred times slower)."""

    code: str
    label: str
    signals: tuple[str, ...]

    @property
    def pattern(self) -> str:
        """The signals as one regular expression."""
        return "|".join(self.signals)


def _each(words: str, tail: str = "") -> tuple[str, ...]:
    """One signal per word, each followed by `tail`: "煤气 燃气" + "味" → ("煤气味", "燃气味")."""
    return tuple(w + tail for w in words.split())


_PERSON = (
    r"(?:人|老人|老太|老大爷|大爷|大妈|阿姨|阿婆|阿伯|奶奶|爷爷|小孩|孩子|小朋友|宝宝|女儿|儿子|"
    r"我妈|我爸|老伴|老公|老婆)"
)
_GAS = "煤气 煤汽 燃气 天然气 液化气 气罐"
_POWER_BOX = "电箱 电表箱 配电箱 配电柜 电闸 插座 插头 变压器 电线"
_MONEY = (
    r"(?:转账|转钱|转了|转走|转到|汇钱|汇款|打钱|取钱|交钱|交税|收"
    + _G
    + r"{0,4}钱|让我转|继续转|还在转|扣了|扣钱|银行|atm|营业厅)"
)

DANGERS: tuple[Danger, ...] = (
    Danger(
        "fire",
        "火情",
        (
            *_each("着(?<!打不着)火 着伙 起火 失火 火灾 烧起来 烧着 正在烧 还在烧 火苗 火光 明火 大火 火很大 火好大"),
            *_each(
                "火越来越大 冒火(?!花) 窜火 有火 火星子 救火 浓烟 黑烟 冒烟 冒大烟 全是烟 都是烟 好多烟 烟好大 烟很浓"
            ),
            *_each("烟(?<!油烟)很大 烟(?<!油烟)味 焦味 焦糊 爆炸 炸了 119"),
            "火" + _G + r"{0,4}(?:窜|烧到)",
        ),
    ),
    Danger(
        "gas",
        "燃气泄漏",
        (
            *_each(_GAS, _G + r"{0,6}(?:泄漏|泄露|漏|味|呲|嘶|喷|冒白气|断|破|裂)"),
            *_each("喷气 呲气 漏气 臭鸡蛋味"),
            "闻到" + _G + r"{0,4}(?:煤气|煤汽|燃气|天然气|液化气)",
        ),
    ),
    Danger(
        "trapped",
        "有人被困",
        (
            *_each("困人 被困(?!扰) 困在 困住 困着 困了 里关了 反锁 卡住了 出不来 出不去 拔不出来 下不去"),
            *_each("里头有 坏在半 掉下去一截"),
            "关在" + _G + r"{0,6}里",
            "锁在" + _G + r"{0,6}里",
            "卡在" + _G + r"{0,6}(?:电梯|电提|里|中间|半)",
            "电(?:梯|提)" + _G + r"{0,12}(?:里面有人|里有人|有人在里面)(?!" + _G + r"*(?:抽烟|吸烟|小便|尿|吐痰|乱))",
            "在" + _G + r"{0,2}里面",
            "门" + _G + r"{0,4}打不开",
            "停在" + _G + r"{0,3}中间",
            "掉了" + _G + r"{0,3}层",
        ),
    ),
    Danger(
        "injury",
        "有人受伤",
        (
            *_each("流血 出血 血流 血止不住 是血 头破 受伤 打伤 被砍 砍伤 被捅 被车撞 被撞 撞倒 烫伤 骨折"),
            "被" + _G + r"{0,3}(?:咬|撞|砸(?:到|伤|中)|砍|捅|打伤)",
            "撞到" + _PERSON,
            r"腿(?:好像|可能)?断",
            "从" + _G + r"{0,8}(?:楼|阳台|窗|脚手架|架子|滑梯)" + _G + r"{0,4}(?:掉|摔|坠)下",
        ),
    ),
    Danger(
        "fallen",
        "有人摔倒或昏迷",
        (
            *_each("摔倒 跌倒 摔了 摔下 倒在 倒地 倒下 晕倒 昏倒 晕过去 昏过去 晕了 晕在 昏迷 不省人事 叫不醒 没意识"),
            *_each("人不动了 一动不动 躺着不动 说不出话 突然倒了 抽搐 口吐白沫 站不起来 晕乎乎 头晕 起不来 动不了"),
            *_each("喊救命 没动静"),
            *_each("叫 喊 拍", _G + r"{0,4}(?:没反应|不答应|不应)"),
            "呼吸" + _G + r"{0,2}弱",
            "敲门" + _G + r"{0,2}(?:不应|没人应|没人开|没反应)",
            *_each("几 两 三", r"天没(?:出门|开门)"),
        ),
    ),
    Danger(
        "crime",
        "违法犯罪正在发生",
        (
            *_each("打架 打起来 打群架 斗殴 围殴 打人 殴打 持刀 拿刀 拿着刀 持械 棍子 砍人 捅人 行凶 抢劫 抢了 被抢"),
            *_each("撬 进贼 小偷 在偷 偷东西 剪锁 砸车 砸门 砸东西 家暴 打老婆 打孩子 打小孩 绑 尾随 骚扰女 要杀 杀人"),
            *_each("闹事 冲进"),
            "抢" + _G + r"{0,4}(?:包|手机|钱|东西)",
            "试" + _G + r"{0,4}锁",
            "踹" + _G + r"{0,2}门",
        ),
    ),
    Danger(
        "fraud",
        "诈骗正在进行",
        (
            *_each("骗 冒充 安全账户 陌生账户 中奖 屏幕共享 投资群 网友 自称 客服", r"[^。！？!?]{0,40}" + _MONEY),
            *_each("转账 转钱 汇钱 打钱 取钱", r"[^。！？!?]{0,20}(?:骗|冒充|安全账户|陌生账户)"),
            *_each("出车祸 出事了 住院 被抓 保证金", r"[^。！？!?]{0,30}(?:转钱|转账|汇钱|打钱|取钱|银行)"),
        ),
    ),
    Danger(
        "flood",
        "跑水淹水",
        (
            "水(?<!污水)管" + _G + r"{0,4}(?:爆|崩|裂|破)",
            "管(?:子)?" + _G + r"{0,2}(?:崩|爆|裂了)",
            *_each(
                "爆管 接头崩 进(?<!洗衣机进)水了 被淹 淹了 淹到 水漫 漫到 倒灌 灌水 冒水 喷水 到膝盖 全是水(?![坑渍])"
            ),
            *_each("水箱破 热水器爆 水还在流"),
            "水" + _G + r"{0,8}往" + _G + r"{0,6}(?:灌|流|淌)",
            "水" + _G + r"{0,4}(?:喷|哗哗|止不住|关不掉|还在涨|越来越多|越来越深|往下淌|往外流|往外喷)",
            "流(?:进|到)" + _G + r"{0,3}(?:电梯|电表|配电)",
            "配电" + _G + r"{0,4}(?:进水|水)",
            r"渗[^。！？!?]{0,12}越来越多",
        ),
    ),
    Danger(
        "electric",
        "触电或电线带电",
        (
            *_each("触电 被电到 被电了 电到了 漏电 带电 火花 打火 短路 高压线"),
            "电线" + _G + r"{0,6}(?:掉下|掉在|断了|掉了|垂在水)",
            "变压器" + _G + r"{0,6}(?:火|爆|响)",
            *_each(_POWER_BOX, _G + r"{0,6}(?:冒烟|冒火|着火|在烧|滋滋)"),
        ),
    ),
    Danger(
        "collapse",
        "坍塌坠落",
        _each("塌 坍 倒了 要倒 掉下来 往下掉 砸到 砸中 压到人 裂缝越来越大 快掉了 要掉了 在晃"),
    ),
    Danger(
        "missing",
        "有人走失",
        (
            *_each("走丢 走失 走散 不见了 找不到了 没回来 还没回 没回家 没有回来 到现在没回 失踪 联系不上"),
            "找不到" + _G + r"{0,2}(?:妈妈|爸爸|家长|大人|家人|孩子|家)",
            *_each("看到 看见", _G + r"{0,12}(?:小男孩|小女孩|孩子|小孩|老太太|老人|老大爷)"),
        ),
    ),
    Danger(
        "life",
        "轻生或落水",
        (*_each("跳楼 跳河 跳下 要跳 落水 溺水"), "掉进" + _G + r"{0,2}(?:河|水|井|湖|池)"),
    ),
    Danger("help", "呼救", _each("救命 救救 快来人 来人啊 help sos")),
)

# Signs that it is happening right now (anywhere in the message).
NOW = (
    r"现在|正在|还在|一直在|又|这次|刚刚|刚才|人在里面|里面有人|有人在里面|快来|快点|快叫|快打|快救|快报|快帮|赶紧|"
    r"赶快|马上|救命|救救|紧急|急[！!]|[！!]{2,}|越来越|打了(?:119|120|110)|报警了|叫不醒|在哭|在喊|在拍|不敢|"
    r"怎么办快|求|帮忙|从" + _G + r"{0,4}开始|😱|😭|🆘|‼"
)


@dataclass(frozen=True, slots=True)
class Discount:
    """A sign that the danger is not happening now; `scope` is where it counts: `before` the signal in its
    clause, `after` it in its clause, or anywhere in the `message`."""

    code: str
    label: str
    pattern: str
    scope: str
    dangers: tuple[str, ...] = ()  # the dangers it discounts; empty for all


DISCOUNTS: tuple[Discount, ...] = (
    Discount(
        "past",
        "过去的事",
        r"上次|上回|昨天|昨晚|前天|上周|上个?(?:星期|礼拜|月)|前几天|前段时间|去年|前年|之前|以前|曾经|那次|那天|当时|"
        r"小时候|\d+月份?的时候|[淹倒着进丢困摔掉]过",
        "message",
    ),
    Discount(
        "hypothetical",
        "假设或担心",
        r"(?:万一|如果|假如|假设|要是|一旦|哪天|迟早|会不会|怕|担心|害怕|以防|防止|预防|避免|以免|容易|小心|谨防|"
        r"防范|真要|真的?)" + _G + r"{0,8}$",
        "before",
    ),
    Discount(
        "question",
        "询问",
        r"请问|吗[？?]?$|吗[，,]|应该(?:怎么|打|先|找|做)|要不要|是不是|多久|哪里|哪个电话|什么电话|打什么|的话|怎么(?:逃生|处理|求救|找|"
        r"申请|报警|办理|安装|救)|[？?]$|谁负责|有没有(?:什么|免费|急救)",
        "message",
    ),
    Discount(
        "resolved",
        "已经解决",
        r"已经?(?:被"
        + _G
        + r"{0,4})?(?:扑灭|灭了|灭掉|救出|救下|醒了|送医|送到医院|接走|接回|扶起来|拉开|带走|处理好|修好|止住|退了|"
        r"抽干|复位|断电|拉了警戒)|已经关(?:了|好)|找到了|没事了|人没事|没大碍|没味道了|不流了|(?<!走)散了|平安|虚惊一场|误报|"
        r"自己回来了|醒过来了|拦下来了|没转出去|拦住了|(?<![跑飘冒])出来了|刚出来|"
        r"交给" + _G + r"{0,4}(?:妈妈|爸爸|家长|家属)",
        "message",
    ),
    Discount(
        "negated",
        "否定",
        r"(?:(?<!有)没有|(?<!有)没|不是|并没有|并非|未|无)(?:人|有人)?" + _G + r"{0,2}$",
        "before",
    ),
    Discount(
        "topic",
        "话题而非事件",
        r"^" + _G + r"{0,3}(?:隐患|风险|报警器|警报器|演练|演习|宣传|知识|讲座|培训|保险|检查|预防|事故|安全|应急|"
        r"逃生|手环|呼叫器|的视频|理赔|赔偿)(?!账户)",
        "after",
    ),
    Discount(
        "elsewhere",
        "别处的新闻",
        r"新闻|电视上|网上|朋友圈|的视频|视频里|别的小区|隔壁区|防诈|反诈|防火|防汛|防走失|防跌倒",
        "message",
    ),
    Discount(
        "habitual",
        "长期问题",
        r"天天|每天|经常|老是|总是|常年|长期|好几个月|好几年|一到|每次|每周|每年",
        "message",
    ),
    Discount(
        "animal",
        "动物",
        r"流浪猫|流浪狗|小狗|小猫|猫咪|宠物|它",
        "message",
    ),
    Discount(
        "near_miss",
        "险情未发生",
        r"差点|险些|差一点|容易(?:受伤|摔|着火|出事)",
        "message",
    ),
    Discount(
        "nuisance",
        "日常诉求",
        r"广场舞|噪音|装修声|太吵|吵死|垃圾(?!站|房|桶)|车位|停车(?!场)|物业费|(?<!杆)路灯(?!杆)|证明|维修师傅|电梯"
        + _G
        + r"{0,4}修好|社保",
        "message",
        ("help",),
    ),
)


class Signal(NamedTuple):
    """One danger signal found in a message, with what counted for and against it."""

    danger: str  # Danger.code
    text: str  # the words that matched
    discounts: tuple[tuple[str, str], ...]  # (Discount.code, the words that matched)
    score: float


class Urgency(NamedTuple):
    """The urgency decision of one message and its explanation."""

    urgent: bool
    score: float  # of the best signal; -inf when no danger signal was found
    signal: Signal | None  # the best danger signal
    now: str  # the now-marker found ("" when none)
    signals: tuple[Signal, ...]  # every danger signal, in text order

    @property
    def reasons(self) -> tuple[str, ...]:
        """What staff see for an urgent message: the danger kinds, then the words that decided it."""
        if not self.urgent or self.signal is None:
            return ()
        labels = _LABELS
        kinds = [labels[self.signal.danger]]
        kinds += [labels[s.danger] for s in self.signals if s.score >= 0 and labels[s.danger] not in kinds]
        evidence = [f"原文“{self.signal.text}”"]
        if self.now:
            evidence.append(f"正在发生“{self.now}”")
        evidence += [f"{_DISCOUNT_LABELS[code]}“{words}”(已扣分)" for code, words in self.signal.discounts]
        return (*kinds, *evidence)

    def explain(self) -> str:
        """One line for staff: every danger signal with its discounts and score, and the verdict."""
        if not self.signals:
            return "not urgent: no danger signal"
        parts = []
        for s in self.signals:
            minus = "".join(f" −{_DISCOUNT_LABELS[c]}“{w}”" for c, w in s.discounts)
            parts.append(f"{_LABELS[s.danger]}“{s.text}”{minus} ({s.score:+.1f})")
        now = f" +正在发生“{self.now}”" if self.now else ""
        return ("URGENT" if self.urgent else "not urgent") + ": " + "; ".join(parts) + now


_LABELS = {d.code: d.label for d in DANGERS}
_DISCOUNT_LABELS = {d.code: d.label for d in DISCOUNTS}
# One scan answers "no danger" for almost every message: every signal of every kind in one flat alternation
# (no groups around them: a group per kind would make the scan a hundred times slower). Only a message that
# has a signal is searched kind by kind.
SCANNER = re.compile("|".join(d.pattern for d in DANGERS))
_BY_DANGER = tuple((d.code, re.compile(d.pattern)) for d in DANGERS)
_NOW = re.compile(NOW)
_MESSAGE_DISCOUNTS = tuple((d.code, re.compile(d.pattern)) for d in DISCOUNTS if d.scope == "message")
_BEFORE_DISCOUNTS = tuple((d.code, re.compile(d.pattern)) for d in DISCOUNTS if d.scope == "before")
_AFTER_DISCOUNTS = tuple((d.code, re.compile(d.pattern)) for d in DISCOUNTS if d.scope == "after")
_CLAUSE_END = re.compile(f"[{_P}]")
_ONLY_FOR = {d.code: frozenset(d.dangers) for d in DISCOUNTS if d.dangers}  # discounts of some dangers only
_NO_SIGNAL = float("-inf")


@dataclass(frozen=True, slots=True)
class Weights:
    """The learned weights of the score (see the module docstring)."""

    bias: float
    danger: dict[str, float]
    now: float
    discount: dict[str, float]

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Weights:
        """Weights from their JSON form; a danger or discount the file does not name weighs 0."""
        danger = {d.code: 0.0 for d in DANGERS} | {k: float(v) for k, v in dict(data["danger"]).items()}  # type: ignore[call-overload]
        discount = {d.code: 0.0 for d in DISCOUNTS} | {k: float(v) for k, v in dict(data["discount"]).items()}  # type: ignore[call-overload]
        return cls(float(data["bias"]), danger, float(data["now"]), discount)  # type: ignore[arg-type]

    def to_json(self) -> dict[str, object]:
        """JSON-ready form, rounded."""
        return {
            "bias": round(self.bias, 3),
            "now": round(self.now, 3),
            "danger": {k: round(v, 3) for k, v in self.danger.items()},
            "discount": {k: round(v, 3) for k, v in self.discount.items()},
        }


def default_weights() -> Weights:
    """The shipped weights, learned from `nlp/data/urgency_train.csv`."""
    text = resources.files("nlp").joinpath("data/urgency_weights.json").read_text(encoding="utf-8")
    return Weights.from_json(json.loads(text))


def find_signals(text: str) -> tuple[list[tuple[str, str, list[tuple[str, str]]]], str]:
    """The danger signals of a normalised message, each (danger, words, discounts), and its now-marker."""
    found: list[tuple[str, str, list[tuple[str, str]]]] = []
    if not SCANNER.search(text):
        return found, ""
    message_discounts = [(code, hit.group()) for code, p in _MESSAGE_DISCOUNTS if (hit := p.search(text))]
    matches = sorted((m.start(), code, m) for code, p in _BY_DANGER for m in p.finditer(text))
    for _, danger, m in matches:
        start, end = m.span()
        left = max((c.end() for c in _CLAUSE_END.finditer(text, 0, start)), default=0)
        right_match = _CLAUSE_END.search(text, end)
        right = right_match.start() if right_match else len(text)
        discounts = list(message_discounts)
        before, after = text[left:start], text[end:right]
        discounts += [(code, hit.group()) for code, p in _BEFORE_DISCOUNTS if (hit := p.search(before))]
        discounts += [(code, hit.group()) for code, p in _AFTER_DISCOUNTS if (hit := p.search(after))]
        if _ONLY_FOR:
            discounts = [(c, w) for c, w in discounts if c not in _ONLY_FOR or danger in _ONLY_FOR[c]]
        found.append((danger, m.group(), discounts))
    now = _NOW.search(text)
    return found, now.group() if now else ""


def assess(text: str, weights: Weights | None = None) -> Urgency:
    """The urgency decision for a normalised message (see `nlp.tokenize.normalize`)."""
    w = weights or _weights()
    found, now = find_signals(text)
    if not found:
        return Urgency(False, _NO_SIGNAL, None, "", ())
    base = w.bias + (w.now if now else 0.0)
    signals = tuple(
        Signal(danger, words, tuple(discounts), base + w.danger[danger] + sum(w.discount[c] for c, _ in discounts))
        for danger, words, discounts in found
    )
    best = max(signals, key=lambda s: s.score)
    return Urgency(best.score >= 0, best.score, best, now, signals)


def urgency_reasons(text: str) -> tuple[str, ...]:
    """Reasons why a message describes an emergency happening now (empty tuple when it does not)."""
    return assess(text).reasons


_default_weights: Weights | None = None


def _weights() -> Weights:
    global _default_weights
    if _default_weights is None:
        _default_weights = default_weights()
    return _default_weights
