"""Classify a resident message: category, confidence, urgency and the keywords that decided it."""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import jieba

from nlp import tokenize
from nlp.model import KeywordModel, load_default
from nlp.taxonomy import CONSULT, OTHER
from nlp.urgency import urgency_reasons


class Decision(NamedTuple):
    """The outcome of classifying one message, with everything needed to audit it (immutable).

    A named tuple rather than a frozen dataclass: one is built per message, and a frozen dataclass's
    constructor costs as much as the urgency rules. `keywords` and `scores` are derived on access from the
    matched keywords and the score row: most callers read only the category and the flags."""

    category: str
    label: str
    confidence: float
    urgent: bool
    urgency_reasons: tuple[str, ...]
    needs_triage: bool
    is_consultation: bool  # service-centre questions are answered rather than dispatched
    model_version: str
    labels: tuple[str, ...]  # category codes in score-row order
    score_row: tuple[float, ...]  # bias + matched weights, one per category
    matched: frozenset[object]  # keywords found: text, or (text, "curated")
    table: Mapping[object, tuple[float, ...]]  # the classifier's keyword -> weight per category

    def __repr__(self) -> str:
        # Not the default: that would print the whole keyword table.
        return (
            f"Decision(category={self.category!r}, confidence={self.confidence:.3f}, urgent={self.urgent}, "
            f"needs_triage={self.needs_triage}, keywords={self.keywords[:6]!r}, model_version={self.model_version!r})"
        )

    @property
    def scores(self) -> dict[str, float]:
        """Score of every category, {code: score}."""
        return dict(zip(self.labels, self.score_row, strict=True))

    @property
    def keywords(self) -> tuple[tuple[str, float], ...]:
        """The keywords that decided it, strongest first: each matched keyword's weight for the chosen category,
        exactly as in the table; a curated keyword with the same text as a learned one is shown once, weights
        added."""
        best = self.labels.index(self.category)
        combined: dict[str, float] = {}
        table = self.table
        for key in self.matched:
            w = table[key][best]
            if not w:
                continue
            kw = key if key.__class__ is str else key[0]  # curated keys are (keyword, "curated")
            combined[kw] = round(combined[kw] + w, 4) if kw in combined else w
        return tuple(sorted(((k, w) for k, w in combined.items() if w), key=_weight_magnitude))

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form, for storing the decision with the appeal."""
        return {
            "category": self.category,
            "label": self.label,
            "confidence": round(self.confidence, 4),
            "keywords": [[kw, w] for kw, w in self.keywords],
            "scores": {c: round(s, 4) for c, s in self.scores.items()},
            "urgent": self.urgent,
            "urgency_reasons": list(self.urgency_reasons),
            "needs_triage": self.needs_triage,
            "is_consultation": self.is_consultation,
            "model_version": self.model_version,
        }

    def explain(self, limit: int = 6) -> str:
        """One line such as "消防安全 because 飞线充电 (+2.1), 楼道 (+0.8)"."""
        keywords = self.keywords
        if not keywords:
            return f"{self.label} because no keyword matched"
        parts = ", ".join(f"{kw} ({w:+.1f})" for kw, w in keywords[:limit])
        return f"{self.label} because {parts}"


class Classifier:
    """A compiled keyword-weight model; thread-safe to share, since classify() only reads."""

    def __init__(self, model: KeywordModel) -> None:
        self.model = model
        tokenize.warm()  # here rather than per message: classify() is the hot path
        self._segment = jieba.lcut
        self._sharpness = model.sharpness
        self._threshold = model.threshold
        self._version = model.version
        self.labels: tuple[str, ...] = tuple(model.categories)
        self._names = tuple(model.categories[c].label for c in self.labels)
        self._bias = tuple(model.categories[c].bias for c in self.labels)
        self._urgent_default = tuple(model.categories[c].urgent_by_default for c in self.labels)
        self._other = self.labels.index(OTHER) if OTHER in self.labels else -1
        self._consult = self.labels.index(CONSULT) if CONSULT in self.labels else -1
        # feature -> its weight in every category (a tuple in label order, mostly zeros): one dict lookup per
        # feature, and summing the found tuples column-wise scores every category at once.
        learned: dict[str, list[tuple[int, float]]] = {}
        curated: dict[str, list[tuple[int, float]]] = {}
        for i, code in enumerate(self.labels):
            cat = model.categories[code]
            for kw, w in cat.keywords.items():
                learned.setdefault(tokenize.normalize(kw), []).append((i, w))
            for kw, w in cat.curated.items():
                curated.setdefault(tokenize.normalize(kw), []).append((i, w))
        self._learned = {kw: _dense(v, len(self.labels)) for kw, v in learned.items()}
        # The n-gram lengths to look for are those of the "*ab*" keywords in the table, so a hand-added
        # n-gram of any length works too.
        self._ngrams = tuple(sorted({len(kw) - 2 for kw in self._learned if tokenize.is_ngram(kw)}))
        # token -> {feature: weights} of the keywords it brings (itself and its n-grams), or None for a
        # stop-word or punctuation. Filled on first sight of a token, so a message costs one dict lookup per
        # token plus one per pair. Concurrent fills write equal values, so a shared classifier stays safe.
        self._token_cache: dict[str, _TokenEntry | None] = {}
        # Phrase keywords "a b" indexed by their first token: a → {b: ("a b", weights)}, so that finding the
        # phrases of a message is a lookup of each token among the partners of the token before it.
        pairs: dict[str, dict[str, tuple[str, tuple[float, ...]]]] = {}
        for kw, row in self._learned.items():
            if " " in kw and not tokenize.is_ngram(kw):
                first, second = kw.split(" ", 1)
                pairs.setdefault(first, {})[second] = (kw, row)
        self._pairs = pairs
        # Curated keywords are matched as substrings; indexing them by first character makes the scan one dict
        # lookup per character of the message instead of one `in` test per keyword.
        by_first: dict[str, list[tuple[tuple[str, str], tuple[float, ...]]]] = {}
        for kw, v in curated.items():
            by_first.setdefault(kw[0], []).append(((kw, _CURATED), _dense(v, len(self.labels))))
        self._curated = {ch: tuple(sorted(v, key=lambda e: -len(e[0][0]))) for ch, v in by_first.items()}
        self._curated_chars = frozenset(self._curated)
        # Weights of every keyword by its key in a decision (text, or (text, "curated")).
        self._rows: dict[object, tuple[float, ...]] = dict(self._learned)
        self._rows.update(entry for cands in self._curated.values() for entry in cands)

    @classmethod
    def from_file(cls, path: str | Path) -> Classifier:
        """Load any model JSON file."""
        return cls(KeywordModel.load(path))

    @property
    def version(self) -> str:
        """Version of the loaded model."""
        return self.model.version

    def classify(self, text: str) -> Decision:
        """Classify one raw message."""
        norm = tokenize.normalize(text)
        return self._decide(norm, self._segment(norm))

    def classify_tokens(self, tokens: Sequence[str], text: str | None = None) -> Decision:
        """Classify an already segmented message (tokens), e.g. a pre-segmented training corpus."""
        norm = tokenize.normalize(text) if text is not None else "".join(tokens)
        return self._decide(norm, tokens)

    def _token_entry(self, tok: str) -> _TokenEntry | None:
        """The keywords a token brings (itself and its n-grams) and the phrases it can start, or None when the
        token is not content (a stop-word, punctuation or a number)."""
        if tok in tokenize.STOPWORDS or tokenize.is_noise(tok):
            return None
        learned = self._learned
        feats = tokenize.token_features(tok, self._ngrams) if self._ngrams else (tok,)
        hits = [f for f in feats if f in learned]
        total = tuple(map(sum, zip(*(learned[f] for f in hits), strict=True))) if hits else ()
        return frozenset(hits), total, self._pairs.get(tok)

    def _matches(self, norm: str, tokens: Sequence[str]) -> tuple[frozenset, list[tuple[float, ...]]]:
        """Keywords present in the message (each once), and weight rows whose column sums are the keyword part of
        the scores: one pre-added row per token, unless a keyword turned up twice (a repeated token, or an n-gram
        inside two tokens), in which case one row per distinct keyword, so that each keyword counts once.

        Learned keywords are their text; curated keywords, which may share a learned keyword's text, are
        (keyword, "curated") pairs so both count. `self._rows` has the weights of either."""
        sets: list[frozenset[str]] = []
        rows: list[tuple[float, ...]] = []
        phrases: list[str] = []
        cache = self._token_cache
        partners = None  # phrases that the previous content token starts
        for tok in tokens:
            try:
                entry = cache[tok]
            except KeyError:
                entry = self._token_entry(tok)
                if len(cache) < _TOKEN_CACHE_MAX:
                    cache[tok] = entry
            if entry is None:
                continue
            keys, total, next_partners = entry
            if keys:
                sets.append(keys)
                rows.append(total)
            if partners:
                pair = partners.get(tok)
                if pair:
                    phrases.append(pair[0])
                    rows.append(pair[1])
            partners = next_partners
        # The distinct keywords: one set union at the end is a third of the cost of merging per token (the
        # token entries are out of the CPU caches right after jieba's dictionary walk).
        found = _EMPTY.union(*sets, phrases)
        if len(found) != len(rows) - len(sets) + sum(map(len, sets)):
            table = self._rows
            rows = [table[k] for k in found]
        if self._curated and not self._curated_chars.isdisjoint(norm):
            curated = self._curated
            extra = set()
            for i, ch in enumerate(norm):
                cands = curated.get(ch)
                if cands is None:
                    continue
                for key, entry in cands:
                    if key not in extra and norm.startswith(key[0], i):
                        extra.add(key)
                        rows.append(entry)
            if extra:
                found = found.union(extra)
        return found, rows

    def _decide(self, norm: str, tokens: Sequence[str]) -> Decision:
        found, rows = self._matches(norm, tokens)
        # Column sums of the bias and the found weight rows (zip transposes them: one tuple per category).
        scores = tuple(map(sum, zip(self._bias, *rows, strict=False)))  # rows have one weight per category
        top = max(scores)
        # With nothing on topic, a greeting or an unclear message goes to triage rather than being guessed.
        best = self._other if self._other >= 0 and not found else scores.index(top)
        # Confidence = softmax(sharpness * scores / sqrt(n)) of the chosen category: the weights were learned
        # on L2-normalised features, so dividing by sqrt(#keywords found) puts long and short messages on one
        # scale.
        scale = self._sharpness / math.sqrt(max(1, len(found)))
        exp = math.exp
        confidence = exp((scores[best] - top) * scale) / sum([exp((s - top) * scale) for s in scores])
        reasons = urgency_reasons(norm)
        needs_triage = confidence < self._threshold or best == self._other
        if self._urgent_default[best] and not needs_triage:
            # Only a confident category is urgent by default; a guess (e.g. a lone 楼道) goes to triage instead.
            # Explicit danger (fire, gas, someone trapped …) is urgent through the rules above whatever the score.
            reasons = (*reasons, f"{self._names[best]}类默认紧急")
        code = self.labels[best]
        return Decision(
            code,
            self._names[best],
            confidence,
            bool(reasons),
            reasons,
            needs_triage,
            best == self._consult,
            self._version,
            self.labels,
            scores,
            found,
            self._rows,
        )


_CURATED = "curated"
_EMPTY: frozenset[object] = frozenset()
# A token's learned keywords (itself and its n-grams), their weights added up, and the phrases it starts
# {next token: (phrase, weights)}.
_TokenEntry = tuple[frozenset[str], tuple[float, ...], dict[str, tuple[str, tuple[float, ...]]] | None]


def _dense(pairs: Sequence[tuple[int, float]], n: int) -> tuple[float, ...]:
    """(category index, weight) pairs as one weight per category."""
    row = [0.0] * n
    for i, w in pairs:
        row[i] += w
    return tuple(row)


def _weight_magnitude(kv: tuple[str, float]) -> float:
    """Sort key: strongest keyword (by absolute weight) first."""
    return -abs(kv[1])


_TOKEN_CACHE_MAX = 200_000  # distinct tokens remembered per classifier; bounds memory on odd input

_default: Classifier | None = None
_default_lock = threading.Lock()


def default_classifier() -> Classifier:
    """The process-wide classifier of the shipped community model (loaded and warmed on first use)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                tokenize.warm()
                _default = Classifier(load_default())
    return _default


def warm() -> None:
    """Initialise jieba and the default model; web and worker processes call this at start-up."""
    default_classifier()


def classify(text: str) -> Decision:
    """Classify with the default community model."""
    return default_classifier().classify(text)
