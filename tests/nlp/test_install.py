"""Putting a model file in service: `nlp install` checks and writes atomically; processes reload a changed file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.nlp_commands import nlp_group
from nlp import classifier
from nlp.install import ModelRejected, check, install
from nlp.model import CategoryWeights, KeywordModel, load_default
from nlp.taxonomy import CODES

SHIPPED = load_default().version


def community_model(version: str, keywords: dict[str, float] | None = None) -> KeywordModel:
    """A small real model over the taxonomy: one curated keyword for property, the rest empty."""
    cats = {code: CategoryWeights(label=code) for code in CODES}
    cats["property"].curated = dict(keywords or {"电梯": 3.0})
    return KeywordModel(categories=cats, threshold=0.5, version=version)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Path]:
    """A configured model path, checked on every call; the shipped model is served again afterwards."""
    path = tmp_path / "served" / "model.json"
    classifier.configure(path, check_interval=0)
    yield path
    classifier.configure(None)


def test_install_writes_the_checked_file_and_the_process_serves_it_on_its_next_check(tmp_path, served) -> None:
    assert classifier.default_classifier().version == SHIPPED  # nothing installed yet: the shipped model
    assert classifier.in_service()[1] == "shipped"
    source = tmp_path / "new.json"
    community_model("community-2027.1.1").save(source)
    model = install(source, served)
    assert model.version == "community-2027.1.1"
    assert served.read_bytes() == source.read_bytes()
    assert [p.name for p in served.parent.iterdir()] == ["model.json"]  # no temporary file left behind
    clf, source_kind = classifier.in_service()
    assert (clf.version, source_kind) == ("community-2027.1.1", "file")
    assert classifier.default_classifier().classify("电梯坏了").model_version == "community-2027.1.1"
    community_model("community-2027.2.1").save(source)
    install(source, served)
    assert classifier.default_classifier().version == "community-2027.2.1"
    served.unlink()  # uninstalled: back to the shipped model
    assert classifier.in_service()[0].version == SHIPPED


def test_a_file_broken_in_place_is_never_half_loaded(tmp_path, served) -> None:
    source = tmp_path / "new.json"
    community_model("community-good").save(source)
    install(source, served)
    assert classifier.default_classifier().version == "community-good"
    good = served.read_text(encoding="utf-8")
    served.write_text(good[: len(good) // 2], encoding="utf-8")  # a hand copy caught half-way
    assert classifier.default_classifier().version == "community-good"
    data = json.loads(good)
    data["version"], data["categories"]["property"]["curated"] = "community-bad", {"电梯": "heavy"}
    served.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")  # whole, but a weight is not a number
    assert classifier.default_classifier().version == "community-good"
    data["categories"]["property"]["curated"] = {"电梯": 2.5}
    data["version"] = "community-fixed"
    served.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    assert classifier.default_classifier().version == "community-fixed"


def test_the_file_is_looked_at_once_per_interval_not_per_message(tmp_path) -> None:
    path = tmp_path / "model.json"
    community_model("community-first").save(path)
    classifier.configure(path, check_interval=3600)
    try:
        assert classifier.default_classifier().version == "community-first"
        community_model("community-second").save(path)
        assert classifier.default_classifier().version == "community-first"  # not re-checked within the hour
        classifier.configure(path, check_interval=0)
        assert classifier.default_classifier().version == "community-second"
    finally:
        classifier.configure(None)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('{"format": "hongguan-keyword-model/3", "categories": {"property": {', "not a readable model JSON"),
        ('{"format": "hongguan-keyword-model/9", "categories": {"property": {}}}', "unknown model format"),
        ('{"categories": {}}', "no 'categories'"),
        ('["property"]', "not a valid model"),
        ('{"categories": {"property": {"curated": {"电梯": 3}}, "weather": {}}}', "outside the taxonomy: weather"),
        ('{"categories": {"property": {"curated": {"电梯": 3}}}}', "at least two categories"),
        ('{"categories": {"property": {"bias": "NaN"}, "noise": {}}}', "gave"),
    ],
)
def test_install_refuses_a_bad_file_and_leaves_the_served_one_untouched(tmp_path, content, reason) -> None:
    target = tmp_path / "model.json"
    community_model("community-serving").save(target)
    before = target.read_bytes()
    bad = tmp_path / "bad.json"
    bad.write_text(content, encoding="utf-8")
    with pytest.raises(ModelRejected, match=reason):
        install(bad, target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json", "model.json"]
    with pytest.raises(ModelRejected):
        check(bad)


def test_install_command_uses_the_setting_and_refuses_bad_files(tmp_path, monkeypatch) -> None:
    runner = CliRunner()
    source = tmp_path / "new.json"
    community_model("community-cli").save(source)
    monkeypatch.delenv("HONGGUAN_NLP_MODEL", raising=False)
    result = runner.invoke(nlp_group, ["install", str(source)])
    assert result.exit_code != 0
    assert "HONGGUAN_NLP_MODEL" in result.output
    target = tmp_path / "instance" / "nlp-model.json"
    monkeypatch.setenv("HONGGUAN_NLP_MODEL", str(target))
    result = runner.invoke(nlp_group, ["install", str(source)])
    assert result.exit_code == 0, result.output
    assert "model community-cli (14 categories) installed at" in result.output
    assert KeywordModel.load(target).version == "community-cli"
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    result = runner.invoke(nlp_group, ["install", str(bad)])
    assert result.exit_code != 0
    assert "refused, nothing installed" in result.output
    assert KeywordModel.load(target).version == "community-cli"
