"""jieba segmentation warmed once per process, with the project user dictionary and stop-words."""

from __future__ import annotations

import logging
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from importlib import resources

import jieba

_lock = threading.Lock()
_warm = False

# Tokens that carry no topic: function words, pronouns, politeness and punctuation. Kept short on purpose: the
# linear model gives near-zero weight to uninformative words anyway; this list only keeps the table clean.
_STOPWORD_TEXT = """
的 了 着 过 吗 呢 吧 啊 呀 哦 嘛 么 哈 啦 喔 哇 之 也 还 就 都 又 再 才 很 太 更 最 挺 真 好 把 被 给
让 和 与 及 或 并 而 但 但是 可是 因为 所以 如果 虽然 而且 然后 还有 以及 并且 或者 还是 我 你 他 她 它
我们 你们 他们 她们 大家 自己 这 那 这个 那个 这些 那些 这里 那里 这样 那样 这种 那种 什么 怎么 怎么办
怎样 如何 为什么 哪 哪里 哪儿 谁 多少 是 是不是 有 没 在 从 到 向 对 对于 为 以 于 个 些 点 下 上 里 中
能 会 要 想 可以 可能 应该 已经 一直 一个 一下 一些 现在 今天 请 请问 麻烦 谢谢 您好 你好 希望 能否
能不能 是否 情况 问题 反映 相关 部门 领导 政府 尊敬 非常 十分 特别 一 不 该
"""
STOPWORDS: frozenset[str] = frozenset(_STOPWORD_TEXT.split())
_PUNCT_CATEGORIES = ("P", "S", "Z", "C")  # unicode punctuation, symbols, separators, control characters


def is_noise(token: str) -> bool:
    """True for tokens that are whitespace, punctuation or symbols only, or plain numbers."""
    if token.isdigit():
        return True
    return all(unicodedata.category(ch)[0] in _PUNCT_CATEGORIES for ch in token)


def userdict_words() -> list[str]:
    """Words of the project user dictionary (`nlp/data/userdict.txt`)."""
    text = resources.files("nlp").joinpath("data/userdict.txt").read_text(encoding="utf-8")
    return [line.split()[0] for line in text.splitlines() if line.strip() and not line.startswith("#")]


def warm() -> None:
    """Initialise jieba and load the project user dictionary, once per process (thread-safe, idempotent)."""
    global _warm
    if _warm:
        return
    with _lock:
        if _warm:
            return
        jieba.setLogLevel(logging.WARNING)  # jieba logs its dictionary loading at INFO on every start
        jieba.initialize()
        for word in userdict_words():
            # add_word without a frequency lets jieba pick one high enough to keep the word whole.
            jieba.add_word(word)
        _warm = True


def normalize(text: str) -> str:
    """NFKC-normalise (full-width letters and digits to ASCII) and lower-case, for training and runtime."""
    return unicodedata.normalize("NFKC", text).lower()


_noise_cache: dict[str, bool] = {}


def tokens(text: str) -> list[str]:
    """Content tokens of a message: jieba accurate mode, without stop-words, punctuation and numbers."""
    return segment(normalize(text))


def segment(norm: str) -> list[str]:
    """Content tokens of text that is already normalised with `normalize()`."""
    if not _warm:
        warm()
    out = []
    cache = _noise_cache
    for tok in jieba.lcut(norm):
        if tok in STOPWORDS:
            continue
        noise = cache.get(tok)
        if noise is None:
            noise = is_noise(tok)
            if len(cache) < 200_000:  # caching avoids a unicodedata pass per token; the cap bounds memory
                cache[tok] = noise
        if not noise:
            out.append(tok)
    return out


def pretokenized(text: str) -> list[str]:
    """Content tokens of text that is already segmented with spaces (e.g. the tipdm `train_segmented.csv`)."""
    return [t for t in normalize(text).split() if t not in STOPWORDS and not is_noise(t)]


# Character n-grams of a token are features of their own, written "*充电*" (matched inside any token, so that
# "充电" is found in "飞线充电" and in "充电桩"). The stars keep them apart from the word "充电" in the table.
# Character 2-grams: 4-fold cross-validation on the tipdm training files scored 2-grams alone as well as 2+3-
# or 2+4-grams (short-text macro-F1 0.855 vs 0.854 and 0.853), and they are the cheapest to look up.
NGRAM_LENGTHS: tuple[int, ...] = (2,)


def is_ngram(feature: str) -> bool:
    """True for a character n-gram feature such as "*充电*"."""
    return len(feature) > 2 and feature[0] == "*" and feature[-1] == "*"


def token_features(tok: str, ngrams: Sequence[int] = NGRAM_LENGTHS) -> list[str]:
    """Features of one token: the token itself and its character n-grams ("*ab*") of the given lengths."""
    out = [tok]
    for n in ngrams:
        for i in range(len(tok) - n + 1):
            out.append("*" + tok[i : i + n] + "*")
    return out


def features(toks: Iterable[str], ngrams: Sequence[int] = ()) -> list[str]:
    """Model features of a token list: each token and its character n-grams, plus each adjacent pair "a b"."""
    out: list[str] = []
    prev = ""
    for tok in toks:
        out.extend(token_features(tok, ngrams) if ngrams else (tok,))
        if prev:
            out.append(prev + " " + tok)
        prev = tok
    return out
