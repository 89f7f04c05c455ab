"""The central access-token refresher (WeChat's "中控服务器"), run by RQ's cron scheduler.

Callers never need it to be running (a cold or expired cache is refreshed on demand under the same lock),
but renewing ahead of expiry keeps the refresh off the request path.
https://developers.weixin.qq.com/doc/service/api/base/api_getstableaccesstoken
"""

from __future__ import annotations

import logging

from flask import current_app

from wechat.client import WeChatAPIError, WeChatUnavailable, miniapp_client, oa_client

log = logging.getLogger(__name__)


def refresh_access_tokens() -> dict[str, bool]:
    """Renew the official-account and mini-program tokens when under WECHAT_TOKEN_MIN_TTL; True = fetched."""
    config = current_app.config
    min_ttl = float(config.get("WECHAT_TOKEN_MIN_TTL", 1800))
    clients = [("oa", oa_client())]
    if config.get("MINIAPP_APPID") and config.get("MINIAPP_SECRET"):
        clients.append(("mp", miniapp_client()))
    refreshed: dict[str, bool] = {}
    errors: list[Exception] = []
    for name, client in clients:
        try:
            refreshed[name] = client.refresh_token_if_needed(min_ttl)
        except (WeChatAPIError, WeChatUnavailable) as e:  # one app failing must not starve the other
            log.error("token refresh for %s failed: %s", name, e)
            errors.append(e)
    if errors:
        raise errors[0]  # the cron run shows as failed; callers still refresh on demand
    return refreshed
