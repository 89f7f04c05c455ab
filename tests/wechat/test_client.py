"""The WeChat client against the sandbox over real HTTP and real Redis: shared token, one retry, timeouts."""

from __future__ import annotations

import logging
import threading

import pytest

from infra.redis import connect
from infra.web import get_redis
from wechat.client import (
    DeliveryUncertain,
    OutsideServiceWindow,
    WeChatAPIError,
    WeChatClient,
    WeChatUnavailable,
    limit_values,
    miniapp_client,
    oa_client,
)

CUSTOM = "/cgi-bin/message/custom/send"
STABLE = "/cgi-bin/stable_token"


@pytest.fixture
def redis(app):
    return get_redis(app)


def make(sandbox, redis, *, mini=False, timeout=5.0):
    appid, secret = (sandbox.miniapp_appid, sandbox.miniapp_secret) if mini else (sandbox.appid, sandbox.secret)
    return WeChatClient(appid, secret, redis, api_base=sandbox.url, timeout=timeout, name="mp" if mini else "oa")


def test_token_is_shared_between_clients_through_redis(sandbox, redis):
    a, b = make(sandbox, redis), make(sandbox, redis)
    assert a.send_text("oAlice", "一")["errcode"] == 0
    assert b.send_text("oAlice", "二")["errcode"] == 0
    assert a.get_access_token() == b.get_access_token()
    assert sandbox.fetches_for(sandbox.appid) == 1
    assert [s["body"]["text"]["content"] for s in sandbox.sent("oAlice", "custom")] == ["一", "二"]
    assert redis.get(a.token_key).decode() == a.get_access_token()
    assert 6000 < a.token_ttl() <= 7200


def test_eight_cold_callers_make_exactly_one_token_fetch(sandbox, redis):
    clients = [make(sandbox, redis) for _ in range(8)]  # eight processes' worth of clients
    barrier = threading.Barrier(8)
    sandbox.fail(STABLE, delay=0.3)  # a slow token endpoint widens the race window
    tokens, errors = [], []

    def call(client):
        barrier.wait()
        try:
            tokens.append(client.get_access_token())
        except Exception as e:  # collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=call, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(tokens) == 8
    assert len(set(tokens)) == 1
    assert len(sandbox.calls(STABLE)) == 1
    assert sandbox.token_fetches == 0


def test_persistent_40001_refreshes_once_retries_once_then_raises(sandbox, redis):
    client = make(sandbox, redis)
    client.get_access_token()
    sandbox.fail(CUSTOM, errcode=40001, times=None)
    with pytest.raises(WeChatAPIError) as info:
        client.send_text("oBob", "hello")
    assert info.value.errcode == 40001
    assert len(sandbox.calls(CUSTOM)) == 2  # the call and exactly one retry
    forced = [c for c in sandbox.calls(STABLE) if c["body"]["force_refresh"]]
    assert len(forced) == 1  # WeChat kept handing back the refused token, so one forced rotation
    assert len(sandbox.calls(STABLE)) == 3  # initial fetch, normal re-fetch, forced
    assert sandbox.sent() == []


def test_a_storm_of_40001_spends_one_forced_refresh_per_30_seconds(sandbox, redis):
    clients = [make(sandbox, redis) for _ in range(3)]
    sandbox.fail(CUSTOM, errcode=40001, times=None)
    for client in clients:  # three jobs in a row, each seeing a persistent 40001
        with pytest.raises(WeChatAPIError):
            client.send_text("oStorm", "x")
    assert sandbox.forced_refreshes == 1  # WeChat allows 20 a day: they must not be burnt by a storm
    assert len(sandbox.calls(CUSTOM)) == 6  # still exactly one retry per call


def test_expired_token_42001_recovers_with_one_refresh(sandbox, redis):
    client = make(sandbox, redis)
    old = client.get_access_token()
    sandbox.expire_tokens()
    assert client.send_text("oCarol", "hi")["errcode"] == 0
    assert client.get_access_token() != old
    assert len(sandbox.calls(CUSTOM)) == 2
    assert sandbox.forced_refreshes == 0
    assert len(sandbox.sent("oCarol")) == 1


def test_token_rotated_elsewhere_40001_recovers_without_forcing(sandbox, redis):
    client = make(sandbox, redis)
    client.get_access_token()
    sandbox.fail(CUSTOM, errcode=40001, times=1)
    assert client.send_text("oDan", "x")["errcode"] == 0
    # The normal-mode re-fetch returned the same (still valid) token, so one forced rotation was needed.
    assert sandbox.forced_refreshes == 1
    assert len(sandbox.sent("oDan")) == 1


def test_force_refresh_from_a_second_process_reuses_the_first_ones_result(sandbox, redis):
    a, b = make(sandbox, redis), make(sandbox, redis)
    stale = a.get_access_token()
    fresh = a.get_access_token(force_refresh=True)
    assert fresh != stale
    # b saw `stale` rejected too, but a already replaced it: b takes the shared token, no extra fetch.
    before = len(sandbox.calls(STABLE))
    assert b._refresh(rejected=stale) == fresh
    assert len(sandbox.calls(STABLE)) == before


def test_outside_window_is_reported_to_the_caller(sandbox, redis):
    client = make(sandbox, redis)
    sandbox.close_window("oEve")
    with pytest.raises(OutsideServiceWindow) as info:
        client.send_text("oEve", "late answer")
    assert info.value.errcode == 45015
    assert isinstance(info.value, WeChatAPIError)
    assert sandbox.sent("oEve") == []


def test_server_error_is_unavailable(sandbox, redis):
    client = make(sandbox, redis)
    sandbox.fail(CUSTOM, status=502)
    with pytest.raises(WeChatUnavailable):
        client.send_text("oF", "x")
    assert client.send_text("oF", "x")["errcode"] == 0  # the fault was one-off


def test_system_busy_is_unavailable(sandbox, redis):
    client = make(sandbox, redis)
    sandbox.fail(CUSTOM, errcode=-1)
    with pytest.raises(WeChatUnavailable) as info:
        client.send_text("oF", "x")
    assert not isinstance(info.value, DeliveryUncertain)  # "system busy": WeChat did not take it


@pytest.mark.parametrize("status", [500, 502, 504])
def test_a_5xx_after_the_send_reached_wechat_is_uncertain(sandbox, redis, status):
    client = make(sandbox, redis)
    sandbox.fail(CUSTOM, status=status)
    with pytest.raises(DeliveryUncertain):
        client.send_text("oF", "x")


def test_503_proves_the_send_was_not_handled(sandbox, redis):
    client = make(sandbox, redis)
    sandbox.fail(CUSTOM, status=503)
    with pytest.raises(WeChatUnavailable) as info:
        client.send_text("oF", "x")
    assert not isinstance(info.value, DeliveryUncertain)


def test_an_answer_lost_after_the_send_was_accepted_is_uncertain_for_sends_only(sandbox, redis):
    client = make(sandbox, redis, timeout=0.3)
    client.get_access_token()
    sandbox.fail(CUSTOM, delay_after=1.5)  # delivered, then the answer comes too late
    with pytest.raises(DeliveryUncertain, match="timed out"):
        client.send_text("oLate", "x")
    assert len(sandbox.sent("oLate")) == 1
    sandbox.fail("/cgi-bin/user/info", delay_after=1.5)
    with pytest.raises(WeChatUnavailable) as info:  # a read can simply be made again
        client.user_info("oLate")
    assert not isinstance(info.value, DeliveryUncertain)


def test_slow_wechat_times_out_instead_of_hanging(sandbox, redis):
    client = make(sandbox, redis, timeout=0.3)
    client.get_access_token()
    sandbox.fail(CUSTOM, delay=3.0)
    # Without a read timeout the call would succeed once the sandbox's 3 s delay ended; "timed out" proves the
    # client gave up on its own (no wall-clock assertion: the machine's load must not decide the outcome).
    with pytest.raises(WeChatUnavailable, match="timed out"):
        client.send_text("oSlow", "x")


def test_unreachable_wechat_is_unavailable(redis):
    client = WeChatClient("wx-a", "s", redis, api_base="http://127.0.0.1:9", timeout=0.5)
    with pytest.raises(WeChatUnavailable):
        client.send_text("oX", "x")


def test_a_refused_connection_on_a_send_is_a_safe_retry(sandbox, redis):
    client = make(sandbox, redis)
    client.get_access_token()
    client.api_base = "http://127.0.0.1:9"  # nothing listens on the discard port: the connect is refused
    with pytest.raises(WeChatUnavailable, match="connection failed") as info:
        client.send_text("oX", "x")
    assert not isinstance(info.value, DeliveryUncertain)


def test_failed_refresh_makes_waiting_callers_fail_fast_not_pile_on(sandbox, redis):
    sandbox.fail(STABLE, status=503, delay=0.2, times=None)
    clients = [make(sandbox, redis) for _ in range(8)]
    barrier = threading.Barrier(8)
    outcomes = []

    def call(client):
        barrier.wait()
        try:
            client.get_access_token()
            outcomes.append("ok")
        except WeChatUnavailable:
            outcomes.append("unavailable")

    threads = [threading.Thread(target=call, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes == ["unavailable"] * 8
    assert len(sandbox.calls(STABLE)) == 1


def test_wrong_secret_raises_without_looping(sandbox, redis):
    client = WeChatClient(sandbox.appid, "wrong", redis, api_base=sandbox.url)
    with pytest.raises(WeChatAPIError) as info:
        client.send_text("oX", "x")
    assert info.value.errcode == 40125
    assert len(sandbox.calls(STABLE)) == 1
    assert sandbox.calls(CUSTOM) == []


def test_redis_down_still_sends_with_a_process_local_token(sandbox):
    dead = connect("redis://127.0.0.1:9/0", 0.2)  # the app's client settings, pointed at a closed port
    client = make(sandbox, dead)
    assert client.send_text("oR", "1")["errcode"] == 0
    assert client.send_text("oR", "2")["errcode"] == 0
    assert len(sandbox.calls(STABLE)) == 1
    assert sandbox.forced_refreshes == 0
    assert len(sandbox.sent("oR")) == 2


def test_code_to_session_never_sends_an_access_token(sandbox, redis):
    client = make(sandbox, redis, mini=True)
    result = client.code_to_session("alice:1")
    assert result["openid"].startswith("omini")
    assert result["session_key"]
    (call,) = sandbox.calls("/sns/jscode2session")
    assert "access_token" not in call["params"]
    assert call["params"]["grant_type"] == "authorization_code"
    assert sandbox.calls(STABLE) == []
    assert sandbox.token_fetches == 0
    with pytest.raises(WeChatAPIError) as info:
        client.code_to_session("alice:1")
    assert info.value.errcode == 40163
    with pytest.raises(WeChatAPIError) as info:
        client.code_to_session("invalid-code")
    assert info.value.errcode == 40029


def test_mini_program_has_its_own_token_and_subscribe_values_are_truncated(sandbox, redis):
    oa, mp = make(sandbox, redis), make(sandbox, redis, mini=True)
    assert oa.get_access_token() != mp.get_access_token()
    assert oa.token_key != mp.token_key
    data = {"thing1": "社区活动中心一楼多功能厅预约成功请准时到场", "time2": {"value": "2026-11-21 09:00"}}
    assert mp.send_mp_subscribe("oMini", "tplM", data, page="pages/booking/detail?id=1")["errcode"] == 0
    (sent,) = sandbox.sent("oMini", "mp_subscribe")
    thing = sent["body"]["data"]["thing1"]["value"]
    assert len(thing) == 20
    assert thing.endswith("…")
    assert sent["body"]["data"]["time2"] == {"value": "2026-11-21 09:00"}
    assert sent["body"]["miniprogram_state"] == "formal"
    assert sent["body"]["page"].startswith("pages/")


def test_subscribe_without_grant_is_43101(sandbox, redis):
    oa = make(sandbox, redis)
    sandbox.grant_subscribe("oOther", "tplB")  # grants are now enforced
    with pytest.raises(WeChatAPIError) as info:
        oa.send_subscribe("oNoGrant", "tplB", {"thing1": "x"})
    assert info.value.errcode == 43101
    sandbox.grant_subscribe("oNoGrant", "tplB")
    assert oa.send_subscribe("oNoGrant", "tplB", {"thing1": "x"}, page="pages/index")["errcode"] == 0


def test_template_send_returns_msgid_and_client_msg_id_dedupes(sandbox, redis):
    oa = make(sandbox, redis)
    first = oa.send_template("oT", "tplT", {"thing1": "诉求已派单"}, url="https://example.com/a/1", client_msg_id="c1")
    again = oa.send_template("oT", "tplT", {"thing1": "诉求已派单"}, client_msg_id="c1")
    assert first["msgid"] == again["msgid"]
    (sent,) = sandbox.sent("oT", "template")
    assert sent["body"]["data"] == {"thing1": {"value": "诉求已派单"}}
    assert sent["body"]["url"].endswith("/a/1")


def test_user_info(sandbox, redis):
    info = make(sandbox, redis).user_info("oInfo")
    assert info["subscribe"] == 1
    assert info["openid"] == "oInfo"


def test_limit_values_shapes_data():
    data = limit_values({"thing3": "x" * 30, "phrase1": "已经受理完毕", "number2": "1" * 40, "amount4": {"value": 5}})
    assert data["thing3"]["value"] == "x" * 19 + "…"
    assert data["phrase1"]["value"] == "已经受理…"
    assert data["number2"]["value"] == "1" * 40  # numbers are never cut (that would change them)
    assert data["amount4"] == {"value": "5"}


def test_calls_are_logged_with_pseudonyms_never_tokens(sandbox, redis, caplog):
    client = make(sandbox, redis)
    openid = "oPrivacyOpenid1234567890abcd"
    with caplog.at_level(logging.INFO, logger="wechat.client"):
        client.send_text(openid, "hello")
        sandbox.close_window(openid)
        with pytest.raises(OutsideServiceWindow):
            client.send_text(openid, "hello")
    text = caplog.text
    assert openid not in text
    assert client.get_access_token() not in text
    assert sandbox.secret not in text
    assert "errcode=0" in text
    assert "errcode=45015" in text
    assert "elapsed=" in text
    assert "openid=u:" in text


def test_app_factories_use_config_and_are_cached(app, sandbox):
    with app.app_context():
        oa, mp = oa_client(), miniapp_client()
        assert oa is oa_client(app)
        assert mp is miniapp_client()
        assert oa.appid == sandbox.appid
        assert mp.appid == sandbox.miniapp_appid
        assert oa.api_base == sandbox.url
        assert oa.timeout == app.config["WECHAT_TIMEOUT"]
        assert oa.send_text("oFactory", "x")["errcode"] == 0
        assert mp.code_to_session("bob:1")["openid"].startswith("omini")
