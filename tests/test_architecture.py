"""The architecture holds: the import contracts in pyproject.toml, and one list of every blueprint."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import wsgi

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "cli", "console", "infra", "jobs", "miniapp_api", "models", "nlp", "services", "wechat")
BLUEPRINT_FACTORIES = {"Blueprint", "APIBlueprint", "api_blueprint"}


def _modules() -> list[tuple[str, ast.Module]]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            found.append((name, ast.parse(path.read_text(), filename=str(path))))
    return found


def test_import_contracts_hold_no_cycles_and_the_layer_rules():
    # Layers, no cycle between sibling modules (function-local imports included), pure nlp and models,
    # services free of Flask, adapters and jobs: a change that breaks one fails here and in `make lint`.
    # In a process of its own: import-linter configures logging (disabling the loggers already created).
    run = subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports("
         "config_filename='pyproject.toml', no_cache=True, no_logo=True))"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


def test_every_blueprint_is_in_the_one_list_and_registered_only_there():
    listed = wsgi.blueprints()
    defined = []
    for name, tree in _modules():
        for node in tree.body:
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Call)
                and getattr(node.value.func, "id", getattr(node.value.func, "attr", None)) in BLUEPRINT_FACTORIES
            ):
                for target in node.targets:
                    defined.append(getattr(importlib.import_module(name), target.id))  # type: ignore[attr-defined]
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
            attr = getattr(call.func, "attr", None)
            assert attr not in {"register_api", "register_blueprint"}, f"{name} registers a blueprint itself"
    assert len(defined) >= 12
    assert [bp.name for bp in defined if bp not in listed] == []
    assert len({bp.name for bp in listed}) == len(listed)


def test_the_app_serves_every_listed_blueprint(app):
    assert {bp.name for bp in wsgi.blueprints()} <= set(app.blueprints)
