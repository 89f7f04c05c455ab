"""Character n-gram keywords ("*ab*"): matched inside tokens, counted per occurrence, explained, trained alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.nlp_commands import nlp_group
from nlp import tokenize, train
from nlp.classifier import Classifier
from nlp.model import FORMAT, KeywordModel

TINY = """text,label
楼道里有人飞线充电,fire
电动车在楼道充电,fire
电瓶车推进电梯充电,fire
充电器插在门口一整夜,fire
车库有人私拉电线充电,fire
有人在楼里给电瓶车充电,fire
垃圾桶满了没人清运,waste
门口的垃圾很臭,waste
垃圾又堆起来了,waste
垃圾车一直不来,waste
楼下垃圾乱扔,waste
垃圾分类没人管,waste
"""


def _model(tmp_path: Path, categories: dict) -> Classifier:
    path = tmp_path / "m.json"
    data = {"format": FORMAT, "version": "ng", "labels": list(categories), "categories": categories}
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return Classifier.from_file(path)


def test_token_features() -> None:
    assert tokenize.token_features("飞线充电", (2,)) == ["飞线充电", "*飞线*", "*线充*", "*充电*"]
    assert tokenize.features(["电梯", "坏"], (2,)) == ["电梯", "*电梯*", "坏", "电梯 坏"]
    assert tokenize.features(["电梯", "坏"]) == ["电梯", "坏", "电梯 坏"]
    assert tokenize.is_ngram("*充电*")
    assert not tokenize.is_ngram("充电")
    assert not tokenize.is_ngram("*")


def test_ngram_matches_inside_a_token_and_is_explained(tmp_path: Path) -> None:
    clf = _model(
        tmp_path,
        {
            "fire": {"label": "消防", "keywords": {"*充电*": 1.5}},
            "waste": {"label": "垃圾", "bias": 0.2, "keywords": {"垃圾": 1.0}},
        },
    )
    d = clf.classify("楼道里有人飞线充电")
    assert d.category == "fire"
    assert d.keywords == (("*充电*", 1.5),)
    assert d.explain() == "消防 because *充电* (+1.5)"
    assert d.scores == {"fire": pytest.approx(1.5), "waste": pytest.approx(0.2)}


def test_every_occurrence_of_a_learned_keyword_counts(tmp_path: Path) -> None:
    # 充电 appears as a word twice and inside 充电桩 and 飞线充电: the n-gram *充电* counts four times, the
    # word twice, the phrase once; the explanation shows each keyword's whole contribution.
    clf = _model(
        tmp_path,
        {
            "fire": {"label": "消防", "keywords": {"*充电*": 1.0, "充电": 0.5, "充电 充电桩": 0.25}},
            "waste": {"label": "垃圾", "keywords": {"*充电*": -0.5}},
        },
    )
    d = clf.classify("充电 充电桩 飞线充电 充电")
    assert d.scores["fire"] == pytest.approx(4 * 1.0 + 2 * 0.5 + 0.25)
    assert d.scores["waste"] == pytest.approx(4 * -0.5)
    assert sorted(d.keywords) == [("*充电*", 4.0), ("充电", 1.0), ("充电 充电桩", 0.25)]


def test_a_curated_keyword_counts_once_however_often_it_occurs(tmp_path: Path) -> None:
    clf = _model(
        tmp_path,
        {
            "fire": {"label": "消防", "curated": {"飞线": 2.0}, "keywords": {"飞线": 0.5}},
            "waste": {"label": "垃圾", "keywords": {"垃圾": 1.0}},
        },
    )
    d = clf.classify("飞线 飞线 飞线")
    assert d.scores["fire"] == pytest.approx(2.0 + 3 * 0.5)
    assert d.keywords == (("飞线", 3.5),)


def test_runtime_scores_equal_the_training_features(tmp_path: Path) -> None:
    """The classifier finds exactly the features the trainer learned from: score = bias + sum over every
    occurrence of tokenize.features(tokens, ngrams) present in the table, for every category."""
    path = tmp_path / "tiny.csv"
    path.write_text(TINY, encoding="utf-8")
    examples = train.read_csv(path)
    model = train.fit(examples, c=1.0, prune=0.0, ngrams=(2,))
    assert model.meta["ngrams"] == [2]
    assert any(tokenize.is_ngram(k) for k in model.categories["fire"].keywords)
    clf = Classifier(model)
    repeats = "充电桩旁边的垃圾没人收，垃圾车也不来，垃圾垃圾"
    repeated = tokenize.features(tokenize.tokens(repeats), (2,))
    assert len(repeated) > len(set(repeated))  # some keywords occur more than once
    for text in [e.text for e in examples] + [repeats, "你好"]:
        feats = tokenize.features(tokenize.tokens(text), (2,))
        d = clf.classify(text)
        for code, cat in model.categories.items():
            expected = cat.bias + sum(cat.keywords.get(f, 0.0) for f in feats)
            assert d.scores[code] == pytest.approx(expected, abs=1e-9), (text, code)
    assert clf.classify("电动车充电").category == "fire"


def test_training_without_ngrams_learns_words_and_pairs_only(tmp_path: Path) -> None:
    path = tmp_path / "tiny.csv"
    path.write_text(TINY, encoding="utf-8")
    model = train.fit(train.read_csv(path), c=1.0, prune=0.05, ngrams=())
    assert model.meta["ngrams"] == []
    assert not any(tokenize.is_ngram(k) for cat in model.categories.values() for k in cat.keywords)


def test_older_formats_still_load_and_unknown_formats_fail(tmp_path: Path) -> None:
    old = {"format": "hongguan-keyword-model/1", "categories": {"a": {"keywords": {"电梯": 1.0}}}}
    assert KeywordModel.from_json(old).categories["a"].keywords == {"电梯": 1.0}
    two = {**old, "format": "hongguan-keyword-model/2"}
    assert KeywordModel.from_json(two).categories["a"].keywords == {"电梯": 1.0}
    with pytest.raises(ValueError, match="format"):
        KeywordModel.from_json({**old, "format": "hongguan-keyword-model/99"})
    model = KeywordModel.from_json(old)
    model.save(tmp_path / "m.json")
    assert json.loads((tmp_path / "m.json").read_text(encoding="utf-8"))["format"] == FORMAT


def test_cli_train_ngrams_option(tmp_path: Path) -> None:
    path = tmp_path / "tiny.csv"
    path.write_text(TINY, encoding="utf-8")
    for option, has_ngrams in (("2", True), ("0", False)):
        out = tmp_path / f"m{option}.json"
        args = ["train", str(path), "-o", str(out), "--no-curated", "-C", "1", "--ngrams", option]
        result = CliRunner().invoke(nlp_group, args)
        assert result.exit_code == 0, result.output
        keywords = [
            k for c in json.loads(out.read_text(encoding="utf-8"))["categories"].values() for k in c["keywords"]
        ]
        assert any(tokenize.is_ngram(k) for k in keywords) is has_ngrams
