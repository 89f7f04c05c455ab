"""A community's own model: k-fold cross-validated macro-F1 of `hongguan nlp train`'s recipe vs the shipped model
on a synthetic community export, and the cost of serving an installable model file.

The export is built from the shipped model's own training rows (`nlp/data/community_examples.csv`, so the
shipped model has seen every text: the comparison favours it) with a simulated community's conventions applied as
staff relabels: upstairs-neighbour noise handled as a neighbour dispute, estate parking and stairwell cleaning
handed to the property company. No test or evaluation file is read.
Run: .venv/bin/python bench/community_model.py [--folds 5] [--no-curated-too]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nlp import classifier, crossval, train
from nlp.install import install
from nlp.model import DEFAULT_THRESHOLD, KeywordModel

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "nlp" / "data" / "community_examples.csv"
# (routed category, a word in the text) -> the category this community's staff file it under.
CONVENTIONS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("noise", ("楼上", "邻居", "隔壁"), "neighbor"),
    ("traffic_parking", ("小区", "车位"), "property"),
    ("sanitation", ("楼道",), "property"),
)


def community_export() -> tuple[list[train.Example], Counter[str], dict[str, str]]:
    """The synthetic export, how many rows each convention relabelled, and each text's routed label."""
    rows, moved, routed_label = [], Counter(), {}
    for e in train.read_csv(EXAMPLES):
        label = e.label
        for routed, words, staff in CONVENTIONS:
            if e.label == routed and any(w in e.text for w in words):
                label = staff
                moved[f"{routed} → {staff}"] += 1
                break
        rows.append(train.Example(text=e.text, label=label))
        routed_label[e.text] = e.label
    return rows, moved, routed_label


def recipe(curated: bool, labels: dict[str, str] | None = None) -> crossval.Trainer:
    """`hongguan nlp train`'s default recipe (C and prune cross-validated, 2-grams), with or without curated;
    with `labels`, trained on those labels of the same texts (the routed ones) instead of the export's."""
    keywords = train.load_curated() if curated else None

    def fit(rows: Sequence[train.Example]) -> KeywordModel:
        if labels is not None:
            rows = [train.Example(text=r.text, label=labels[r.text]) for r in rows]
        return train.fit(rows, curated=keywords, threshold=DEFAULT_THRESHOLD, version="own")

    return fit


def serving_cost(rounds: int = 200_000) -> list[tuple[str, float]]:
    """Per-call cost of `default_classifier()`: shipped only, and with a model file configured (checked 1/s)."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "m.json"
        classifier._shipped().model.save(source)
        target = Path(tmp) / "served.json"
        for name, path in (("shipped model, no file configured", None), ("installed file, checked ≤ 1/s", target)):
            if path is not None:
                install(source, path)
            classifier.configure(path)
            classifier.default_classifier()
            t = time.perf_counter()
            for _ in range(rounds):
                classifier.default_classifier()
            out.append((name, (time.perf_counter() - t) / rounds * 1e9))
        classifier.configure(target, check_interval=0)
        classifier.default_classifier()
        t = time.perf_counter()
        for _ in range(2000):
            classifier.default_classifier()
        out.append(("installed file, stat on every call (worst case)", (time.perf_counter() - t) / 2000 * 1e9))
        t = time.perf_counter()
        install(source, target)
        installed = time.perf_counter() - t
        t = time.perf_counter()
        classifier.default_classifier()  # changed file: the reload
        reload_s = time.perf_counter() - t
        classifier.configure(None)
    return [*out, ("`install` (check + atomic write)", installed * 1e9), ("reload on the next call", reload_s * 1e9)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folds", type=int, default=crossval.DEFAULT_FOLDS)
    parser.add_argument("--no-curated-too", action="store_true", help="also the recipe without curated keywords")
    args = parser.parse_args()
    rows, moved, routed_label = community_export()
    relabelled = [i for i, e in enumerate(rows) if e.label != routed_label[e.text]]
    shipped = classifier.default_classifier()
    print(f"# A community's own model: synthetic export of {len(rows)} rows, {sum(moved.values())} relabelled")
    print()
    print("| simulated staff convention | rows relabelled |")
    print("|---|---:|")
    for k, v in moved.most_common():
        print(f"| {k} | {v} |")
    recipes = [("own labels, curated (the default)", recipe(True))]
    if args.no_curated_too:
        recipes.append(("own labels, --no-curated", recipe(False)))
    # The same recipe on the same folds, trained on the routed labels: what retraining alone brings.
    recipes.append(("routed labels, curated", recipe(True, routed_label)))
    summary = []
    for name, trainer in recipes:
        t = time.perf_counter()
        result = crossval.compare(rows, shipped, trainer, folds=args.folds)
        print()
        print(f"## recipe: {name}, {time.perf_counter() - t:.0f} s")
        print()
        print(crossval.format_comparison(result, new_name="own"))
        summary.append((name, result))
    print()
    print(
        f"| held-out rows, {args.folds}-fold | macro-F1 all rows | accuracy all rows | "
        f"relabelled rows ({len(relabelled)}) given the community's label |"
    )
    print("|---|---:|---:|---:|")
    ref = summary[0][1]
    hit = sum(ref.reference_pred[i] == rows[i].label for i in relabelled)
    print(
        f"| shipped {shipped.version}, as it is | {ref.reference.macro_f1:.4f} | {ref.reference.accuracy:.4f} | "
        f"{hit}/{len(relabelled)} |"
    )
    for name, result in summary:
        hit = sum(result.new_pred[i] == rows[i].label for i in relabelled)
        print(
            f"| trained on the other folds: {name} | {result.new.macro_f1:.4f} | {result.new.accuracy:.4f} | "
            f"{hit}/{len(relabelled)} |"
        )
    print()
    print("| serving | cost |")
    print("|---|---:|")
    for name, ns in serving_cost():
        print(f"| {name} | {ns / 1e6:.1f} ms |" if ns > 1e5 else f"| {name} | {ns:.0f} ns |")


if __name__ == "__main__":
    main()
