"""Classify a resident message: category, confidence, urgency and the keywords that decided it."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import jieba

from nlp import tokenize
from nlp.model import KeywordModel, load_default
from nlp.taxonomy import CONSULT, OTHER
from nlp.urgency import Urgency, assess


class Decision(NamedTuple):
    """The outcome of classifying one message, with everything needed to audit it (immutable).

    A named tuple rather than a frozen dataclass: one is built per message, and a frozen dataclass's
    constructor costs as much as the urgency rules. `keywords` and `scores` are derived on access from the
    tokens and the score row: most callers read only the category and the flags."""

    category: str
    label: str
    confidence: float
    urgent: bool
    urgency_reasons: tuple[str, ...]  # the danger kinds and the words that made it urgent (empty if not)
    needs_triage: bool
    is_consultation: bool  # service-centre questions are answered rather than dispatched
    model_version: str
    labels: tuple[str, ...]  # category codes in score-row order
    score_row: tuple[float, ...]  # bias + matched weights, one per category
    norm: str  # the normalised text
    tokens: Sequence[str]  # its jieba tokens
    scale: float  # sharpness / sqrt(keywords found): the softmax scale of the confidence
    source: Classifier  # the classifier that decided, which re-derives the keywords on request
    urgency: Urgency  # the urgency detector's decision, with every signal and discount it weighed

    def __repr__(self) -> str:
        # Not the default: that would print every token and the classifier.
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
        """The keywords that decided it, strongest first: each matched keyword's contribution to the chosen
        category (its weight in the table times the times it occurs); a curated keyword with the same text as a
        learned one is shown once, weights added."""
        combined: dict[str, float] = {}
        for kw, w in self.source.contributions(self.norm, self.tokens, self.labels.index(self.category)):
            combined[kw] = round(combined[kw] + w, 4) if kw in combined else w
        return tuple(sorted(((k, w) for k, w in combined.items() if w), key=_weight_magnitude))

    @property
    def suggestions(self) -> tuple[tuple[str, str, float], ...]:
        """Up to two likeliest categories other than `other` that some keyword speaks for (score above zero),
        as (code, label, share of confidence), best first: what staff see when the message is in triage."""
        scores = self.score_row
        top = max(scores)
        weights = [math.exp((s - top) * self.scale) for s in scores]
        total = sum(weights)
        ranked = sorted(
            (i for i, code in enumerate(self.labels) if code != OTHER and scores[i] > 0),
            key=lambda i: (-scores[i], i),
        )[:SUGGESTIONS]
        names = self.source._names
        return tuple((self.labels[i], names[i], weights[i] / total) for i in ranked)

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
            "urgency_score": round(self.urgency.score, 3) if self.urgency.signal else None,
            "needs_triage": self.needs_triage,
            "suggestions": [[code, label, round(share, 4)] for code, label, share in self.suggestions],
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
        n = len(self.labels)
        self._names = tuple(model.categories[c].label for c in self.labels)
        # The bias row with a last column for the keyword count (see _TokenEntry).
        self._bias = (*(model.categories[c].bias for c in self.labels), 0)
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
        self._learned = {kw: _dense(v, n) for kw, v in learned.items()}
        # The n-gram lengths to look for are those of the "*ab*" keywords in the table, so a hand-added
        # n-gram of any length works too.
        self._ngrams = tuple(sorted({len(kw) - 2 for kw in self._learned if tokenize.is_ngram(kw)}))
        # token -> what it brings (its keywords' weights added up, and the phrases it starts), None for a
        # stop-word or punctuation. Filled on first sight of a token, so a message costs one dict lookup per
        # token plus one per phrase. Concurrent fills write equal values, so a shared classifier stays safe.
        self._token_cache: dict[str, _TokenEntry | None] = {}
        # Phrase keywords "a b" indexed by their first token: a → {b: weights + (1,)}, so that finding the
        # phrases of a message is a lookup of each token among the partners of the token before it.
        pairs: dict[str, dict[str, tuple[float, ...]]] = {}
        for kw, row in self._learned.items():
            if " " in kw and not tokenize.is_ngram(kw):
                first, second = kw.split(" ", 1)
                pairs.setdefault(first, {})[second] = (*row, 1)
        self._pairs = pairs
        # Curated keywords are matched as substrings; indexing them by first character makes the scan one dict
        # lookup per character of the message instead of one `in` test per keyword.
        by_first: dict[str, list[tuple[str, tuple[float, ...]]]] = {}
        for kw, v in curated.items():
            by_first.setdefault(kw[0], []).append((kw, (*_dense(v, n), 1)))
        self._curated = {ch: tuple(sorted(v, key=lambda e: -len(e[0]))) for ch, v in by_first.items()}
        self._curated_chars = frozenset(self._curated)

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
        """What a token brings: the weights of its keywords (itself and its n-grams, each occurrence) added up
        with their count in a last column, and the phrases it starts; None when the token is not content (a
        stop-word, punctuation or a number)."""
        if not _is_content(tok):
            return None
        learned = self._learned
        feats = tokenize.token_features(tok, self._ngrams) if self._ngrams else (tok,)
        hits = [learned[f] for f in feats if f in learned]
        total = (*map(sum, zip(*hits, strict=True)), len(hits)) if hits else None
        partners = self._pairs.get(tok)
        return _NOTHING if total is None and partners is None else (total, partners)

    def _rows(self, norm: str, tokens: Sequence[str]) -> list[tuple[float, ...]]:
        """Weight rows whose column sums are the keyword part of the scores, the last column counting the
        keywords: one row per content token (its keywords pre-added), one per phrase, one per curated keyword.

        Every occurrence of a learned keyword counts, as in training (term counts); a curated keyword counts
        once however often it occurs."""
        rows: list[tuple[float, ...]] = []
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
            total, next_partners = entry
            if total is not None:
                rows.append(total)
            if partners:
                pair = partners.get(tok)
                if pair is not None:
                    rows.append(pair)
            partners = next_partners
        if self._curated and not self._curated_chars.isdisjoint(norm):
            rows.extend(row for _, row in self._curated_found(norm))
        return rows

    def _curated_found(self, norm: str) -> list[tuple[str, tuple[float, ...]]]:
        """Curated keywords in the text (each once) with their weight rows."""
        curated = self._curated
        seen: set[str] = set()
        out = []
        for i, ch in enumerate(norm):
            cands = curated.get(ch)
            if cands is None:
                continue
            for kw, row in cands:
                if kw not in seen and norm.startswith(kw, i):
                    seen.add(kw)
                    out.append((kw, row))
        return out

    def contributions(self, norm: str, tokens: Sequence[str], category: int) -> list[tuple[str, float]]:
        """Every keyword occurrence in a message with its weight for one category (by index), in text order:
        the explanation of a score, derived from the table the slow and obvious way."""
        out = []
        learned = self._learned
        prev = ""
        for tok in tokens:
            if not _is_content(tok):
                continue
            feats = tokenize.token_features(tok, self._ngrams) if self._ngrams else [tok]
            if prev:
                feats.append(prev + " " + tok)
            out += [(f, learned[f][category]) for f in feats if f in learned]
            prev = tok
        out += [(kw, row[category]) for kw, row in self._curated_found(norm)]
        return out

    def _decide(self, norm: str, tokens: Sequence[str]) -> Decision:
        rows = self._rows(norm, tokens)
        # Column sums of the bias and the weight rows (zip transposes them: one tuple per category), and the
        # keyword count in the last column.
        sums = tuple(map(sum, zip(self._bias, *rows, strict=False)))  # rows have one weight per category
        n = sums[-1]
        scores = sums[:-1]
        top = max(scores)
        # With nothing on topic, a greeting or an unclear message goes to triage rather than being guessed.
        best = self._other if self._other >= 0 and not n else scores.index(top)
        # Confidence = softmax(sharpness * scores / sqrt(n)) of the chosen category: the weights were learned
        # on L2-normalised features, so dividing by sqrt(#keywords found) puts long and short messages on one
        # scale.
        scale = self._sharpness / math.sqrt(max(1, n))
        exp = math.exp
        confidence = exp((scores[best] - top) * scale) / sum([exp((s - top) * scale) for s in scores])
        needs_triage = confidence < self._threshold or best == self._other
        # Urgency is its own detector and no category is urgent by default: danger happening now is urgent
        # whatever the category, and an urgent decision takes the 24-hour path in services/.
        urgency = assess(norm)
        return Decision(
            self.labels[best],
            self._names[best],
            confidence,
            urgency.urgent,
            urgency.reasons,
            needs_triage,
            best == self._consult,
            self._version,
            self.labels,
            scores,
            norm,
            tokens,
            scale,
            self,
            urgency,
        )


# What a content token brings: the weights of its learned keywords (itself and its n-grams) added up, one per
# category plus their count as a last column (None when it has none), and the phrases it starts
# {next token: phrase weights + (1,)} (None when it starts none).
_TokenEntry = tuple[tuple[float, ...] | None, dict[str, tuple[float, ...]] | None]
_NOTHING: _TokenEntry = (None, None)  # a content token without keywords: it still separates phrases


def _is_content(tok: str) -> bool:
    """A token that can carry keywords: not a stop-word, punctuation or a number."""
    return tok not in tokenize.STOPWORDS and not tokenize.is_noise(tok)


def _dense(pairs: Sequence[tuple[int, float]], n: int) -> tuple[float, ...]:
    """(category index, weight) pairs as one weight per category."""
    row = [0.0] * n
    for i, w in pairs:
        row[i] += w
    return tuple(row)


def _weight_magnitude(kv: tuple[str, float]) -> float:
    """Sort key: strongest keyword (by absolute weight) first."""
    return -abs(kv[1])


SUGGESTIONS = 2  # categories suggested to staff for a message in triage
_TOKEN_CACHE_MAX = 200_000  # distinct tokens remembered per classifier; bounds memory on odd input

# The model in service: the shipped community model, or the file a community installed (`hongguan nlp install`)
# at the configured path (HONGGUAN_NLP_MODEL). Web and worker processes look at the file's stat at most once per
# `check_interval` seconds and load a changed file whole before swapping it in, so a new model goes into service
# without a restart and a bad file is never half-loaded: the classifier in service stays until one loads.
log = logging.getLogger(__name__)
CHECK_INTERVAL = 1.0


class _InService:
    """The process's classifier in service and where it comes from."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.path: Path | None = None
        self.check_interval = CHECK_INTERVAL
        self.classifier: Classifier | None = None
        self.source = "shipped"  # "shipped" | "file"
        self.stamp: tuple[int, int, int] | None = None  # (inode, size, mtime_ns) of the file last looked at
        self.next_check = 0.0
        self.shipped: Classifier | None = None


_service = _InService()


def configure(path: str | Path | None, *, check_interval: float = CHECK_INTERVAL) -> None:
    """Serve the model file at `path` (None or "": the shipped model); reloaded when the file changes."""
    new_path = Path(path).absolute() if path else None
    with _service.lock:
        if new_path == _service.path and check_interval == _service.check_interval:
            return
        _service.path = new_path
        _service.check_interval = check_interval
        _service.stamp = None
        _service.next_check = 0.0
        if new_path is None and _service.shipped is not None:
            _service.classifier, _service.source = _service.shipped, "shipped"


def _shipped() -> Classifier:
    if _service.shipped is None:
        tokenize.warm()
        _service.shipped = Classifier(load_default())
    return _service.shipped


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _refresh(now: float) -> Classifier:
    """Under the lock: look at the configured file and swap in its model when it changed and loads."""
    svc = _service
    svc.next_check = now + svc.check_interval
    path = svc.path
    if path is None:
        svc.classifier, svc.source = _shipped(), "shipped"
        return svc.classifier
    stamp = _stamp(path)
    if svc.classifier is not None and stamp == svc.stamp:
        return svc.classifier
    svc.stamp = stamp
    if stamp is None:
        # Not installed yet (or removed): the shipped model serves until a model file is there.
        if svc.source != "shipped" or svc.classifier is None:
            log.info("nlp model file %s absent: serving the shipped model", path)
        svc.classifier, svc.source = _shipped(), "shipped"
        return svc.classifier
    try:
        loaded = Classifier.from_file(path)
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        # A file written in place by hand and caught mid-write, or a bad edit: keep serving what was serving.
        if svc.classifier is None:
            svc.classifier, svc.source = _shipped(), "shipped"
        log.warning("nlp model file %s does not load (%s): keeping model %s", path, exc, svc.classifier.version)
        return svc.classifier
    log.info("nlp model %s in service from %s", loaded.version, path)
    svc.classifier, svc.source = loaded, "file"
    return loaded


def default_classifier() -> Classifier:
    """The process-wide classifier in service: the installed model file when one is configured and loads, else
    the shipped community model (loaded and warmed on first use; the file is re-checked at most once a second)."""
    clf = _service.classifier
    if clf is not None and (_service.path is None or time.monotonic() < _service.next_check):
        return clf
    with _service.lock:
        now = time.monotonic()
        if _service.classifier is not None and now < _service.next_check:
            return _service.classifier
        return _refresh(now)


def in_service() -> tuple[Classifier, str]:
    """The classifier in service in this process and its source: "shipped" or "file" (the installed model)."""
    clf = default_classifier()
    with _service.lock:  # the pair as one: not a classifier of one reload with the source of the next
        return (_service.classifier or clf), _service.source


def warm() -> None:
    """Initialise jieba and the default model; web and worker processes call this at start-up."""
    default_classifier()


def classify(text: str) -> Decision:
    """Classify with the default community model."""
    return default_classifier().classify(text)
