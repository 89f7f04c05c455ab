"""Composition root: `create_app()` wires configuration, database, Redis and every HTTP surface.

Serve with `gunicorn 'wsgi:create_app()'`. Nothing here connects or reads the environment at import time.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, redirect
from flask_openapi3 import APIBlueprint, Info, OpenAPI

from infra import privacy
from infra.config import load_config
from infra.db import Database
from infra.http import (
    error_response,
    install_input_guards,
    register_error_handlers,
    validation_error_response,
)
from infra.redis import connect
from infra.web import add_health_check, init_app
from services.errors import DomainError


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


def blueprints() -> list[Blueprint]:
    """Every HTTP surface of hongguan, in registration order: the one list of blueprints."""
    from bot.views import bp as wechat_bp
    from console.appeals import bp as console_appeals_bp
    from console.cobuilding import bp as console_cobuilding_bp
    from console.nlp_model import bp as console_nlp_model_bp
    from console.pages import bp as console_pages_bp
    from console.pages.public import bp as public_pages_bp
    from console.participation import bp as console_participation_bp
    from console.party import bp as console_party_bp
    from console.reports import bp as console_reports_bp
    from console.reports import public_bp as public_kpi_bp
    from console.volunteers import bp as console_volunteers_bp
    from infra.web import health_bp
    from miniapp_api.routes_appeals import bp as appeals_bp
    from miniapp_api.routes_auth import bp as auth_bp
    from miniapp_api.routes_cobuilding import bp as cobuilding_bp
    from miniapp_api.routes_events import bp as events_bp
    from miniapp_api.routes_notices import bp as notices_bp
    from miniapp_api.routes_participation import bp as participation_bp
    from miniapp_api.routes_party import bp as party_bp
    from miniapp_api.routes_points import bp as points_bp
    from miniapp_api.routes_rewards import bp as rewards_bp
    from miniapp_api.routes_venues import bp as venues_bp
    from miniapp_api.routes_volunteers import bp as volunteers_bp

    return [
        health_bp,  # /healthz: database, Redis, failed pushes
        wechat_bp,  # /wechat: the official account's server URL
        auth_bp,  # /api/v1: mini-program login
        notices_bp,  # /api/v1: notices and read receipts
        appeals_bp,  # /api/v1: the resident's appeals
        venues_bp,  # /api/v1: venue booking
        events_bp,  # /api/v1: event signup
        points_bp,  # /api/v1: volunteer points
        rewards_bp,  # /api/v1: rewards
        participation_bp,  # /api/v1: micro-project proposals, ballots, results, funded projects
        volunteers_bp,  # /api/v1: volunteer applications, my page, posts, call-ups and shift sign-up
        party_bp,  # /api/v1: 党员报到, my households, 先锋日志
        cobuilding_bp,  # /api/v1: 大党委 co-building: resources, needs, one-click orders
        console_appeals_bp,  # /console/api: staff appeal list, workflow steps, recategorise
        console_reports_bp,  # /console/api: KPIs, weekly reports, 红黑榜
        console_volunteers_bp,  # /console/api: volunteer applications, teams, posts, call-ups
        console_party_bp,  # /console/api: 党员报到, 联户, 先锋日志, 行动支部, tags, monthly awards
        console_cobuilding_bp,  # /console/api/cobuilding: 大党委 units, lists, orders, figures
        console_participation_bp,  # /console/api/participation: screening, ballots, projects, 议事会
        console_nlp_model_bp,  # /console/api/nlp/model: the classification model in service
        console_pages_bp,  # /console/: the staff console's web pages (sign-in, inbox, appeal, intake, reports)
        public_kpi_bp,  # /api/v1/public/kpi
        public_pages_bp,  # /public/rankings: the public 红黑榜 page (aggregates only)
    ]


def _register_blueprints(app: OpenAPI) -> None:
    """Register `blueprints()` and declare the bearer schemes their operations refer to."""
    from console.auth import SECURITY_SCHEMES as STAFF_SCHEMES
    from console.pages import web as console_web
    from miniapp_api.blueprint import API_PREFIX
    from miniapp_api.blueprint import SECURITY_SCHEMES as MINIAPP_SCHEMES

    console_web.install(app)  # CSRF, cookie flags and security headers for the pages
    app.security_schemes = {**(app.security_schemes or {}), **MINIAPP_SCHEMES, **STAFF_SCHEMES}
    for bp in blueprints():
        if isinstance(bp, APIBlueprint):
            app.register_api(bp)
        else:
            app.register_blueprint(bp)
    # Swagger UI lives at /api/v1/swagger and loads its assets relative to that URL, so the slashed form is
    # redirected rather than served (served, its relative asset links would point one folder too deep).
    app.add_url_rule(f"{API_PREFIX}/swagger/", "swagger_slash", lambda: redirect(f"{API_PREFIX}/swagger", code=308))


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
    # The model in service is the file at NLP_MODEL when one is installed there, re-checked at most once a second.
    from nlp import classifier

    classifier.configure(settings["NLP_MODEL"] or None)
    classifier.warm()
    add_health_check(app, "nlp_model", lambda _session: classifier.in_service()[0].version)
    return app


def register_domain_errors(app: Flask) -> None:
    """Map services.errors.DomainError to the JSON error shape with its status."""

    @app.errorhandler(DomainError)
    def _domain_error(e: DomainError) -> Response:
        return error_response(e.status, e.code, e.message, e.details)
