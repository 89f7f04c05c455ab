"""Fixtures of the nlp tests: one warm default classifier per session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# pytest puts tests/ on sys.path (rootdir conftest, no __init__.py), where tests/nlp/ would be imported as a
# namespace package `nlp` that hides the real one, because the editable install's finder runs after sys.path.
# The repository root first on sys.path makes `import nlp` find the real, regular package.
_REPO = str(Path(__file__).resolve().parents[2])
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)
if getattr(sys.modules.get("nlp"), "__file__", "") is None:  # a namespace package imported too early
    del sys.modules["nlp"]

from nlp import classifier  # noqa: E402


@pytest.fixture(scope="session")
def clf() -> classifier.Classifier:
    """The shipped community classifier, warmed once for the whole session."""
    return classifier.default_classifier()
