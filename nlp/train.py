"""Learn keyword weights from labelled messages (scikit-learn, imported lazily) and export them as a model."""

from __future__ import annotations

import csv
import datetime as dt
import functools
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlp import tokenize
from nlp.model import DEFAULT_SHARPNESS, DEFAULT_THRESHOLD, CategoryWeights, KeywordModel
from nlp.taxonomy import BY_CODE, label_of

# Cross-validation picks the regularisation C of the linear SVM from this grid (train data only).
C_GRID: tuple[float, ...] = (0.5, 1.0, 2.0)
# Each training message also yields its first HEAD_TOKENS tokens as an extra example: residents write short
# WeChat messages, and the head of a long complaint (its subject) is the nearest thing in most training sets.
HEAD_TOKENS = 12
# Cross-validation scores each held-out message twice: whole, and cut to its first SHORT_TOKENS content
# tokens, about a 20-character subject line or WeChat message.
SHORT_TOKENS = 8
# Character n-gram lengths learned as "*ab*" keywords alongside words and pairs (see tokenize.token_features).
NGRAMS: tuple[int, ...] = tokenize.NGRAM_LENGTHS
# Exported weights smaller than the prune level are dropped from the table. Cross-validation keeps the largest
# level that costs at most PRUNE_TOLERANCE macro-F1: on tipdm, dropping |w| < 1 removed 80 % of the weights
# and changed nothing, so the table stays a size that staff can open.
PRUNE_GRID: tuple[float, ...] = (0.05, 0.25, 0.5, 1.0)
PRUNE_TOLERANCE = 0.002
SHARPNESS_GRID: tuple[float, ...] = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)
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


@dataclass(slots=True)
class _Table:
    """Exported weights: classes x features, so that score = sum of the weights of present features."""

    classes: list[str]
    names: list[str]
    weights: Any  # numpy array, classes x features, pruned
    vocabulary: dict[str, int]
    ngrams: tuple[int, ...] = ()

    def pruned(self, prune: float) -> _Table:
        """A copy without the weights smaller than prune."""
        w = self.weights.copy()
        w[abs(w) < prune] = 0.0
        return _Table(classes=self.classes, names=self.names, weights=w, vocabulary=self.vocabulary, ngrams=self.ngrams)

    def scores(self, docs: Sequence[list[str]]) -> tuple[Any, Any]:
        """Runtime scores and keyword counts (occurrences) of documents, exactly as the classifier computes them."""
        import numpy as np
        from scipy.sparse import csr_matrix

        rows, cols = [], []
        live = np.abs(self.weights).sum(axis=0) > 0
        vocabulary = self.vocabulary
        for r, doc in enumerate(docs):
            # Every occurrence, as at run time: the matrix adds up repeated (row, column) entries.
            for f in tokenize.features(doc, self.ngrams):
                c = vocabulary.get(f)
                if c is not None and live[c]:
                    rows.append(r)
                    cols.append(c)
        x = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(docs), len(self.names)))
        return np.asarray(x @ self.weights.T), np.asarray(x.sum(axis=1)).ravel()


def _fit_table(
    docs: Sequence[list[str]], labels: Sequence[str], c: float, min_df: int, ngrams: Sequence[int] = ()
) -> _Table:
    """Fit a linear SVM on L2-normalised TF-IDF term counts of words, their character n-grams and adjacent
    pairs; export weights.

    Without an intercept, the SVM's decision is argmax over classes of sum(w * idf * count) / norm; the
    norm is the same for every class, so exporting w * idf as the keyword weight makes "bias + sum of the
    weights of every keyword occurrence" (bias 0) give exactly the SVM's answer. Each feature's median weight
    across classes is then subtracted (a constant per feature does not change the argmax) so that many
    weights become zero; see _Table.pruned for the rest."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    ngrams = tuple(ngrams)
    vec = TfidfVectorizer(
        analyzer=functools.partial(tokenize.features, ngrams=ngrams),
        # Term counts rather than presence: cross-validation on tipdm scored them as well (mean macro-F1
        # 0.885 vs 0.883), and a sum over occurrences needs no de-duplication at run time.
        min_df=min_df,
        lowercase=False,
    )
    x = vec.fit_transform(docs)
    svm = LinearSVC(C=c, fit_intercept=False, random_state=RANDOM_STATE)
    svm.fit(x, labels)
    classes = [str(k) for k in svm.classes_]
    w = np.asarray(svm.coef_, dtype=float) * vec.idf_[np.newaxis, :]
    if len(classes) == 2:
        # scikit-learn keeps one row for two classes; split it symmetrically so each class has weights.
        w = np.vstack([-w[0] / 2, w[0] / 2])
    w = w - np.median(w, axis=0, keepdims=True)
    names = [str(n) for n in vec.get_feature_names_out()]
    vocabulary = {n: i for i, n in enumerate(names)}
    return _Table(classes=classes, names=names, weights=w, vocabulary=vocabulary, ngrams=ngrams)


def _macro_f1(gold: Sequence[str], pred: Sequence[str]) -> float:
    from nlp.evaluate import evaluate

    return evaluate(gold, pred).macro_f1


def _confidence_nll(scores: Any, counts: Any, gold_idx: Any, sharpness: float) -> float:
    """Mean negative log-likelihood of the gold class under softmax(sharpness * scores / sqrt(matched))."""
    import numpy as np

    z = sharpness * scores / np.sqrt(np.maximum(counts, 1.0))[:, None]
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(gold_idx)), gold_idx].mean())


def choose_c(
    docs: Sequence[list[str]],
    labels: Sequence[str],
    *,
    grid: Iterable[float] = C_GRID,
    prunes: Iterable[float] = PRUNE_GRID,
    folds: int = 4,
    head: int = HEAD_TOKENS,
    short: int = SHORT_TOKENS,
    min_df: int = 2,
    ngrams: Sequence[int] = NGRAMS,
) -> tuple[float, float, float, dict[str, float]]:
    """Pick C and the prune level by stratified cross-validation (mean macro-F1 over held-out messages and
    their first `short` tokens), then the confidence sharpness that best fits the held-out scores.

    Returns (C, prune, sharpness, cv scores)."""
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    grid, prunes = list(grid), sorted(prunes)
    folds = max(2, min(folds, min(Counter(labels).values())))
    skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=RANDOM_STATE)
    splits = list(skf.split(np.zeros(len(labels)), labels))
    f1s: dict[tuple[float, float], list[float]] = {(c, p): [] for c in grid for p in prunes}
    held_out: dict[tuple[float, float], list[tuple[Any, Any, list[int]]]] = {key: [] for key in f1s}
    for c in grid:
        for tr, te in splits:
            tr_docs, tr_y = _with_heads([docs[i] for i in tr], [labels[i] for i in tr], head)
            full = _fit_table(tr_docs, tr_y, c, min_df, ngrams)
            gold = [labels[i] for i in te]
            known = [j for j, g in enumerate(gold) if g in full.classes]
            gold_idx = [full.classes.index(gold[j]) for j in known]
            for p in prunes:
                table = full.pruned(p)
                for test_docs in (
                    [docs[i] for i in te],
                    [docs[i][:short] for i in te],
                ):
                    scores, counts = table.scores(test_docs)
                    f1s[c, p].append(_macro_f1(gold, [table.classes[k] for k in scores.argmax(axis=1)]))
                    held_out[c, p].append((scores[known], counts[known], gold_idx))
    cv = {key: sum(v) / len(v) for key, v in f1s.items()}
    best_c = max(grid, key=lambda c: max(cv[c, p] for p in prunes))
    top = max(cv[best_c, p] for p in prunes)
    prune = max(p for p in prunes if cv[best_c, p] >= top - PRUNE_TOLERANCE)
    s_all = np.vstack([s for s, _, _ in held_out[best_c, prune]])
    n_all = np.concatenate([n for _, n, _ in held_out[best_c, prune]])
    g_all = np.concatenate([np.asarray(g, dtype=int) for _, _, g in held_out[best_c, prune]])
    sharpness = min(SHARPNESS_GRID, key=lambda s: _confidence_nll(s_all, n_all, g_all, s))
    return best_c, prune, sharpness, {f"C={c} prune={p}": round(v, 4) for (c, p), v in cv.items()}


def fit(
    examples: Sequence[Example],
    *,
    curated: Mapping[str, Mapping[str, float]] | None = None,
    c: float | None = None,
    head: int = HEAD_TOKENS,
    min_df: int = 2,
    ngrams: Sequence[int] = NGRAMS,
    prune: float | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    version: str = "",
    sources: Sequence[str] = (),
) -> KeywordModel:
    """Train a keyword model; C and prune left as None are chosen by cross-validation on the examples."""
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
        "features": "counts of jieba tokens, their character n-grams and adjacent token pairs, "
        "idf-weighted, L2-normalised",
        "ngrams": list(ngrams),
        "learner": "scikit-learn LinearSVC without intercept, weights exported as coef * idf",
        "head_tokens": head,
        "min_df": min_df,
    }
    sharpness = DEFAULT_SHARPNESS
    if c is None or prune is None:
        c_cv, prune_cv, sharpness, cv = choose_c(
            docs,
            labels,
            grid=[c] if c is not None else C_GRID,
            prunes=[prune] if prune is not None else PRUNE_GRID,
            head=head,
            min_df=min_df,
            ngrams=ngrams,
        )
        c, prune = c_cv, prune_cv
        meta["cv_macro_f1"] = cv
    meta["C"] = c
    meta["prune"] = prune
    all_docs, all_labels = _with_heads(docs, labels, head)
    table = _fit_table(all_docs, all_labels, c, min_df, ngrams).pruned(prune)
    keywords: dict[str, dict[str, float]] = {code: {} for code in table.classes}
    rows, cols = table.weights.nonzero()
    for r, col in zip(rows.tolist(), cols.tolist(), strict=True):
        keywords[table.classes[r]][table.names[col]] = round(float(table.weights[r, col]), 4)
    categories = {}
    for code in _label_order(table.classes, curated):
        categories[code] = CategoryWeights(
            label=label_of(code),
            bias=0.0,  # the SVM has no intercept (see _fit_table); staff may still set a bias by hand
            keywords=keywords.get(code, {}),
            curated=dict((curated or {}).get(code, {})),
        )
    model = KeywordModel(categories=categories, threshold=threshold, sharpness=sharpness, meta=meta)
    model.version = version or model.version
    return model


def _label_order(classes: list[str], curated: Mapping[str, Any] | None) -> list[str]:
    """Taxonomy order for taxonomy codes, then any other labels alphabetically."""
    present = set(classes) | set(curated or {})
    known = [code for code in BY_CODE if code in present]
    return known + sorted(present - set(known))


def load_curated() -> dict[str, dict[str, float]]:
    """The hand-written keywords of the default taxonomy (`nlp/data/curated_keywords.json`)."""
    from importlib import resources

    text = resources.files("nlp").joinpath("data/curated_keywords.json").read_text(encoding="utf-8")
    data = json.loads(text)
    return {code: {kw: float(w) for kw, w in kws.items()} for code, kws in data.items() if not code.startswith("_")}


def default_version(prefix: str = "model") -> str:
    """A dated version string, e.g. "community-2026.11.1"."""
    today = dt.date.today()
    return f"{prefix}-{today.year}.{today.month}.{today.day}"
