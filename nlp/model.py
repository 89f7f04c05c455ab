"""The keyword-weight model: per category a bias, learned and curated keyword weights (JSON)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

FORMAT = "hongguan-keyword-model/3"
# Format 2 added "*ab*" n-gram keywords, which a format-1 reader would silently never match. Format 3 counts
# every occurrence of a learned keyword (term counts, as the trainer now learns them) where 1 and 2 counted
# each keyword once; a format-2 reader would score a format-3 file's repeated keywords too low, hence the new
# number. Older files still load: their weights are read under the counting rule, which changes a score only
# when a keyword repeats in one message (retrain for the exact trained behaviour).
READABLE_FORMATS = ("hongguan-keyword-model/1", "hongguan-keyword-model/2", FORMAT)
DEFAULT_THRESHOLD = 0.5
DEFAULT_SHARPNESS = 1.0

# Written at the top of every model file so that staff editing it know the rules.
HOW_IT_WORKS = [
    "score(category) = bias + sum of the weights of the keywords the message contains; a learned keyword counts "
    "each time it occurs, a curated one once.",
    "The answer is the best-scoring category; confidence = softmax(sharpness * scores / sqrt(n))[best], "
    "n = the "
    "number of keywords found, counted the same way (at least 1): the weights were learned on length-normalised "
    "features, and 'sharpness' was fitted on held-out training data.",
    "'keywords' are learned: a word is a jieba token of the message, a phrase 'a b' is two adjacent tokens "
    "(after stop-words and punctuation are removed), and '*ab*' is a character n-gram found inside any token "
    "('*充电*' matches 飞线充电 and 充电桩).",
    "'curated' keywords are written by hand and match anywhere in the text as a substring, "
    "so any phrase works "
    "without retraining; their weight is added to the learned weight of the same category.",
    "Below 'threshold' confidence, or for category 'other', the appeal goes to the grid for human triage.",
]


@dataclass(slots=True)
class CategoryWeights:
    """Bias and keyword weights of one category."""

    label: str
    bias: float = 0.0
    keywords: dict[str, float] = field(default_factory=dict)  # learned from labelled data
    curated: dict[str, float] = field(default_factory=dict)  # written by hand, matched as substrings


@dataclass(slots=True)
class KeywordModel:
    """A whole model: ordered categories with their weights, the triage threshold and a version."""

    categories: dict[str, CategoryWeights]
    threshold: float = DEFAULT_THRESHOLD
    sharpness: float = DEFAULT_SHARPNESS
    version: str = ""
    meta: dict[str, Any] = field(default_factory=dict)  # how it was trained: data, C, cross-validation score

    def __post_init__(self) -> None:
        if not self.categories:
            raise ValueError("a model needs at least one category")
        if not self.version:
            self.version = "sha-" + self.content_hash()[:12]

    @property
    def labels(self) -> list[str]:
        """Category codes in model order."""
        return list(self.categories)

    def content_hash(self) -> str:
        """SHA-256 of the weights, threshold and labels (not of the version or the metadata)."""
        body = json.dumps(
            {"threshold": self.threshold, "sharpness": self.sharpness, "categories": self._categories_json()},
            ensure_ascii=False,
            sort_keys=True,
        )
        return hashlib.sha256(body.encode()).hexdigest()

    def _categories_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for code, cat in self.categories.items():
            entry: dict[str, Any] = {"label": cat.label, "bias": round(cat.bias, 4)}
            entry["curated"] = _sorted_weights(cat.curated)
            entry["keywords"] = _sorted_weights(cat.keywords)
            out[code] = entry
        return out

    def to_json(self) -> dict[str, Any]:
        """The model as a JSON-ready dict (keywords sorted by weight, strongest first)."""
        return {
            "format": FORMAT,
            "version": self.version,
            "threshold": self.threshold,
            "sharpness": self.sharpness,
            "how_it_works": HOW_IT_WORKS,
            "labels": self.labels,
            "meta": self.meta,
            "categories": self._categories_json(),
        }

    def save(self, path: str | Path) -> None:
        """Write the model as pretty-printed UTF-8 JSON, one keyword per line."""
        text = json.dumps(self.to_json(), ensure_ascii=False, indent=1)
        Path(path).write_text(text + "\n", encoding="utf-8")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> KeywordModel:
        """Build a model from its JSON form, checking the shape so that a bad hand edit fails loudly."""
        if data.get("format", FORMAT) not in READABLE_FORMATS:
            raise ValueError(f"unknown model format {data.get('format')!r}")
        raw = data.get("categories")
        if not isinstance(raw, dict) or not raw:
            raise ValueError("model has no 'categories'")
        order = data.get("labels") or list(raw)
        if sorted(order) != sorted(raw):
            raise ValueError("'labels' and 'categories' name different codes")
        categories = {}
        # Older files may mark a category "urgent_by_default": it is read and ignored, since urgency is decided by
        # the urgency detector alone (nlp/urgency.py), never by the category.
        for code in order:
            entry = raw[code]
            categories[code] = CategoryWeights(
                label=str(entry.get("label", code)),
                bias=float(entry.get("bias", 0.0)),
                keywords=_weights(entry.get("keywords", {}), code),
                curated=_weights(entry.get("curated", {}), code),
            )
        return cls(
            categories=categories,
            threshold=float(data.get("threshold", DEFAULT_THRESHOLD)),
            sharpness=float(data.get("sharpness", DEFAULT_SHARPNESS)),
            version=str(data.get("version", "")),
            meta=dict(data.get("meta", {})),
        )

    @classmethod
    def load(cls, path: str | Path) -> KeywordModel:
        """Read a model JSON file."""
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))


def default_model_text() -> str:
    """The shipped default community model (`nlp/data/community_model.json`) as text."""
    return resources.files("nlp").joinpath("data/community_model.json").read_text(encoding="utf-8")


def load_default() -> KeywordModel:
    """The shipped default community model."""
    return KeywordModel.from_json(json.loads(default_model_text()))


def _weights(raw: Any, code: str) -> dict[str, float]:
    if not isinstance(raw, dict):
        raise ValueError(f"keywords of {code!r} must be an object of keyword: weight")
    out = {}
    for kw, w in raw.items():
        kw = str(kw).strip()
        if not kw:
            raise ValueError(f"empty keyword in {code!r}")
        out[kw] = float(w)
    return out


def _sorted_weights(weights: dict[str, float]) -> dict[str, float]:
    return {kw: round(w, 4) for kw, w in sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))}
