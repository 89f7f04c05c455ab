"""The application for the commands that need one, built only when such a command runs.

`hongguan --help`, `run`, `sandbox`, `chat` and `nlp` need no application: building it (database, Redis client,
every blueprint, jieba's dictionary) cost 1.5 s of a 1.6 s `hongguan --help` (docs/benchmarks.md, CLI).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click
from werkzeug.local import LocalProxy

F = TypeVar("F", bound=Callable[..., Any])


def _current_app() -> Any:
    from flask import current_app as flask_current_app

    return flask_current_app._get_current_object()  # type: ignore[attr-defined]


current_app: Any = LocalProxy(_current_app)


def with_appcontext(f: F) -> F:
    """Run the command inside an app context: the caller's (Flask's test CLI runner) or a new `create_app()`."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from flask import has_app_context
        from flask.cli import ScriptInfo

        if has_app_context():
            return f(*args, **kwargs)
        ctx = click.get_current_context()
        info = ctx.find_object(ScriptInfo)
        if info is not None:
            app = info.load_app()
        else:
            from wsgi import create_app

            app = create_app()
        with app.app_context():
            return f(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
