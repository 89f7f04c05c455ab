"""Rules that flag life-and-property emergencies as urgent, whatever the category, with negation handling."""

from __future__ import annotations

import re

_HOME = r"(?:家里|家中|屋里|屋内|房间|室内|客厅|卧室|厨房|卫生间|一楼|地下室|车库|我家|他家|楼里)"
_PERSON = r"(?:老人|老太|老太太|老奶奶|老爷爷|老伯|阿婆|阿公|大爷|大妈|爷爷|奶奶|孤老|有人|一个人|邻居|小孩|孩子)"

# reason -> trigger patterns. A trigger describes a situation that is happening to someone right now.
RULES: dict[str, tuple[str, ...]] = {
    "火情": (r"着火|起火|失火|火灾|冒烟|冒黑烟|浓烟|烧起来|烧着了|火苗|明火|火光|大火|烧焦味|焦糊味",),
    "燃气泄漏": (
        r"(?:煤气|燃气|天然气|液化气|煤气罐)[^，。！？,.!?；;]{0,4}(?:泄漏|泄露|漏了|漏气|味)",
        r"闻到[^，。！？,.!?；;]{0,4}(?:煤气|燃气|天然气|液化气)",
    ),
    "有人被困": (r"困人|被困|困在|关在电梯|卡在电梯|电梯里出不来|关在里面",),
    "暴力或犯罪正在发生": (
        r"打架|打起来|斗殴|打人|殴打|持刀|拿刀|拿着刀|动刀|砍人|捅人|行凶|抢劫|抢包|撬门|撬锁|入室|家暴|砸门|绑架",
    ),
    "家中进水": (
        _HOME + r"[^，。！？,.!?；;]{0,4}(?:进水|淹了|被淹|水漫|漫水|积水很深)",
        r"水漫金山|漫进|倒灌进|水管爆|爆管|水管爆裂|水管破裂",
    ),
    "有人摔倒或晕倒": (
        _PERSON + r"[^，。！？,.!?；;]{0,6}(?:摔倒|跌倒|摔了一跤|倒在地|倒地|晕倒|昏倒|起不来|不省人事|昏迷)",
        r"晕倒|昏倒|不省人事|昏迷不醒",
    ),
    "触电": (r"触电|被电到|电线掉下来|电线掉在",),
}

# Words just before a trigger that mean it is not happening: negation, prevention, worry, hypotheticals.
_NEGATED_BEFORE = re.compile(
    r"(?:没有|没|不是|不会|并非|并没有|未|无|别|不要|防止|预防|避免|以防|担心|害怕|怕|万一|容易|可能|会不会|"
    r"如果|假如|一旦|小心|谨防|防范|以免|免得|杜绝)[^，。！？,.!?；;]{0,3}$"
)
# Words just after a trigger that turn it into a topic rather than an event ("火灾隐患", "火灾报警器").
_TOPIC_AFTER = re.compile(
    r"^[^，。！？,.!?；;]{0,2}(?:隐患|风险|报警器|警报器|报警|演练|宣传|知识|保险|检查|预防|事故的)"
)
# A resolution or a past time with no sign that it is still going on downgrades a trigger; an ongoing
# marker anywhere wins, so we only downgrade what is clearly over.
_RESOLVED = re.compile(
    r"已经?(?:被)?(?:扑灭|灭了|救出|救下|修好|处理|解决|没事|送医|送到医院|关掉|关闭|报警了|报过警|离开|散了)|"
    r"灭掉了|救出来了|没事了|平安|虚惊一场"
)
_PAST = re.compile(r"昨天|昨晚|前天|上周|上星期|上个月|前几天|前段时间|去年|之前|以前|上次|那天|当时|曾经")
_ONGOING = re.compile(r"现在|还在|正在|仍然|仍在|一直|至今|到现在|马上|赶紧|快来|救命|快点|紧急|赶快|又")
_CLAUSE_END = re.compile(r"[，。！？,.!?；;\n]")

_COMPILED: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (reason, re.compile("|".join(f"(?:{p})" for p in patterns))) for reason, patterns in RULES.items()
)
# One pass over the text answers "no emergency" for almost every message. Every trigger contains one of these
# characters, and a set test is ten times cheaper than any regex, so most messages stop there.
_TRIGGER_CHARS = frozenset("火烟焦煤燃气困关卡出打斗殴刀砍捅凶抢撬入暴砸绑进淹漫水管爆破倒摔跌晕昏迷电")


def _anchor(pattern: str) -> str:
    """The part of a trigger pattern that every match must contain: what follows its last gap such as
    `[^，。]{0,4}` (the event words after a place or a person), or the whole pattern when it has none."""
    gap = re.search(r"\]\{\d+,\d+\}(.*)$", pattern)
    return gap.group(1) if gap else pattern


# The second check, for the messages that pass the first: an alternation of the anchors alone, which is about
# twice as fast as the full patterns because it skips their place and person prefixes (家里, 老人, ...).
_ANCHORS = re.compile("|".join(f"(?:{_anchor(p)})" for patterns in RULES.values() for p in patterns))


def _clause_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """Start and end of the clause (between punctuation) that holds text[start:end]."""
    left = max((m.end() for m in _CLAUSE_END.finditer(text, 0, start)), default=0)
    right_match = _CLAUSE_END.search(text, end)
    return left, right_match.start() if right_match else len(text)


def _active(text: str, match: re.Match[str]) -> bool:
    """True unless the trigger is negated, only a topic, resolved, or clearly in the past."""
    left, right = _clause_bounds(text, match.start(), match.end())
    if _NEGATED_BEFORE.search(text[left : match.start()]):
        return False
    if _TOPIC_AFTER.search(text[match.end() : right]):
        return False
    # The resolution may come in the clause itself or the next one: "电梯困人，已经救出来了".
    next_end = _CLAUSE_END.search(text, right + 1)
    after = text[match.end() : next_end.start() if next_end else len(text)]
    if _RESOLVED.search(after):
        return False
    return not (_PAST.search(text[left:right]) and not _ONGOING.search(text))


def urgency_reasons(text: str) -> tuple[str, ...]:
    """Reasons why a message describes an emergency happening now (empty tuple when it does not)."""
    if _TRIGGER_CHARS.isdisjoint(text) or not _ANCHORS.search(text):
        return ()
    reasons = []
    for reason, pattern in _COMPILED:
        if any(_active(text, m) for m in pattern.finditer(text)):
            reasons.append(reason)
    return tuple(reasons)
