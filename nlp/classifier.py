"""Classify a resident message into a category with a confidence, an urgency and the keywords that decided it."""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nlp import tokenize
from nlp.model import KeywordModel, load_default
from nlp.taxonomy import CONSULT, OTHER
from nlp.urgency import urgency_reasons


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of classifying one message, with everything needed to audit it."""

    category: str
    label: str
    confidence: float
    keywords: tuple[tuple[str, float], ...]
    scores: dict[str, float]
    urgent: bool
    urgency_reasons: tuple[str, ...]
    needs_triage: bool
    is_consultation: bool  # service-centre questions are answered rather than dispatched
    model_version: str

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form, for storing the decision with the appeal."""
        return {
            "category": self.category,
            "label": self.label,
            "confidence": round(self.confidence, 4),
            "keywords": [[kw, w] for kw, w in self.keywords],
            "scores": dict(self.scores),
            "urgent": self.urgent,
            "urgency_reasons": list(self.urgency_reasons),
            "needs_triage": self.needs_triage,
            "is_consultation": self.is_consultation,
            "model_version": self.model_version,
        }

    def explain(self, limit: int = 6) -> str:
        """One line such as "消防安全 because 飞线充电 (+2.1), 楼道 (+0.8)"."""
        if not self.keywords:
            return f"{self.label} because no keyword matched"
        parts = ", ".join(f"{kw} ({w:+.1f})" for kw, w in self.keywords[:limit])
        return f"{self.label} because {parts}"


class Classifier:
    """A compiled keyword-weight model; thread-safe to share, since classify() only reads."""

    def __init__(self, model: KeywordModel) -> None:
        self.model = model
        self.labels: tuple[str, ...] = tuple(model.categories)
        self._names = tuple(model.categories[c].label for c in self.labels)
        self._bias = tuple(model.categories[c].bias for c in self.labels)
        self._urgent_default = tuple(model.categories[c].urgent_by_default for c in self.labels)
        self._other = self.labels.index(OTHER) if OTHER in self.labels else -1
        # feature -> ((category index, weight), ...): one dict lookup per token scores every category at once.
        learned: dict[str, list[tuple[int, float]]] = {}
        curated: dict[str, list[tuple[int, float]]] = {}
        for i, code in enumerate(self.labels):
            cat = model.categories[code]
            for kw, w in cat.keywords.items():
                learned.setdefault(tokenize.normalize(kw), []).append((i, w))
            for kw, w in cat.curated.items():
                curated.setdefault(tokenize.normalize(kw), []).append((i, w))
        self._learned = {kw: tuple(v) for kw, v in learned.items()}
        # Curated keywords are matched as substrings; indexing them by first character makes the scan one dict
        # lookup per character of the message instead of one `in` test per keyword.
        by_first: dict[str, list[tuple[str, tuple[tuple[int, float], ...]]]] = {}
        for kw, v in curated.items():
            by_first.setdefault(kw[0], []).append((kw, tuple(v)))
        self._curated = {ch: tuple(sorted(v, key=lambda e: -len(e[0]))) for ch, v in by_first.items()}

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
        return self._decide(norm, tokenize.segment(norm))

    def classify_tokens(self, tokens: Sequence[str], text: str | None = None) -> Decision:
        """Classify an already segmented message (tokens), e.g. a pre-segmented training corpus."""
        norm = tokenize.normalize(text) if text is not None else "".join(tokens)
        return self._decide(norm, tokens)

    def _matches(self, norm: str, tokens: Sequence[str]) -> list[tuple[str, tuple[tuple[int, float], ...]]]:
        """Keywords present in the message with their per-category weights (each keyword once per section)."""
        found: list[tuple[str, tuple[tuple[int, float], ...]]] = []
        learned = self._learned
        seen: set[str] = set()
        prev = ""
        for tok in tokens:
            for feat in (tok, prev + " " + tok) if prev else (tok,):
                entry = learned.get(feat)
                if entry is not None and feat not in seen:
                    seen.add(feat)
                    found.append((feat, entry))
            prev = tok
        if self._curated:
            cseen: set[str] = set()
            curated = self._curated
            for i, ch in enumerate(norm):
                cands = curated.get(ch)
                if cands is None:
                    continue
                for kw, entry in cands:
                    if kw not in cseen and norm.startswith(kw, i):
                        cseen.add(kw)
                        found.append((kw, entry))
        return found

    def _decide(self, norm: str, tokens: Sequence[str]) -> Decision:
        found = self._matches(norm, tokens)
        scores = list(self._bias)
        for _, entry in found:
            for i, w in entry:
                scores[i] += w
        best = max(range(len(scores)), key=scores.__getitem__)
        if self._other >= 0 and not found:
            best = self._other  # nothing on topic: a greeting or an unclear message goes to triage, not a guess
        # Confidence = softmax probability of the chosen category (shifted by the max for numerical safety).
        top = max(scores)
        total = sum(math.exp(s - top) for s in scores)
        confidence = math.exp(scores[best] - top) / total
        contrib: dict[str, float] = {}
        for kw, entry in found:
            for i, w in entry:
                if i == best:
                    contrib[kw] = contrib.get(kw, 0.0) + w
        keywords = tuple(sorted(((k, round(w, 3)) for k, w in contrib.items() if w), key=lambda kv: -abs(kv[1])))
        reasons = urgency_reasons(norm)
        if self._urgent_default[best]:
            reasons = (*reasons, f"{self._names[best]}类默认紧急")
        code = self.labels[best]
        return Decision(
            category=code,
            label=self._names[best],
            confidence=confidence,
            keywords=keywords,
            scores={c: round(s, 4) for c, s in zip(self.labels, scores, strict=True)},
            urgent=bool(reasons),
            urgency_reasons=reasons,
            needs_triage=confidence < self.model.threshold or code == OTHER,
            is_consultation=code == CONSULT,
            model_version=self.model.version,
        )


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
