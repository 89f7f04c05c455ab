"""The urgency detector: danger happening now is urgent whatever the category; hazards, past, hypothetical,
resolved, negated and topical mentions are not; no category is urgent by default."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nlp import classifier, tokenize, urgency_train
from nlp.classifier import Classifier
from nlp.model import KeywordModel, load_default
from nlp.urgency import DANGERS, SCANNER, assess, urgency_reasons


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("3号楼有户人家窗户在冒黑烟，好像着火了", "火情"),
        ("电动车在电梯里烧起来了，轿厢里全是烟", "火情"),
        ("楼到里一股煤汽味，越来越浓", "燃气泄漏"),  # pinyin-input typos: 楼到, 煤汽
        ("电梯困人了，快来人", "有人被困"),
        ("电梯停在两层中间，我们三个在里面，按铃没人理", "有人被困"),
        ("小区门口有人正在打架", "违法犯罪正在发生"),
        ("快报按！有个男的拿着刀在追人", "违法犯罪正在发生"),  # 报按 for 报案
        ("我妈现在正在给冒充公安的骗子转账，拦不住", "诈骗正在进行"),
        ("家里水管爆了，水漫到客厅", "跑水淹水"),
        ("配电房进水了，水还在涨", "跑水淹水"),
        ("楼下有个老人摔倒了起不来", "有人摔倒或昏迷"),
        ("对门阿婆三天没开门了，敲门没人应，会不会出事", "有人摔倒或昏迷"),
        ("路边电线掉下来了还在冒火花，有小孩在旁边", "触电或电线带电"),
        ("外墙瓷砖一大片掉下来了，还在往下掉", "坍塌坠落"),
        ("孩子不见了！刚刚还在滑梯那里，穿黄衣服", "有人走失"),
        ("上周有人打架，现在又打起来了", "违法犯罪正在发生"),  # past, but a now-marker says it is back
        ("着火咯！！2号楼嘞🔥", "火情"),  # dialect particles, emoji
        ("救命！！！", "呼救"),
    ],
)
def test_emergencies_are_urgent(text: str, reason: str) -> None:
    decision = assess(tokenize.normalize(text))
    assert decision.urgent, decision.explain()
    assert reason in urgency_reasons(tokenize.normalize(text))


def test_a_long_calm_message_can_still_be_an_emergency() -> None:
    text = (
        "您好，打扰一下，我是5号楼1单元的住户。刚才下楼的时候发现3楼楼道里有很重的煤气味，敲了301的门没人应答，"
        "燃气公司说要40分钟才能到，能不能麻烦物业先派个人过来看看，谢谢"
    )
    assert "燃气泄漏" in urgency_reasons(text)


@pytest.mark.parametrize(
    "text",
    [
        "消防通道被私家车堵死了，万一有事消防车进不来",  # a fire hazard: serious, not an emergency
        "楼道里的灭火器都过期了",
        "有人在楼道里飞线充电，太危险了",
        "没有着火，只是邻居在烧菜",
        "不是着火，是有人在楼下烧纸",
        "昨天5栋着火了，已经扑灭",
        "上次电梯困人，维保一个小时才到",
        "电梯困人，已经救出来了",
        "万一着火了，高层的老人怎么下楼",
        "真着火了，这么多杂物谁也跑不出去",
        "燃气泄漏应该打什么电话？",
        "要不要在车库门口放防汛沙袋",
        "小区有火灾隐患，消防通道被堵",
        "火灾报警器一直响",
        "下周组织消防演练，请大家参加",
        "新闻里说别的小区电动车起火烧死了人，好可怕",
        "昨天有人在门口打架",
        "防止燃气泄漏的宣传",
        "洗衣机进水很慢",
        "电梯广告太吵",
        "救命，楼下广场舞又开始了，天天这样",
        "燃气灶打不着火",
    ],
)
def test_hazards_and_past_hypothetical_resolved_or_topical_mentions_are_not_urgent(text: str) -> None:
    decision = assess(tokenize.normalize(text))
    assert not decision.urgent, decision.explain()
    assert urgency_reasons(text) == ()


def test_a_blocked_fire_exit_goes_to_fire_safety_but_is_not_urgent(clf: classifier.Classifier) -> None:
    d = clf.classify("消防通道被私家车堵死了")
    assert d.category == "fire_safety"
    assert not d.urgent
    assert d.urgency_reasons == ()


def test_emergency_is_urgent_whatever_the_category(clf: classifier.Classifier) -> None:
    d = clf.classify("电梯困人了，里面有个老人，快来")
    assert d.category == "property"
    assert d.urgent
    assert "有人被困" in d.urgency_reasons


def test_the_decision_names_the_signal_the_now_marker_and_the_discounts(clf: classifier.Classifier) -> None:
    urgent = clf.classify("楼下垃圾房烧起来了，现在火越来越大")
    assert urgent.urgency_reasons[0] == "火情"
    assert "原文“烧起来”" in urgent.urgency_reasons
    assert "正在发生“现在”" in urgent.urgency_reasons
    assert urgent.as_dict()["urgency_score"] > 0

    past = clf.classify("上次楼下垃圾房烧起来了，到现在没人管")
    assert not past.urgent
    assert "过去的事“上次”" in past.urgency.explain()
    assert past.urgency.signal is not None
    assert past.urgency.signal.discounts[0] == ("past", "上次")


def test_an_old_model_file_marking_a_category_urgent_by_default_loads_and_the_mark_is_ignored(
    tmp_path: Path,
) -> None:
    data = load_default().to_json()
    data["categories"]["fire_safety"]["urgent_by_default"] = True  # as files written before this release
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    clf = Classifier.from_file(path)
    d = clf.classify("消防通道被私家车堵死了")
    assert d.category == "fire_safety"
    assert not d.urgent
    resaved = tmp_path / "resaved.json"
    KeywordModel.load(path).save(resaved)
    assert "urgent_by_default" not in resaved.read_text(encoding="utf-8")


def test_ordinary_appeal_is_not_urgent(clf: classifier.Classifier) -> None:
    d = clf.classify("垃圾桶满了没人清运")
    assert not d.urgent
    assert d.urgency_reasons == ()
    assert d.as_dict()["urgency_score"] is None


def test_the_shipped_weights_are_those_learned_from_the_training_set() -> None:
    assert urgency_train.main(["--check"]) == 0


def test_the_test_set_is_large_and_covers_every_danger_and_hard_negative_kind() -> None:
    test = urgency_train.shipped_set("urgency_test")
    train = urgency_train.shipped_set("urgency_train")
    assert len(test) >= 600
    assert sum(e.urgent for e in test) >= 150
    assert not {e.text for e in test} & {e.text for e in train}  # written separately
    danger_kinds = {e.kind for e in test if e.urgent}
    assert danger_kinds >= {d.code for d in DANGERS} - {"life", "help"}
    negative_kinds = {e.kind for e in test if not e.urgent}
    for kind in ("fire_hazard", "past", "hypothetical", "question", "resolved", "negated", "topic"):
        assert kind in negative_kinds


def test_recall_and_precision_on_the_test_set_meet_the_targets() -> None:
    report = urgency_train.score(urgency_train.shipped_set("urgency_test"))
    assert report.recall >= 0.97, report.missed
    assert report.precision >= 0.6, report.false_alarms


def test_every_signal_starts_with_a_plain_character_so_the_scanner_stays_cheap() -> None:
    # A first group, class, escape or lookaround stops the regex engine from skipping positions on the first
    # character, which makes the one scan every message pays for about a hundred times slower.
    for danger in DANGERS:
        for signal in danger.signals:
            assert signal[0] not in "([\\.^$*+?{|", (danger.code, signal)


def test_a_message_without_any_danger_signal_is_answered_by_the_scanner_alone() -> None:
    ordinary = tokenize.normalize("小区门口的路灯坏了一个月了，希望尽快修一下")
    assert SCANNER.search(ordinary) is None
    assert assess(ordinary).signals == ()
