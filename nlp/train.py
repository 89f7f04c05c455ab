"""Learn keyword weights from labelled messages (scikit-learn, imported lazily) and export them as a model."""

from __future__ import annotations

import csv
import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlp import tokenize
from nlp.model import DEFAULT_THRESHOLD, CategoryWeights, KeywordModel
from nlp.taxonomy import BY_CODE, label_of

# Cross-validation picks the inverse regularisation C from this grid (train data only).
C_GRID: tuple[float, ...] = (0.1, 0.3, 1.0, 3.0)
# Each training message also yields its first HEAD_TOKENS tokens as an extra example: residents write short
# WeChat messages, and the head of a long complaint (its subject) is the nearest thing in most training sets.
HEAD_TOKENS = 12
PRUNE = 0.02  # learned weights smaller than this are dropped from the table: they barely move any score
RANDOM_STATE = 0


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled message; `tokens` is set when the source was already segmented."""

    text: str
    label: str
    urgent: bool | None = None
    tokens: tuple[str, ...] | None = None


def read_csv(path: str | Path, *, segmented: bool = False) -> list[Example]:
    """Read a `text,label[,urgent]` CSV (UTF-8, header row); `segmented` marks space-separated tokens."""
    out = []
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"text", "label"} <= set(reader.fieldnames):
            raise ValueError(f"{path}: needs a header with 'text' and 'label' columns")
        has_urgent = "urgent" in reader.fieldnames
        for n, row in enumerate(reader, start=2):
            text, label = (row["text"] or "").strip(), (row["label"] or "").strip()
            if not text or not label:
                continue
            urgent = None
            if has_urgent and (row.get("urgent") or "").strip():
                flag = row["urgent"].strip()
                if flag not in ("0", "1"):
                    raise ValueError(f"{path}:{n}: urgent must be 0 or 1, not {flag!r}")
                urgent = flag == "1"
            toks = tuple(tokenize.pretokenized(text)) if segmented else None
            out.append(Example(text=text, label=label, urgent=urgent, tokens=toks))
    return out


def example_tokens(example: Example) -> list[str]:
    """Tokens of an example, segmenting raw text with the project tokenizer."""
    return list(example.tokens) if example.tokens is not None else tokenize.tokens(example.text)


def _with_heads(docs: Sequence[list[str]], labels: Sequence[str], head: int) -> tuple[list[list[str]], list[str]]:
    """Add the head of every longer document as an extra, short example."""
    if head <= 0:
        return list(docs), list(labels)
    extra = [(d[:head], y) for d, y in zip(docs, labels, strict=True) if len(d) > head]
    return list(docs) + [d for d, _ in extra], list(labels) + [y for _, y in extra]


def _fit_lr(docs: Sequence[list[str]], labels: Sequence[str], c: float, min_df: int) -> tuple[Any, Any]:
    """Fit multinomial logistic regression on binary word and adjacent-pair presence; return (vectorizer, lr)."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = CountVectorizer(analyzer=tokenize.features, binary=True, min_df=min_df, lowercase=False)
    x = vec.fit_transform(docs)
    lr = LogisticRegression(C=c, max_iter=2000, random_state=RANDOM_STATE)
    lr.fit(x, labels)
    return vec, lr


def _macro_f1(gold: Sequence[str], pred: Sequence[str]) -> float:
    from nlp.evaluate import evaluate

    return evaluate(gold, pred).macro_f1


def choose_c(
    docs: Sequence[list[str]],
    labels: Sequence[str],
    *,
    grid: Iterable[float] = C_GRID,
    folds: int = 5,
    head: int = HEAD_TOKENS,
    min_df: int = 2,
) -> tuple[float, dict[str, float]]:
    """Pick C by stratified k-fold cross-validation: mean macro-F1 over whole held-out messages and their heads."""
    from sklearn.model_selection import StratifiedKFold

    folds = max(2, min(folds, min(Counter(labels).values())))
    skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=RANDOM_STATE)
    results: dict[str, float] = {}
    idx = list(range(len(docs)))
    splits = list(skf.split(idx, labels))
    for c in grid:
        f1s = []
        for tr, te in splits:
            tr_docs, tr_y = _with_heads([docs[i] for i in tr], [labels[i] for i in tr], head)
            vec, lr = _fit_lr(tr_docs, tr_y, c, min_df)
            gold = [labels[i] for i in te]
            f1_full = _macro_f1(gold, list(lr.predict(vec.transform([docs[i] for i in te]))))
            heads = [docs[i][:head] if head > 0 else docs[i] for i in te]
            f1_head = _macro_f1(gold, list(lr.predict(vec.transform(heads))))
            f1s.append((f1_full + f1_head) / 2)
        results[str(c)] = round(sum(f1s) / len(f1s), 4)
    best = max(grid, key=lambda c: results[str(c)])
    return best, results


def fit(
    examples: Sequence[Example],
    *,
    curated: Mapping[str, Mapping[str, float]] | None = None,
    c: float | None = None,
    head: int = HEAD_TOKENS,
    min_df: int = 2,
    prune: float = PRUNE,
    threshold: float = DEFAULT_THRESHOLD,
    version: str = "",
    sources: Sequence[str] = (),
) -> KeywordModel:
    """Train a keyword model; with `c=None` C is chosen by cross-validation on the examples themselves."""
    if not examples:
        raise ValueError("no training examples")
    docs = [example_tokens(e) for e in examples]
    labels = [e.label for e in examples]
    if len(set(labels)) < 2:
        raise ValueError("training needs at least two labels")
    meta: dict[str, Any] = {
        "trained": dt.date.today().isoformat(),
        "examples": len(examples),
        "sources": list(sources),
        "features": "binary jieba tokens and adjacent token pairs",
        "learner": "scikit-learn LogisticRegression (multinomial, L2)",
        "head_tokens": head,
        "min_df": min_df,
        "prune": prune,
    }
    if c is None:
        c, cv = choose_c(docs, labels, head=head, min_df=min_df)
        meta["cv_macro_f1_by_C"] = cv
    meta["C"] = c
    all_docs, all_labels = _with_heads(docs, labels, head)
    vec, lr = _fit_lr(all_docs, all_labels, c, min_df)
    names = vec.get_feature_names_out()
    classes = [str(k) for k in lr.classes_]
    coef = lr.coef_
    intercept = [float(b) for b in lr.intercept_]
    if len(classes) == 2:
        # scikit-learn stores one row for two classes; split it symmetrically so each class has its own weights.
        coef = [-coef[0] / 2, coef[0] / 2]
        intercept = [-intercept[0] / 2, intercept[0] / 2]
    keywords = _sparse_table(classes, coef, names, prune)
    order = _label_order(classes, curated)
    shift = sorted(intercept)[len(intercept) // 2]
    categories = {}
    for code in order:
        known = BY_CODE.get(code)
        i = classes.index(code) if code in classes else -1
        categories[code] = CategoryWeights(
            label=label_of(code),
            bias=intercept[i] - shift if i >= 0 else -5.0,  # a curated-only category starts unlikely
            keywords=keywords.get(code, {}),
            curated=dict((curated or {}).get(code, {})),
            urgent_by_default=bool(known and known.urgent_by_default),
        )
    model = KeywordModel(categories=categories, threshold=threshold, meta=meta)
    model.version = version or model.version
    return model


def _sparse_table(classes: list[str], coef: Any, names: Any, prune: float) -> dict[str, dict[str, float]]:
    """Per-class {feature: weight}, after removing each feature's median weight across classes, then pruning.

    Softmax probabilities do not change when the same number is subtracted from one feature's weight in every
    class; subtracting the median makes most weights exactly zero, so the table stays small and readable."""
    import numpy as np

    w = np.asarray(coef, dtype=float)
    w = w - np.median(w, axis=0, keepdims=True)
    out: dict[str, dict[str, float]] = {c: {} for c in classes}
    rows, cols = np.nonzero(np.abs(w) >= prune)
    for r, col in zip(rows.tolist(), cols.tolist(), strict=True):
        out[classes[r]][str(names[col])] = round(float(w[r, col]), 4)
    return out


def _label_order(classes: list[str], curated: Mapping[str, Any] | None) -> list[str]:
    """Taxonomy order for taxonomy codes, then any other labels alphabetically."""
    present = set(classes) | set(curated or {})
    known = [code for code in BY_CODE if code in present]
    return known + sorted(present - set(known))


def default_version(prefix: str = "model") -> str:
    """A dated version string, e.g. "community-2026.11.1"."""
    today = dt.date.today()
    return f"{prefix}-{today.year}.{today.month}.{today.day}"
