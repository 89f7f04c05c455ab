"""Redis connections with short timeouts: a hung Redis must degrade the webhook, not stall it for 5 s."""

from __future__ import annotations

from redis import Redis


def connect(url: str, socket_timeout: float = 0.5) -> Redis:
    """A client for `url` with sub-second socket timeouts (redis-py defaults to 5 s, WeChat's whole budget)."""
    return Redis.from_url(
        url,
        socket_timeout=socket_timeout,
        socket_connect_timeout=socket_timeout,
        health_check_interval=30,
    )


def connect_for_worker(url: str) -> Redis:
    """A client for RQ workers: they block on BLPOP for long periods, so no short read timeout."""
    return Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)
