"""Matching a co-building need to resources by text: the project's jieba tokens, IDF keyword weights over the
resources being ranked, and the character 2-grams the classifier uses (so "充电" meets "充电桩").

Pure text: the caller (services.cobuilding.matching) chooses the candidates (community served, availability)
and may add its own boosts. Each match names the shared words, the reason shown to staff.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from nlp import tokenize

DATA_DIR = Path(__file__).resolve().parent / "data"
PAIRS_CSV = DATA_DIR / "cobuilding_pairs.csv"
RESOURCES_CSV = DATA_DIR / "cobuilding_resources.csv"

TITLE_WEIGHT = 2.0  # a word of the title says more about a resource than one of its description
NGRAM_WEIGHT = 0.35  # a shared 2-gram inside different words is weaker evidence than a shared word
REASON_WORDS = 4


@dataclass(frozen=True)
class Features:
    """A text's word and 2-gram weights (title words counted double)."""

    words: dict[str, float]
    grams: dict[str, float]


@lru_cache(maxsize=8192)
def _words(text: str) -> tuple[str, ...]:
    return tuple(tokenize.tokens(text))


@lru_cache(maxsize=8192)
def featurize(title: str, description: str = "") -> Features:
    """Word and 2-gram weights of a resource or need text (cached: a resource's text is featurised once)."""
    words: Counter[str] = Counter()
    for w in _words(title):
        words[w] += TITLE_WEIGHT
    for w in _words(description):
        words[w] += 1.0
    grams: Counter[str] = Counter()
    for w, weight in words.items():
        for g in tokenize.token_features(w, (2,))[1:]:
            grams[g] = max(grams[g], weight)
    return Features(dict(words), dict(grams))


@dataclass(frozen=True)
class Match:
    """A ranked resource: its key, score and the shared words that explain it."""

    key: int | str
    score: float
    shared: tuple[str, ...]


class ResourceIndex:
    """IDF-weighted word and 2-gram index over a set of resources, ranked against a need."""

    def __init__(self, docs: Iterable[tuple[int | str, str, str]]) -> None:
        self.keys: list[int | str] = []
        self.features: list[Features] = []
        word_df: Counter[str] = Counter()
        gram_df: Counter[str] = Counter()
        for key, title, description in docs:
            f = featurize(title, description)
            self.keys.append(key)
            self.features.append(f)
            word_df.update(f.words.keys())
            gram_df.update(f.grams.keys())
        n = max(len(self.keys), 1)
        self.word_idf = {w: math.log(1 + n / df) for w, df in word_df.items()}
        self.gram_idf = {g: math.log(1 + n / df) for g, df in gram_df.items()}
        self.norms = [math.sqrt(sum(f.words.values()) + 1.0) for f in self.features]

    def rank(
        self, title: str, description: str = "", *, limit: int = 3, boosts: Sequence[float] | None = None
    ) -> list[Match]:
        """The `limit` best resources for a need text (score > 0 only); `boosts` multiply each resource's score."""
        need = featurize(title, description)
        scored: list[Match] = []
        for i, f in enumerate(self.features):
            shared = [w for w in need.words if w in f.words]
            score = sum(self.word_idf[w] * min(need.words[w], f.words[w]) for w in shared)
            score += NGRAM_WEIGHT * sum(
                self.gram_idf[g] * min(need.grams[g], f.grams[g]) for g in need.grams if g in f.grams
            )
            if score <= 0:
                continue
            score /= self.norms[i]
            if boosts is not None:
                score *= boosts[i]
            shared.sort(key=lambda w: -self.word_idf[w] * f.words[w])
            scored.append(Match(self.keys[i], round(score, 4), tuple(shared[:REASON_WORDS])))
        scored.sort(key=lambda m: (-m.score, str(m.key)))
        return scored[:limit]


def load_catalogue(path: Path = RESOURCES_CSV) -> list[tuple[str, str, str, str]]:
    """The labelled set's resources: (key, kind, title, description)."""
    with path.open(encoding="utf-8") as fh:
        return [(r["key"], r["kind"], r["title"], r["description"]) for r in csv.DictReader(fh)]


def load_pairs(path: Path = PAIRS_CSV) -> list[tuple[str, str]]:
    """The labelled need → right-resource pairs: (need text, resource key)."""
    with path.open(encoding="utf-8") as fh:
        return [(r["need"], r["resource"]) for r in csv.DictReader(fh)]


def top_k_accuracy(
    index: ResourceIndex, pairs: Sequence[tuple[str, str]], k: int = 3
) -> tuple[float, list[tuple[str, str]]]:
    """Share of needs whose right resource is among the top `k`, and the needs it missed."""
    missed = [(need, key) for need, key in pairs if key not in {m.key for m in index.rank(need, limit=k)}]
    return (len(pairs) - len(missed)) / max(len(pairs), 1), missed
