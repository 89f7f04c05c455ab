"""The app factory, health check and URL verification work on a fresh database and a real Redis."""

from __future__ import annotations

import pytest

from infra.config import ConfigError, load_config


def test_healthz_reports_database_and_redis(client):
    body = client.get("/healthz").get_json()
    assert body["database"]["ok"] is True
    assert body["redis"]["ok"] is True
    assert body["inbound"] == {"failed": 0}  # stored pushes waiting for an operator
    assert body["status"] == "ok"


def test_healthz_degrades_when_redis_is_down(client, redis_server):
    redis_server.stop()
    try:
        response = client.get("/healthz")
        assert response.status_code == 200
        assert response.get_json()["status"] == "degraded"
        assert response.get_json()["redis"]["ok"] is False
    finally:
        redis_server.start()


def test_production_refuses_to_start_without_secrets():
    with pytest.raises(ConfigError) as e:
        load_config({"ENV": "production"}, environ={})
    assert "HONGGUAN_WECHAT_TOKEN" in str(e.value)
    assert "HONGGUAN_DATABASE_URL" in str(e.value)


def test_environment_overrides_defaults_and_mapping_overrides_environment():
    env = {"HONGGUAN_WECHAT_TOKEN": "123456", "HONGGUAN_TIMESTAMP_WINDOW": "60"}
    config = load_config({"TIMESTAMP_WINDOW": 30}, environ=env)
    assert config["WECHAT_TOKEN"] == "123456"  # stays a string even though it looks like a number
    assert config["TIMESTAMP_WINDOW"] == 30
    assert load_config(environ=env)["TIMESTAMP_WINDOW"] == 60
