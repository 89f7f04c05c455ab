"""Composition root: `create_app()` wires configuration, database, Redis and every HTTP surface.

Serve with `gunicorn 'wsgi:create_app()'`. Nothing here connects or reads the environment at import time.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask_openapi3 import Info, OpenAPI

from infra import privacy
from infra.config import load_config
from infra.db import Database
from infra.http import (
    install_input_guards,
    register_domain_errors,
    register_error_handlers,
    validation_error_response,
)
from infra.redis import connect
from infra.web import init_app


def _configure_logging(app: OpenAPI) -> None:
    """Redact phones, rooms and openids from every log line (PIPL: mask personal data in logs)."""
    redactor = privacy.RedactingFilter()
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in root.handlers:
        if not any(isinstance(f, privacy.RedactingFilter) for f in handler.filters):
            handler.addFilter(redactor)
    app.logger.addFilter(redactor)


def _register_blueprints(app: OpenAPI) -> None:
    """Every HTTP surface of hongguan; each area owns its blueprint modules."""
    from bot.views import bp as wechat_bp
    from console import appeals as console_appeals
    from console import cobuilding as console_cobuilding
    from console import reports as console_reports
    from miniapp_api import blueprint as miniapp
    from miniapp_api import routes_cobuilding, routes_events, routes_points, routes_rewards

    app.register_blueprint(wechat_bp)  # /wechat: the official account's server URL
    miniapp.register(app)  # /api/v1: login, notices, the resident's appeals, venue booking
    for area in (routes_events, routes_points, routes_rewards, routes_cobuilding):
        app.register_api(area.bp)  # /api/v1: event signup, volunteer points, rewards, co-building
    console_appeals.register(app)  # /console/api: staff appeal list, workflow steps, recategorise
    console_reports.register(app)  # /console/api: KPIs, weekly reports, 红黑榜; /api/v1/public/kpi
    console_cobuilding.register(app)  # /console/api/cobuilding: 大党委 units, lists, orders, figures


def create_app(config: Mapping[str, Any] | None = None) -> OpenAPI:
    """Build the Flask app: defaults, then HONGGUAN_* environment variables, then `config`."""
    settings = load_config(config)
    app = OpenAPI(
        __name__,
        info=Info(title="hongguan API", version="1"),
        doc_prefix="/api/v1",
        doc_url="/openapi.json",
        validation_error_status=422,
        validation_error_callback=validation_error_response,
        instance_path=settings["INSTANCE_PATH"],
    )
    app.config.update(settings)
    app.config["MAX_CONTENT_LENGTH"] = settings["MAX_CONTENT_LENGTH"]
    app.config["JSON_AS_ASCII"] = False
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # Chinese stays readable in responses
    install_input_guards(app)  # deep JSON and NUL characters get a 4xx before any handler or database sees them
    Path(settings["INSTANCE_PATH"]).mkdir(parents=True, exist_ok=True)

    privacy.configure(settings["PII_KEY"])
    _configure_logging(app)

    redis_url = settings["REDIS_URL"] or f"unix://{Path(settings['INSTANCE_PATH']) / 'redis.sock'}?db=0"
    app.config["REDIS_URL"] = redis_url
    init_app(app, Database(settings["DATABASE_URL"]), connect(redis_url, settings["REDIS_SOCKET_TIMEOUT"]))
    register_error_handlers(app)
    register_domain_errors(app)
    _register_blueprints(app)
    # Load jieba's dictionary and the routing model once per process: under `gunicorn --preload` and in the
    # RQ worker this happens before fork, so the first resident message does not pay ~0.6 s.
    from nlp import classifier

    classifier.warm()
    return app
