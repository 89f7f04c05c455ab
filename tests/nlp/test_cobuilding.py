"""Need → resource matching on text: the labelled pairs, the reason words, and the ranking's own rules."""

from __future__ import annotations

from nlp import cobuilding


def _index() -> cobuilding.ResourceIndex:
    return cobuilding.ResourceIndex((k, t, d) for k, _, t, d in cobuilding.load_catalogue())


def test_the_labelled_set_is_large_enough_and_names_known_resources():
    keys = {k for k, *_ in cobuilding.load_catalogue()}
    pairs = cobuilding.load_pairs()
    assert len(pairs) >= 100
    assert {key for _, key in pairs} <= keys
    assert len({need for need, _ in pairs}) == len(pairs)


def test_the_right_resource_is_in_the_top_three_for_nine_needs_in_ten():
    accuracy, missed = cobuilding.top_k_accuracy(_index(), cobuilding.load_pairs(), k=3)
    assert accuracy >= 0.9, missed


def test_a_match_names_the_shared_words_as_its_reason():
    (best, *_) = _index().rank("老人不会用智能手机挂号")
    assert best.key == "R07"
    assert "智能手机" in best.shared or "挂号" in best.shared


def test_two_grams_meet_inside_different_words_and_unrelated_text_matches_nothing():
    index = cobuilding.ResourceIndex([(1, "集中充电桩", "小区安装"), (2, "亲子阅读", "绘本故事")])
    assert [m.key for m in index.rank("电动车充电难")] == [1]
    assert index.rank("量子计算") == []


def test_boosts_reorder_equal_text():
    index = cobuilding.ResourceIndex([(1, "法律咨询", ""), (2, "法律咨询", "")])
    assert [m.key for m in index.rank("法律咨询", boosts=[1.0, 1.5])] == [2, 1]
