"""Docstrings and comments point only at names that exist: every dotted project name in them resolves."""

from __future__ import annotations

import importlib
import io
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "cli", "console", "infra", "jobs", "miniapp_api", "models", "nlp", "services", "wechat")
DOTTED = re.compile(r"(?<![\w./-])((?:" + "|".join(PACKAGES) + r")(?:\.[A-Za-z_]\w*)+)")
SKIPPED_DIRS = {"migrations"}  # a migration's text describes the schema of its own time


def _prose(path: Path) -> list[tuple[int, str]]:
    """(line, text) of the file's comments and string literals that read as prose (docstrings included)."""
    found = []
    for tok in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
        if tok.type == tokenize.COMMENT or (tok.type == tokenize.STRING and " " in tok.string):
            found.append((tok.start[0], tok.string))
    return found


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def test_every_dotted_name_in_docstrings_and_comments_resolves():
    unresolved = []
    for path in sorted(ROOT.glob("*.py")) + sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")):
        if SKIPPED_DIRS & set(path.relative_to(ROOT).parts):
            continue
        for line, text in _prose(path):
            for dotted in DOTTED.findall(text):
                dotted = dotted.rstrip(".")
                if dotted.endswith(".py") or not _resolves(dotted):
                    unresolved.append(f"{path.relative_to(ROOT)}:{line}: {dotted}")
    assert unresolved == []
