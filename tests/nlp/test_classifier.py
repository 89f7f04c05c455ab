"""Known-answer tests of the shipped community model on messages written for these tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nlp import classifier
from nlp.model import load_default
from nlp.taxonomy import CODES

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("楼道里有人飞线充电，太危险了", "fire_safety"),
        ("3号楼电梯又坏了，停在半空不动", "property"),
        ("垃圾桶满了三天没人清运，臭得不行", "sanitation"),
        ("小区门口的路灯坏了一个月了", "municipal"),
        ("后门有流动摊贩占道经营", "city_order"),
        ("外面的车占了我们的停车位，打电话也不挪", "traffic_parking"),
        ("有人冒充民警打电话让我转账", "public_security"),
        ("楼上装修电钻声从早响到晚", "noise"),
        ("邻居家的狗天天叫，遛狗还不牵绳", "neighbor"),
        ("八十岁老人的高龄补贴怎么领", "social_welfare"),
        ("社区医院什么时候能打疫苗", "health"),
        ("孩子明年上小学，对口哪个学校", "education_culture"),
        ("身份证丢了去哪里补办", "consult"),
    ],
)
def test_plain_messages(clf: classifier.Classifier, text: str, category: str) -> None:
    assert clf.classify(text).category == category


@pytest.mark.parametrize(
    ("text", "category"),
    [
        # A service question belongs to that service; paperwork belongs to consult.
        ("低保怎么申请", "social_welfare"),
        ("居住证在哪里办", "consult"),
        # Misleading keywords: the lift is only where the noise is; the property company is only quoted.
        ("电梯广告太吵", "noise"),
        ("物业说消防通道不归他们管", "fire_safety"),
        # Typos and homophones: 电悌 for 电梯, 路等 for 路灯; the rest of the message still decides.
        ("电悌坏了，老人上不了楼，物业也不来修", "property"),
        ("小区门口的路等不亮，晚上一片黑", "municipal"),
    ],
)
def test_hard_messages(clf: classifier.Classifier, text: str, category: str) -> None:
    assert clf.classify(text).category == category


def test_two_topics_keeps_both_in_the_scores(clf: classifier.Classifier) -> None:
    d = clf.classify("楼上漏水到我家天花板，他们家的狗还天天叫")
    assert d.category == "neighbor"
    ranked = sorted(d.scores, key=d.scores.__getitem__, reverse=True)
    assert ranked[0] == "neighbor"
    assert d.scores["neighbor"] > d.scores["noise"] > min(d.scores.values())


@pytest.mark.parametrize("text", ["你好", "谢谢", "在吗", "", "？？？"])
def test_short_and_empty_messages_go_to_triage(clf: classifier.Classifier, text: str) -> None:
    d = clf.classify(text)
    assert d.category == "other"
    assert d.needs_triage
    assert not d.urgent


def test_decision_fields(clf: classifier.Classifier) -> None:
    d = clf.classify("楼道里有人飞线充电，太危险了")
    with pytest.raises(AttributeError):
        d.category = "noise"  # type: ignore[misc]
    # The repr names the decision without dumping the model's keyword table.
    assert repr(d).startswith("Decision(category='fire_safety'")
    assert len(repr(d)) < 400
    assert d.label == "消防安全"
    assert 0.0 <= d.confidence <= 1.0
    assert set(d.scores) == set(CODES)
    assert max(d.scores, key=d.scores.__getitem__) == "fire_safety"
    # The phrase the resident wrote is among the strongest reasons (its n-gram *充电* may tie with it).
    assert "飞线充电" in [kw for kw, _ in d.keywords[:3]]
    weights = [abs(w) for _, w in d.keywords]
    assert weights == sorted(weights, reverse=True)
    assert d.explain().startswith("消防安全 because ")
    assert "飞线充电 (+" in d.explain()
    assert d.model_version == clf.version == load_default().version
    assert not d.is_consultation
    assert json.loads(json.dumps(d.as_dict(), ensure_ascii=False))["category"] == "fire_safety"


def test_score_is_bias_plus_sum_of_keyword_weights(clf: classifier.Classifier) -> None:
    d = clf.classify("小区门口有人摆摊卖烧烤，油烟很大")
    bias = clf.model.categories[d.category].bias
    assert d.scores[d.category] == pytest.approx(bias + sum(w for _, w in d.keywords), abs=1e-2)


def test_consultation_and_triage_flags(clf: classifier.Classifier) -> None:
    d = clf.classify("社区服务中心几点上班，周六开门吗")
    assert d.category == "consult"
    assert d.is_consultation
    assert not d.needs_triage


def test_low_confidence_goes_to_triage(tmp_path: Path) -> None:
    data = json.loads((REPO / "nlp" / "data" / "community_model.json").read_text(encoding="utf-8"))
    data["threshold"] = 0.999
    path = tmp_path / "strict.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    d = classifier.Classifier.from_file(path).classify("电梯广告太吵")
    assert d.category == "noise"
    assert d.needs_triage


def test_curated_phrase_matches_even_when_jieba_splits_it(tmp_path: Path) -> None:
    model = {
        "version": "tiny",
        "labels": ["a", "b"],
        "categories": {
            "a": {"label": "甲", "bias": 0, "curated": {"电瓶车进楼": 2.0}},
            "b": {"label": "乙", "bias": 0.5, "keywords": {"电瓶车": 1.0}},
        },
    }
    path = tmp_path / "m.json"
    path.write_text(json.dumps(model, ensure_ascii=False), encoding="utf-8")
    d = classifier.Classifier.from_file(path).classify("又有人把电瓶车进楼了")
    assert d.category == "a"
    assert d.keywords == (("电瓶车进楼", 2.0),)
    assert d.model_version == "tiny"


def test_default_classifier_is_a_singleton() -> None:
    classifier.warm()
    assert classifier.default_classifier() is classifier.default_classifier()


def test_import_nlp_pulls_in_no_web_or_database_package() -> None:
    code = (
        "import sys; import nlp, nlp.classifier, nlp.train, nlp.evaluate; "
        "nlp.classifier.default_classifier().classify('电梯坏了'); "
        "bad = [m for m in ('flask', 'sqlalchemy', 'redis', 'rq', 'sklearn', 'models', 'bot') "
        "if m in sys.modules]; "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_a_guessed_fire_safety_category_is_not_urgent_by_default(clf):
    broken_light = clf.classify("3幢楼道的灯坏了")
    assert broken_light.category == "property"
    assert not broken_light.urgent
    fire = clf.classify("楼道里着火了，好多烟")
    assert fire.urgent  # explicit danger is urgent through the rules, whatever the category's confidence


def test_unsure_decision_suggests_the_two_likeliest_categories(clf: classifier.Classifier) -> None:
    d = clf.classify("门口有人摆摊，垃圾扔了一地")
    assert d.needs_triage
    assert d.confidence < clf.model.threshold
    codes = [code for code, _, _ in d.suggestions]
    assert sorted(codes) == ["city_order", "sanitation"]
    assert codes[0] == d.category
    shares = [share for _, _, share in d.suggestions]
    assert shares[0] == pytest.approx(d.confidence)
    assert shares[0] >= shares[1] > 0
    assert d.as_dict()["suggestions"] == [[c, lab, round(s, 4)] for c, lab, s in d.suggestions]


def test_greeting_has_no_suggestion_and_other_is_never_suggested(clf: classifier.Classifier) -> None:
    assert clf.classify("你好").suggestions == ()
    for text in ("谢谢你们", "帮我看看这个事", "楼道里有东西"):
        assert "other" not in [code for code, _, _ in clf.classify(text).suggestions]
