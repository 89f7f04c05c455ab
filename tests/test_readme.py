"""The README names the two commands first and documents every setting the code reads."""

from __future__ import annotations

import re
from pathlib import Path

from infra.config import SETTINGS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_documented():
    missing = [key for key in SETTINGS if f"`HONGGUAN_{key}`" not in README]
    assert missing == []


def test_every_setting_read_by_the_code_is_declared():
    read = set()
    for path in ROOT.glob("[a-z]*/**/*.py"):
        if ".venv" in path.parts or "tests" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        read |= set(re.findall(r"config(?:\.get\(|\[)\"([A-Z][A-Z0-9_]{3,})\"", text))
    assert len(read) > 10  # the scan does find the settings the code reads
    undeclared = read - set(SETTINGS) - {"TESTING", "RQ_SYNC", "MAX_CONTENT_LENGTH", "JSON_AS_ASCII"}
    assert undeclared == set()


def test_every_declared_setting_is_read_by_the_code():
    """A documented setting nothing reads misleads whoever sets it."""
    code = ""
    for path in ROOT.glob("[a-z]*/**/*.py"):
        if ".venv" in path.parts or "tests" in path.parts or "migrations" in path.parts:
            continue
        code += path.read_text(encoding="utf-8")
    code += (ROOT / "wsgi.py").read_text(encoding="utf-8")
    unread = []
    for key in SETTINGS:
        uses = len(re.findall(rf"[\"']{key}[\"']", code))
        declarations = len(re.findall(rf"^    \"{key}\": \(", code, re.MULTILINE))
        if uses - declarations < 1:
            unread.append(key)
    assert unread == []


def test_the_two_commands_come_first():
    first_section = README.split("\n## ", 2)[1]
    assert "make run" in first_section
    assert "make test" in first_section
