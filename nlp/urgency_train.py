"""Learn the urgency weights from a labelled set and score a set: `python -m nlp.urgency_train [--check]`.

The score of a message is that of its best danger signal, so training alternates between picking each
message's best signal under the current weights and one step of weighted logistic regression on those signals
(plain Python: the features are a few dozen indicators). A missed emergency costs `MISS_COST` false alarms.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from nlp import tokenize
from nlp.urgency import DANGERS, DISCOUNTS, Weights, assess, find_signals

MISS_COST = 4.0  # a missed emergency weighs as much as this many false alarms
L2 = 0.002  # keeps weights of rare features small
EPOCHS = 3000
LEARNING_RATE = 0.5
# Non-zero start: "a danger signal with no discount is urgent" is the safe prior.
_START = {"bias": 0.5, "now": 1.0}


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled message of an urgency set."""

    text: str
    urgent: bool
    kind: str  # the danger kind of an emergency, or the hard-negative kind of a non-emergency


def read_set(path: str | Path) -> list[Example]:
    """Read a `text,urgent,kind` CSV."""
    with open(path, encoding="utf-8", newline="") as fh:
        return [Example(r["text"], r["urgent"].strip() == "1", r["kind"].strip()) for r in csv.DictReader(fh)]


def shipped_set(name: str) -> list[Example]:
    """One of the shipped sets: "urgency_train" or "urgency_test"."""
    path = resources.files("nlp").joinpath(f"data/{name}.csv")
    with resources.as_file(path) as p:
        return read_set(p)


def _features(now: str, danger: str, discounts: list[tuple[str, str]]) -> list[str]:
    return ["bias", f"danger:{danger}", *(["now"] if now else []), *(f"discount:{c}" for c, _ in discounts)]


def fit(examples: list[Example]) -> Weights:
    """Learn the weights (deterministic: full-batch gradient descent from a fixed start)."""
    data = []
    for ex in examples:
        found, now = find_signals(tokenize.normalize(ex.text))
        if found:  # a message without any danger signal is never urgent, whatever the weights
            data.append(([_features(now, d, disc) for d, _, disc in found], ex.urgent))
    w: dict[str, float] = dict(_START)
    n = len(data) or 1
    for _ in range(EPOCHS):
        grad: dict[str, float] = {}
        for candidates, urgent in data:
            feats = max(candidates, key=lambda fs: sum(w.get(f, 0.0) for f in fs))
            z = sum(w.get(f, 0.0) for f in feats)
            p = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))
            g = (p - 1.0) * MISS_COST if urgent else p
            for f in feats:
                grad[f] = grad.get(f, 0.0) + g
        for f in set(grad) | set(w):
            w[f] = w.get(f, 0.0) - LEARNING_RATE * (grad.get(f, 0.0) / n + L2 * w.get(f, 0.0))
    return Weights(
        bias=w.get("bias", 0.0),
        danger={d.code: w.get(f"danger:{d.code}", 0.0) for d in DANGERS},
        now=w.get("now", 0.0),
        discount={d.code: w.get(f"discount:{d.code}", 0.0) for d in DISCOUNTS},
    )


@dataclass(slots=True)
class Report:
    """Counts of an urgency set scored with some weights, overall and per kind."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    found_by_kind: Counter[str] = field(default_factory=Counter)  # emergencies caught, per danger kind
    urgent_by_kind: Counter[str] = field(default_factory=Counter)  # emergencies, per danger kind
    alarms_by_kind: Counter[str] = field(default_factory=Counter)  # false alarms, per hard-negative kind
    negatives_by_kind: Counter[str] = field(default_factory=Counter)
    missed: list[str] = field(default_factory=list)
    false_alarms: list[str] = field(default_factory=list)

    @property
    def recall(self) -> float:
        """Emergencies caught / emergencies."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def precision(self) -> float:
        """Urgent decisions that are emergencies / urgent decisions."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0


def score(examples: list[Example], weights: Weights | None = None) -> Report:
    """Score a labelled set."""
    report = Report()
    for ex in examples:
        urgent = assess(tokenize.normalize(ex.text), weights).urgent
        if ex.urgent:
            report.urgent_by_kind[ex.kind] += 1
            if urgent:
                report.tp += 1
                report.found_by_kind[ex.kind] += 1
            else:
                report.fn += 1
                report.missed.append(ex.text)
        else:
            report.negatives_by_kind[ex.kind] += 1
            if urgent:
                report.fp += 1
                report.alarms_by_kind[ex.kind] += 1
                report.false_alarms.append(ex.text)
            else:
                report.tn += 1
    return report


WEIGHTS_PATH = Path(__file__).resolve().parent / "data" / "urgency_weights.json"


def main(argv: list[str] | None = None) -> int:
    """Fit on the training set and write the weights (or, with --check, fail if the shipped ones differ)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare with the shipped weights")
    parser.add_argument("--show", action="store_true", help="print the training set's misses and false alarms")
    args = parser.parse_args(argv)
    train = shipped_set("urgency_train")
    weights = fit(train)
    body = json.dumps(weights.to_json(), ensure_ascii=False, indent=1) + "\n"
    if args.check:
        same = WEIGHTS_PATH.read_text(encoding="utf-8") == body
        print("shipped weights are up to date" if same else "shipped weights differ from a refit")
        return 0 if same else 1
    WEIGHTS_PATH.write_text(body, encoding="utf-8")
    report = score(train, Weights.from_json(json.loads(body)))
    print(
        f"training set: TP {report.tp} FP {report.fp} FN {report.fn} TN {report.tn}, "
        f"recall {report.recall:.3f}, precision {report.precision:.3f}"
    )
    if args.show:
        for text in report.missed:
            print("missed:", text)
        for text in report.false_alarms:
            print("false alarm:", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
