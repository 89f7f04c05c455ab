"""Configuration: built-in defaults, then HONGGUAN_* environment variables, then an explicit mapping."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ENV_PREFIX = "HONGGUAN_"

# Every setting hongguan reads, with its default and a one-line meaning (the README table is generated
# from the same idea; keep them in step).
SETTINGS: dict[str, tuple[Any, str]] = {
    "ENV": ("development", "development | production; production refuses to start without real secrets"),
    "INSTANCE_PATH": ("instance", "directory for the SQLite file, embedded Redis data, reports and logs"),
    "DATABASE_URL": ("", "SQLAlchemy URL; empty means sqlite:///<INSTANCE_PATH>/hongguan.db"),
    "REDIS_URL": ("", "redis:// URL; empty under `hongguan run` means an embedded Redis under INSTANCE_PATH"),
    "REDIS_SOCKET_TIMEOUT": (0.5, "seconds; kept far below WeChat's 5 s budget so a hung Redis degrades"),
    "SECRET_KEY": ("dev-secret-change-me", "signs session tokens and QR codes"),
    "PII_KEY": ("dev-pii-key-change-me", "keys the HMAC used to pseudonymise openids in logs"),
    "WECHAT_APPID": ("wx-sandbox-appid", "official account AppID"),
    "WECHAT_SECRET": ("sandbox-secret", "official account AppSecret"),
    "WECHAT_TOKEN": ("hongguan-dev-token", "server-config Token used in signatures"),
    "WECHAT_AES_KEY": ("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "43-char EncodingAESKey (safe mode)"),
    "WECHAT_PREVIOUS_AES_KEY": ("", "the key before the last rotation, tried when decryption fails"),
    "WECHAT_ACCOUNT_ID": ("gh_hongguan_dev", "the official account's gh_ id (ToUserName)"),
    "WECHAT_API_BASE": ("", "base URL of WeChat's API; empty means https://api.weixin.qq.com"),
    "WECHAT_TIMEOUT": (5.0, "seconds for each outbound WeChat call (connect and read)"),
    "MINIAPP_APPID": ("wx-sandbox-miniapp", "mini-program AppID"),
    "MINIAPP_SECRET": ("sandbox-miniapp-secret", "mini-program AppSecret"),
    "WECHAT_CS_WINDOW_HOURS": (48, "hours after a resident's last message when customer-service sends work"),
    "WECHAT_CS_BUDGET": (5, "customer-service messages per window (WeChat has changed it: was 20, now 5)"),
    "WECHAT_TEMPLATE_NOTICE": ("sandbox-tpl-notice", "OA template id: resident notices outside the window"),
    "WECHAT_TEMPLATE_STAFF_TASK": ("sandbox-tpl-staff-task", "OA template id: staff task notifications"),
    "MINIAPP_TEMPLATE_NOTICE": ("", "mini-program subscribe template id for resident notices; empty: unused"),
    "MINIAPP_STATE": ("formal", "developer | trial | formal: the mini-program version a subscribe msg opens"),
    "WECHAT_TOKEN_MIN_TTL": (1800, "seconds; the token refresher renews the access token below this"),
    "MINIAPP_SESSION_TTL": (7 * 24 * 3600, "seconds a mini-program session token stays valid"),
    "STAFF_TOKEN_TTL": (30 * 24 * 3600, "seconds a staff console token stays valid (`hongguan staff-token --ttl`)"),
    "CONSOLE_COOKIE_SECURE": (True, "console cookies are Secure; false only on the plain-HTTP dev server"),
    "CONSOLE_SESSION_IDLE": (2 * 3600, "seconds a console browser session lives without a request"),
    "CONSOLE_SESSION_ABSOLUTE": (12 * 3600, "seconds a console browser session lives at most, however active"),
    "CONSOLE_SIGNIN_PER_MINUTE": (10, "console sign-in attempts (link, QR) allowed per client address and minute"),
    "MINIAPP_TEMPLATE_BOOKING_REMINDER": ("", "mini-program subscribe template id: reminder before a booked slot"),
    "MINIAPP_TEMPLATE_BOOKING_OFFER": ("", "mini-program subscribe template id: a waitlist place is offered"),
    "BOOKING_STRIKE_LIMIT": (3, "no-shows within the strike window that block booking"),
    "BOOKING_STRIKE_WINDOW_DAYS": (60, "days over which no-show strikes count"),
    "BOOKING_BAN_DAYS": (14, "days a resident cannot book after reaching the strike limit"),
    "BOOKING_OFFER_MINUTES": (30, "minutes a waitlisted resident has to confirm an offered place"),
    "BOOKING_REMINDER_MINUTES": (120, "minutes before a booked slot that the reminder is sent"),
    "APPEAL_AUTO_CLOSE_HOURS": (72, "hours after resolution without a rating before an appeal closes as resolved"),
    "APPEAL_REOPEN_DAYS": (7, "days after resolution during which the resident may reopen"),
    "APPEAL_CHASE_HOURS": (24, "hours between two chases (催办) of one appeal"),
    "DEFAULT_COMMUNITY": ("", "community code for appeals whose place and unit name none; empty: the only one"),
    "INBOUND_RELAY_INTERVAL": (0.25, "seconds between the relay's polls for stored messages to hand to RQ"),
    "TIMESTAMP_WINDOW": (300, "seconds a push or URL verification (GET) timestamp may differ from now (replay window)"),
    "MAX_CONTENT_LENGTH": (64 * 1024, "largest request body accepted, bytes"),
    "NLP_MODEL": ("", "model file in service (`hongguan nlp install` writes it; reloaded within 1 s); empty: shipped"),
}

# Secrets that must be set explicitly in production (the defaults above are for development only).
PRODUCTION_REQUIRED = (
    "DATABASE_URL",
    "REDIS_URL",
    "SECRET_KEY",
    "PII_KEY",
    "WECHAT_APPID",
    "WECHAT_SECRET",
    "WECHAT_TOKEN",
    "WECHAT_AES_KEY",
    "MINIAPP_APPID",
    "MINIAPP_SECRET",
)


class ConfigError(RuntimeError):
    """Raised when the configuration cannot run the service."""


def _coerce(default: Any, raw: str) -> Any:
    """Parse an environment string into the type of its default (tokens stay strings)."""
    if isinstance(default, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    return raw


def load_config(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> dict:
    """Return the settings: defaults, then HONGGUAN_* variables, then `overrides`."""
    env = os.environ if environ is None else environ
    config: dict[str, Any] = {key: default for key, (default, _) in SETTINGS.items()}
    explicit: set[str] = set()
    for key, (default, _) in SETTINGS.items():
        if ENV_PREFIX + key in env:
            config[key] = _coerce(default, env[ENV_PREFIX + key])
            explicit.add(key)
    for key, value in (overrides or {}).items():
        config[key] = value
        explicit.add(key)
    config["INSTANCE_PATH"] = str(Path(config["INSTANCE_PATH"]).absolute())
    if not config["DATABASE_URL"]:
        config["DATABASE_URL"] = f"sqlite:///{Path(config['INSTANCE_PATH']) / 'hongguan.db'}"
    if config["ENV"] not in {"development", "production"}:
        raise ConfigError(f"HONGGUAN_ENV must be development or production, not {config['ENV']!r}")
    if config["ENV"] == "production":
        missing = [ENV_PREFIX + k for k in PRODUCTION_REQUIRED if k not in explicit or not config[k]]
        if missing:
            raise ConfigError("production start-up refused; set these variables: " + ", ".join(missing))
        if config["WECHAT_API_BASE"]:
            raise ConfigError("HONGGUAN_WECHAT_API_BASE points at a sandbox; unset it in production")
    if len(str(config["WECHAT_AES_KEY"])) != 43:
        raise ConfigError("HONGGUAN_WECHAT_AES_KEY must be the 43-character EncodingAESKey")
    return config
