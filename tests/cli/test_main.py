"""The `hongguan` command itself: help without building the application, only hongguan's own options."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from cli import main

_PROBE = """
import sys
from cli import main
try:
    main([{args}], prog_name="hongguan")
except SystemExit as e:
    assert e.code == 0, e.code
heavy = sorted(m for m in ("wsgi", "jieba", "sqlalchemy", "redis", "rq") if m in sys.modules)
print("loaded:", ",".join(heavy))
"""


def _loaded_by(*args: str) -> str:
    probe = _PROBE.format(args=", ".join(repr(a) for a in args))
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_help_builds_no_application_and_loads_no_jieba():
    assert _loaded_by("--help") == "loaded:"
    assert _loaded_by("run", "--help") == "loaded:"
    assert _loaded_by("nlp", "--help") == "loaded:"


def test_help_lists_hongguans_commands_and_no_flask_options():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("run", "worker", "scheduler", "chat", "db", "seed-demo", "nlp", "routing", "staff-token"):
        assert f"  {command} " in result.output
    for flask_option in ("--env-file", "--app", "-A,", "--debug"):
        assert flask_option not in result.output
    assert CliRunner().invoke(main, ["-h"]).exit_code == 0


def test_a_command_that_needs_the_app_still_builds_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HONGGUAN_INSTANCE_PATH", str(tmp_path))
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "database is up to date" in result.output
    assert (tmp_path / "hongguan.db").exists()
