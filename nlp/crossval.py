"""Is a community's own model better than the one in service? k-fold cross-validation on the community's rows.

Each fold trains a new model on the other folds with the same recipe as the final model and classifies the
held-out rows; the reference model (the shipped one, or the one in service) classifies the same held-out rows
as it is, never retrained. Both are scored on the pooled held-out predictions, so the two figures are on exactly
the same rows and the reference's figure is simply its score on the whole export.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nlp.classifier import Classifier
from nlp.evaluate import Report, evaluate
from nlp.model import KeywordModel
from nlp.train import Example

DEFAULT_FOLDS = 5
RANDOM_STATE = 0

# Trains a model from examples with the caller's recipe (curated keywords, C, n-grams, threshold).
Trainer = Callable[[Sequence[Example]], KeywordModel]


@dataclass(frozen=True, slots=True)
class Comparison:
    """Cross-validated scores of the newly trained recipe and of the reference model on the same rows."""

    folds: int
    new: Report  # models trained on the other folds, scored on the held-out rows
    reference: Report  # the reference model, scored on the same rows
    reference_version: str
    new_fold_f1: tuple[float, ...]  # macro-F1 of each fold's held-out rows
    reference_fold_f1: tuple[float, ...]
    new_pred: tuple[str, ...]  # the pooled held-out predictions, in the order of the examples
    reference_pred: tuple[str, ...]

    @property
    def gain(self) -> float:
        """Macro-F1 of the new recipe minus that of the reference."""
        return self.new.macro_f1 - self.reference.macro_f1


def _predict(clf: Classifier, examples: Sequence[Example]) -> list[str]:
    return [
        (clf.classify_tokens(e.tokens, e.text) if e.tokens is not None else clf.classify(e.text)).category
        for e in examples
    ]


def fold_indices(labels: Sequence[str], folds: int, seed: int = RANDOM_STATE) -> list[list[int]]:
    """Held-out row indices of each fold, stratified by label (shuffled with a fixed seed)."""
    from sklearn.model_selection import StratifiedKFold

    if folds < 2:
        raise ValueError("cross-validation needs at least 2 folds")
    if len(labels) < folds:
        raise ValueError(f"{len(labels)} rows cannot make {folds} folds")
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        # A category with fewer rows than folds is simply absent from some folds' held-out rows.
        warnings.simplefilter("ignore", UserWarning)
        return [test.tolist() for _, test in splitter.split(list(labels), list(labels))]


def compare(
    examples: Sequence[Example],
    reference: Classifier,
    trainer: Trainer,
    *,
    folds: int = DEFAULT_FOLDS,
    seed: int = RANDOM_STATE,
) -> Comparison:
    """k-fold cross-validated macro-F1 of `trainer`'s models vs `reference` as it is, on the same held-out rows."""
    gold = [e.label for e in examples]
    if len(set(gold)) < 2:
        raise ValueError("the rows need at least two categories")
    new_pred: list[str] = [""] * len(examples)
    ref_pred = _predict(reference, examples)
    new_f1, ref_f1 = [], []
    for held in fold_indices(gold, folds, seed):
        held_set = set(held)
        train_rows = [e for i, e in enumerate(examples) if i not in held_set]
        model = trainer(train_rows)
        predicted = _predict(Classifier(model), [examples[i] for i in held])
        for i, p in zip(held, predicted, strict=True):
            new_pred[i] = p
        fold_gold = [gold[i] for i in held]
        new_f1.append(evaluate(fold_gold, predicted).macro_f1)
        ref_f1.append(evaluate(fold_gold, [ref_pred[i] for i in held]).macro_f1)
    return Comparison(
        folds=folds,
        new=evaluate(gold, new_pred),
        reference=evaluate(gold, ref_pred),
        reference_version=reference.version,
        new_fold_f1=tuple(new_f1),
        reference_fold_f1=tuple(ref_f1),
        new_pred=tuple(new_pred),
        reference_pred=tuple(ref_pred),
    )


def format_comparison(c: Comparison, new_name: str = "new") -> str:
    """Headline macro-F1 of both models, their per-fold spread, and a per-category F1 table (gold categories)."""
    ref_name = c.reference_version
    lines = [
        f"{c.folds}-fold cross-validation on {c.new.n} rows (the reference model scored as it is on the same rows)",
        "",
        "| model | macro-F1 | accuracy | folds' macro-F1 (min–max) |",
        "|---|---:|---:|---:|",
        f"| {new_name} (trained on the other folds) | {c.new.macro_f1:.4f} | {c.new.accuracy:.4f} | "
        f"{min(c.new_fold_f1):.4f}–{max(c.new_fold_f1):.4f} |",
        f"| {ref_name} | {c.reference.macro_f1:.4f} | {c.reference.accuracy:.4f} | "
        f"{min(c.reference_fold_f1):.4f}–{max(c.reference_fold_f1):.4f} |",
        "",
        f"macro-F1 gain of {new_name} over {ref_name}: {c.gain:+.4f}",
        "",
        f"| category | rows | F1 {ref_name} | F1 {new_name} | change |",
        "|---|---:|---:|---:|---:|",
    ]
    gold = sorted(
        (lab for lab, m in c.new.per_class.items() if m.support), key=lambda lab: (-c.new.per_class[lab].support, lab)
    )
    for lab in gold:
        new_f1 = c.new.per_class[lab].f1
        ref = c.reference.per_class.get(lab)
        ref_f1 = ref.f1 if ref else 0.0
        support = c.new.per_class[lab].support
        lines.append(f"| {lab} | {support} | {ref_f1:.4f} | {new_f1:.4f} | {new_f1 - ref_f1:+.4f} |")
    return "\n".join(lines)
