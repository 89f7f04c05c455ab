"""Training round trip, metrics against hand-computed numbers, and the `nlp` CLI commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.nlp_commands import nlp_group
from nlp import train
from nlp.classifier import Classifier
from nlp.evaluate import evaluate
from nlp.model import KeywordModel, load_default

TINY = """text,label,urgent
电梯坏了没人修,lift,0
电梯又停了,lift,0
电梯按钮失灵,lift,0
这部电梯关不上门,lift,0
有人被困在电梯里,lift,1
电梯里很闷,lift,0
垃圾没人收,waste,0
门口的垃圾很臭,waste,0
垃圾又堆起来了,waste,0
垃圾太多了,waste,0
楼下垃圾乱扔,waste,0
垃圾满地都是,waste,0
路灯不亮,lamp,0
路灯坏了好几天,lamp,0
门口路灯一闪一闪,lamp,0
路灯灯罩掉了,lamp,0
路灯白天还亮着,lamp,0
路灯线路着火了,lamp,1
"""


@pytest.fixture
def tiny_csv(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.csv"
    path.write_text(TINY, encoding="utf-8")
    return path


def test_train_save_load_round_trip(tiny_csv: Path, tmp_path: Path) -> None:
    examples = train.read_csv(tiny_csv)
    assert len(examples) == 18
    assert examples[4].urgent is True
    model = train.fit(examples, c=1.0, prune=0.05, version="tiny-1")
    out = tmp_path / "model.json"
    model.save(out)
    loaded = KeywordModel.load(out)
    assert loaded.to_json() == model.to_json()
    assert loaded.version == "tiny-1"
    assert loaded.labels == ["lamp", "lift", "waste"]  # non-taxonomy labels in alphabetical order
    assert loaded.categories["lift"].keywords["电梯"] > 0
    clf = Classifier.from_file(out)
    assert [clf.classify(e.text).category for e in examples] == [e.label for e in examples]
    assert clf.classify("小区电梯好像坏了").category == "lift"
    # The file is meant for people: pretty-printed, UTF-8, keywords strongest first.
    text = out.read_text(encoding="utf-8")
    assert '\n "categories"' in text
    assert "电梯" in text
    weights = list(json.loads(text)["categories"]["lift"]["keywords"].values())
    assert weights == sorted(weights, reverse=True)


def test_training_is_deterministic(tiny_csv: Path) -> None:
    examples = train.read_csv(tiny_csv)
    first = train.fit(examples, c=1.0, prune=0.05).to_json()
    second = train.fit(examples, c=1.0, prune=0.05).to_json()
    first["meta"].pop("trained"), second["meta"].pop("trained")
    assert first == second


def test_cross_validation_chooses_c_and_prune(tiny_csv: Path) -> None:
    model = train.fit(train.read_csv(tiny_csv))
    assert model.meta["C"] in train.C_GRID
    assert model.meta["prune"] in train.PRUNE_GRID
    assert model.sharpness in train.SHARPNESS_GRID
    assert model.meta["cv_macro_f1"]


def test_curated_keywords_are_kept_in_their_own_section(tiny_csv: Path) -> None:
    model = train.fit(train.read_csv(tiny_csv), c=1.0, prune=0.05, curated={"lamp": {"不亮": 2.0}})
    assert model.categories["lamp"].curated == {"不亮": 2.0}
    d = Classifier(model).classify("楼下那盏不亮")
    assert d.category == "lamp"
    assert dict(d.keywords)["不亮"] >= 2.0


def test_pretokenized_csv(tmp_path: Path) -> None:
    path = tmp_path / "seg.csv"
    path.write_text("text,label\n电梯 坏 了 的,lift\n", encoding="utf-8")
    (example,) = train.read_csv(path, segmented=True)
    assert example.tokens == ("电梯", "坏")


def test_read_csv_rejects_bad_files(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("message,category\n你好,other\n", encoding="utf-8")
    with pytest.raises(ValueError, match="text"):
        train.read_csv(path)
    path.write_text("text,label,urgent\n你好,other,yes\n", encoding="utf-8")
    with pytest.raises(ValueError, match="urgent"):
        train.read_csv(path)


def test_metrics_match_hand_computed_numbers() -> None:
    gold = ["a", "a", "b", "b", "c"]
    pred = ["a", "b", "b", "b", "a"]
    report = evaluate(
        gold, pred, gold_urgent=[True, False, True, None, False], pred_urgent=[True, True, False, True, False]
    )
    assert report.accuracy == pytest.approx(3 / 5)
    # a: P 1/2 R 1/2 F1 1/2; b: P 2/3 R 1 F1 4/5; c: P 0 R 0 F1 0.
    assert report.per_class["a"].precision == pytest.approx(0.5)
    assert report.per_class["b"].precision == pytest.approx(2 / 3)
    assert report.per_class["b"].recall == pytest.approx(1.0)
    assert report.per_class["b"].f1 == pytest.approx(0.8)
    assert report.per_class["c"].f1 == 0.0
    assert report.macro_f1 == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert report.confusion == {
        "a": {"a": 1, "b": 1, "c": 0},
        "b": {"a": 0, "b": 2, "c": 0},
        "c": {"a": 1, "b": 0, "c": 0},
    }
    # Rows without a gold urgency are skipped: tp 1 of 2 flagged, 1 of 2 urgent.
    assert report.urgency["precision"] == pytest.approx(0.5)
    assert report.urgency["recall"] == pytest.approx(0.5)
    assert report.urgency["n"] == 4


def test_cli_train_eval_explain(tiny_csv: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "m.json"
    result = runner.invoke(nlp_group, ["train", str(tiny_csv), "-o", str(out), "--no-curated", "-C", "1"])
    assert result.exit_code == 0, result.output
    assert out.exists()
    assert "3 categories" in result.output

    result = runner.invoke(nlp_group, ["eval", str(tiny_csv), "--model", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert {"accuracy", "macro_f1", "per_class", "confusion", "urgency"} <= set(report)
    assert report["accuracy"] == 1.0
    assert set(report["per_class"]) == {"lamp", "lift", "waste"}
    assert set(report["urgency"]) >= {"precision", "recall"}

    result = runner.invoke(nlp_group, ["eval", str(tiny_csv), "--model", str(out)])
    assert result.exit_code == 0
    assert "macro-F1=1.0000" in result.output
    assert "confusion" in result.output

    result = runner.invoke(nlp_group, ["explain", "楼道里有人飞线充电，太危险了"])
    assert result.exit_code == 0
    assert result.output.startswith("消防安全 because ")
    assert "飞线充电 (+" in result.output.splitlines()[0]
    assert "urgency not urgent: no danger signal" in result.output  # a fire hazard, not a fire

    result = runner.invoke(nlp_group, ["explain", "楼道里飞线充电的电动车烧起来了，快来"])
    assert result.exit_code == 0
    assert "urgency URGENT: 火情“烧起来”" in result.output
    assert "正在发生“快来”" in result.output


def test_cli_eval_default_model_on_community_examples() -> None:
    path = Path(__file__).resolve().parents[2] / "nlp" / "data" / "community_examples.csv"
    result = CliRunner().invoke(nlp_group, ["eval", str(path), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["model_version"] == load_default().version
    assert report["n"] > 250
    assert report["accuracy"] > 0.9  # its own training data: a smoke check that the shipped model is the trained one


def test_cli_train_reports_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "one.csv"
    path.write_text("text,label\n电梯坏了,lift\n", encoding="utf-8")
    result = CliRunner().invoke(nlp_group, ["train", str(path), "-o", str(tmp_path / "m.json")])
    assert result.exit_code != 0
    assert "two labels" in result.output


def _export_like_csv(path: Path, per_label: int = 20) -> int:
    """An export-shaped CSV (id, created_at, community, text, label, label_source) from the shipped model's own
    training rows, with the upstairs-noise rows relabelled as neighbour disputes; returns its row count."""
    import csv
    import random

    by_label: dict[str, list[train.Example]] = {}
    for e in train.read_csv(Path(__file__).resolve().parents[2] / "nlp" / "data" / "community_examples.csv"):
        by_label.setdefault(e.label, []).append(e)
    rng = random.Random(1)
    rows = [e for _, es in sorted(by_label.items()) for e in rng.sample(es, min(per_label, len(es)))]
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "created_at", "community", "text", "label", "label_source"])
        for i, e in enumerate(rows, start=1):
            label, source = ("neighbor", "staff") if e.label == "noise" else (e.label, "routed")
            writer.writerow([i, "2026-11-01T09:00:00", "C1", e.text, label, source])
    return len(rows)


def test_train_cv_prints_both_models_on_the_same_rows_and_records_them_in_the_model(tmp_path: Path) -> None:
    export = tmp_path / "export.csv"
    n = _export_like_csv(export)
    out = tmp_path / "own.json"
    args = ["train", str(export), "-o", str(out), "--cv", "3", "-C", "0.5", "--prune", "0.05", "--version", "own-1"]
    result = CliRunner().invoke(nlp_group, args)
    assert result.exit_code == 0, result.output
    assert f"3-fold cross-validation on {n} rows" in result.output
    meta = KeywordModel.load(out).meta["cv_against_reference"]
    assert (meta["folds"], meta["rows"], meta["reference"]) == (3, n, load_default().version)
    assert f"| own-1 (trained on the other folds) | {meta['macro_f1']:.4f} |" in result.output
    assert f"| {load_default().version} | {meta['reference_macro_f1']:.4f} |" in result.output
    # The reference's figure is the shipped model's score on all the rows, as it is.
    rows = train.read_csv(export)
    shipped = Classifier(load_default())
    expected = evaluate([e.label for e in rows], [shipped.classify(e.text).category for e in rows])
    assert meta["reference_macro_f1"] == round(expected.macro_f1, 4)
    neighbour = next(line for line in result.output.splitlines() if line.startswith("| neighbor |"))
    support, ref_f1 = neighbour.split("|")[2:4]
    assert int(support) == expected.per_class["neighbor"].support == 40
    assert float(ref_f1) == round(expected.per_class["neighbor"].f1, 4)


def test_train_needs_some_rows_to_learn_from(tmp_path: Path) -> None:
    result = CliRunner().invoke(nlp_group, ["train", "-o", str(tmp_path / "m.json")])
    assert result.exit_code != 0
    assert "--from-db" in result.output
