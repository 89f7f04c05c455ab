"""Classification metrics in plain Python: accuracy, macro-F1, per-class P/R/F1, confusion, urgency P/R."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ClassMetrics:
    """Precision, recall and F1 of one class, with its number of gold examples."""

    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True, slots=True)
class Report:
    """The result of evaluating predictions against gold labels."""

    accuracy: float
    macro_f1: float
    per_class: dict[str, ClassMetrics]
    labels: tuple[str, ...]
    confusion: dict[str, dict[str, int]]  # gold label -> predicted label -> count
    n: int
    urgency: dict[str, float] = field(default_factory=dict)  # precision, recall, f1, support when available

    def as_json(self) -> dict[str, Any]:
        """The report as one JSON-ready object."""
        out: dict[str, Any] = {
            "n": self.n,
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
            "per_class": {
                k: {
                    "precision": round(m.precision, 4),
                    "recall": round(m.recall, 4),
                    "f1": round(m.f1, 4),
                    "support": m.support,
                }
                for k, m in self.per_class.items()
            },
            "labels": list(self.labels),
            "confusion": self.confusion,
        }
        if self.urgency:
            out["urgency"] = self.urgency
        return out


def _ratio(num: int, den: int) -> float:
    return num / den if den else 0.0


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def evaluate(
    gold: Sequence[str],
    pred: Sequence[str],
    *,
    gold_urgent: Sequence[bool | None] | None = None,
    pred_urgent: Sequence[bool] | None = None,
) -> Report:
    """Compare predictions with gold labels; macro-F1 averages over classes in gold or predictions."""
    if len(gold) != len(pred):
        raise ValueError("gold and predictions differ in length")
    labels = tuple(sorted(set(gold) | set(pred)))
    confusion = {g: dict.fromkeys(labels, 0) for g in labels}
    for g, p in zip(gold, pred, strict=True):
        confusion[g][p] += 1
    per_class = {}
    for lab in labels:
        tp = confusion[lab][lab]
        predicted = sum(confusion[g][lab] for g in labels)
        support = sum(confusion[lab].values())
        p, r = _ratio(tp, predicted), _ratio(tp, support)
        per_class[lab] = ClassMetrics(precision=p, recall=r, f1=_f1(p, r), support=support)
    correct = sum(confusion[lab][lab] for lab in labels)
    macro = sum(m.f1 for m in per_class.values()) / len(per_class) if per_class else 0.0
    urgency: dict[str, float] = {}
    if gold_urgent is not None and pred_urgent is not None:
        pairs = [(g, p) for g, p in zip(gold_urgent, pred_urgent, strict=True) if g is not None]
        tp = sum(1 for g, p in pairs if g and p)
        up, ur = _ratio(tp, sum(1 for _, p in pairs if p)), _ratio(tp, sum(1 for g, _ in pairs if g))
        urgency = {
            "precision": round(up, 4),
            "recall": round(ur, 4),
            "f1": round(_f1(up, ur), 4),
            "support": sum(1 for g, _ in pairs if g),
            "n": len(pairs),
        }
    return Report(
        accuracy=_ratio(correct, len(gold)),
        macro_f1=macro,
        per_class=per_class,
        labels=labels,
        confusion=confusion,
        n=len(gold),
        urgency=urgency,
    )


def format_report(report: Report) -> str:
    """A plain-text rendering: headline figures, a per-class table and the confusion matrix."""
    lines = [f"n={report.n}  accuracy={report.accuracy:.4f}  macro-F1={report.macro_f1:.4f}"]
    if report.urgency:
        u = report.urgency
        lines.append(f"urgency: precision={u['precision']:.4f} recall={u['recall']:.4f} (urgent={u['support']})")
    width = max(len(lab) for lab in report.labels) if report.labels else 5
    lines.append("")
    lines.append(f"{'class':<{width}}  precision  recall     f1  support")
    for lab, m in report.per_class.items():
        lines.append(f"{lab:<{width}}  {m.precision:9.4f}  {m.recall:6.4f}  {m.f1:.4f}  {m.support:7d}")
    lines.append("")
    lines.append("confusion (rows = gold, columns = predicted, in the order of the rows)")
    for g in report.labels:
        lines.append(f"{g:<{width}}  " + " ".join(f"{report.confusion[g][p]:4d}" for p in report.labels))
    return "\n".join(lines)
