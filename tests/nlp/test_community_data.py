"""The shipped community model's data: enough examples, a separate test set, and the quality it promises."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from nlp import classifier, train
from nlp.evaluate import evaluate
from nlp.taxonomy import CODES

DATA = Path(__file__).resolve().parents[2] / "nlp" / "data"


def test_training_examples_cover_every_category_in_volume() -> None:
    examples = train.read_csv(DATA / "community_examples.csv")
    assert len(examples) >= 3000
    counts = Counter(e.label for e in examples)
    assert set(counts) == set(CODES)
    assert min(counts.values()) >= 90
    lengths = [len(e.text) for e in examples]
    assert min(lengths) <= 4
    assert max(lengths) >= 60


def test_test_set_is_separate_from_training() -> None:
    trained = {e.text for e in train.read_csv(DATA / "community_examples.csv")}
    held_out = train.read_csv(DATA / "community_test.csv")
    assert len(held_out) >= 600
    assert {e.label for e in held_out} == set(CODES)
    assert not trained & {e.text for e in held_out}


def test_shipped_model_reaches_its_macro_f1_on_the_community_test_set() -> None:
    held_out = train.read_csv(DATA / "community_test.csv")
    clf = classifier.default_classifier()
    report = evaluate([e.label for e in held_out], [clf.classify(e.text).category for e in held_out])
    assert report.macro_f1 >= 0.85
