"""Urgency rules: emergencies happening now are urgent whatever the category; negated or past ones are not."""

from __future__ import annotations

import pytest

from nlp import classifier
from nlp.urgency import urgency_reasons


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("3号楼有户人家窗户在冒黑烟，好像着火了", "火情"),
        ("楼道里一股很浓的煤气味", "燃气泄漏"),
        ("电梯困人了，快来人", "有人被困"),
        ("小区门口有人正在打架", "暴力或犯罪正在发生"),
        ("有人持刀在广场上追人", "暴力或犯罪正在发生"),
        ("家里进水了，水漫到客厅", "家中进水"),
        ("楼下有个老人摔倒了起不来", "有人摔倒或晕倒"),
        ("上周有人打架，现在又打起来了", "暴力或犯罪正在发生"),
    ],
)
def test_emergencies_are_urgent(text: str, reason: str) -> None:
    assert reason in urgency_reasons(text)


@pytest.mark.parametrize(
    "text",
    [
        "没有着火，只是邻居在烧菜",
        "不是着火，是有人在楼下烧纸",
        "昨天5栋着火了，已经扑灭",
        "电梯困人，已经救出来了",
        "小区有火灾隐患，消防通道被堵",
        "火灾报警器一直响",
        "昨天有人在门口打架",
        "防止燃气泄漏的宣传",
        "洗衣机进水很慢",
        "电梯广告太吵",
    ],
)
def test_negated_past_or_topical_mentions_are_not_emergencies(text: str) -> None:
    assert urgency_reasons(text) == ()


def test_emergency_is_urgent_whatever_the_category(clf: classifier.Classifier) -> None:
    d = clf.classify("电梯困人了，里面有个老人，快来")
    assert d.category == "property"
    assert d.urgent
    assert "有人被困" in d.urgency_reasons


def test_fire_safety_is_urgent_by_default_with_an_explicit_reason(clf: classifier.Classifier) -> None:
    d = clf.classify("消防通道被私家车堵死了")
    assert d.category == "fire_safety"
    assert d.urgent
    assert d.urgency_reasons == ("消防安全类默认紧急",)


def test_ordinary_appeal_is_not_urgent(clf: classifier.Classifier) -> None:
    d = clf.classify("垃圾桶满了没人清运")
    assert not d.urgent
    assert d.urgency_reasons == ()
