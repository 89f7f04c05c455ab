"""Put a model file in service: check that it loads and classifies, then replace the served file atomically.

Web and worker processes watch the served file (nlp.classifier.configure) and swap a changed one in without a
restart; writing a temporary file beside it and renaming it over the old one means they only ever see the old
file or the whole new one.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

from nlp.classifier import Classifier
from nlp.model import KeywordModel
from nlp.taxonomy import CODES

# Messages every installed model must classify (one per kind of appeal a community sees most): a model that
# raises or answers outside its own categories on them is refused.
PROBES = (
    "小区电梯又坏了，物业一直不来修",
    "楼下垃圾堆了好几天没人清理",
    "晚上广场舞声音太大了",
    "小区门口乱停车堵住了消防通道",
    "请问居住证怎么办理",
    "你好",
)


class ModelRejected(ValueError):
    """The file is not a model that can go into service; nothing was written."""


def check(path: str | Path) -> KeywordModel:
    """The model in `path` if it loads, names only taxonomy categories and classifies the probe messages."""
    try:
        body = Path(path).read_bytes()
    except OSError as exc:
        raise ModelRejected(f"{path}: cannot be read ({exc})") from exc
    return _check(body, str(path))


def _check(body: bytes, path: str) -> KeywordModel:
    try:
        data = json.loads(body.decode("utf-8"))
        model = KeywordModel.from_json(data)
        clf = Classifier(model)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelRejected(f"{path}: not a readable model JSON file ({exc})") from exc
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ModelRejected(f"{path}: not a valid model ({exc})") from exc
    # Routing rules, recategorisation and the reports know the taxonomy's categories only.
    unknown = [code for code in model.labels if code not in CODES]
    if unknown:
        raise ModelRejected(f"{path}: categories outside the taxonomy: {', '.join(unknown)}")
    if len(model.labels) < 2:
        raise ModelRejected(f"{path}: a model in service needs at least two categories")
    for text in PROBES:
        try:
            decision = clf.classify(text)
        except Exception as exc:  # any failure here would be a failure on a resident's message
            raise ModelRejected(f"{path}: classifying {text!r} failed ({exc!r})") from exc
        if decision.category not in model.categories or not math.isfinite(decision.confidence):
            raise ModelRejected(f"{path}: classifying {text!r} gave {decision.category!r} / {decision.confidence}")
    return model


def install(source: str | Path, target: str | Path) -> KeywordModel:
    """Check `source` and write it to `target` atomically (temporary file in the same folder, fsync, rename)."""
    try:
        body = Path(source).read_bytes()
    except OSError as exc:
        raise ModelRejected(f"{source}: cannot be read ({exc})") from exc
    model = _check(body, str(source))  # the bytes checked are the bytes written
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(body)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a crash
    finally:
        os.close(dir_fd)
    return model
