"""The WeChat sandbox speaks WeChat's API shapes over real HTTP: per-app tokens, sends, faults, logins."""

from __future__ import annotations

import json

import pytest
import requests
import requests.adapters

TIMEOUT = 5


def _get(sandbox, path, **params):
    return requests.get(sandbox.url + path, params=params, timeout=TIMEOUT).json()


def _post(sandbox, path, body, **params):
    return requests.post(sandbox.url + path, params=params, json=body, timeout=TIMEOUT).json()


def _stable(sandbox, appid, secret, force=False):
    body = {"grant_type": "client_credential", "appid": appid, "secret": secret, "force_refresh": force}
    return _post(sandbox, "/cgi-bin/stable_token", body)


def _oa_token(sandbox):
    return _stable(sandbox, sandbox.appid, sandbox.secret)["access_token"]


def test_stable_token_is_stable_until_forced_and_per_app(sandbox):
    first = _stable(sandbox, sandbox.appid, sandbox.secret)
    again = _stable(sandbox, sandbox.appid, sandbox.secret)
    assert first["access_token"] == again["access_token"]
    assert 0 < again["expires_in"] <= 7200
    mini = _stable(sandbox, sandbox.miniapp_appid, sandbox.miniapp_secret)
    assert mini["access_token"] != first["access_token"]
    forced = _stable(sandbox, sandbox.appid, sandbox.secret, force=True)
    assert forced["access_token"] != first["access_token"]
    assert sandbox.forced_refreshes == 1
    assert sandbox.fetches_for(sandbox.appid) == 3
    assert sandbox.fetches_for(sandbox.miniapp_appid) == 1
    # The previous token stays usable during WeChat's 5-minute overlap.
    body = {"touser": "oA", "msgtype": "text", "text": {"content": "x"}}
    ok = _post(sandbox, "/cgi-bin/message/custom/send", body, access_token=first["access_token"])
    assert ok["errcode"] == 0


def test_token_endpoints_refuse_wrong_credentials_and_never_record_secrets(sandbox):
    assert _stable(sandbox, sandbox.appid, "wrong")["errcode"] == 40125
    assert _stable(sandbox, "wx-unknown", "x")["errcode"] == 40013
    legacy = _get(sandbox, "/cgi-bin/token", grant_type="client_credential", appid=sandbox.appid, secret="nope")
    assert legacy["errcode"] == 40125
    good = _get(
        sandbox, "/cgi-bin/token", grant_type="client_credential", appid=sandbox.miniapp_appid,
        secret=sandbox.miniapp_secret,
    )  # fmt: skip
    assert good["expires_in"] == 7200
    assert sandbox.token_fetches == 1
    recorded = repr(sandbox.calls())
    assert sandbox.secret not in recorded
    assert sandbox.miniapp_secret not in recorded


def test_custom_send_needs_the_apps_own_live_token(sandbox):
    body = {"touser": "oUser", "msgtype": "text", "text": {"content": "你好"}}
    assert _post(sandbox, "/cgi-bin/message/custom/send", body, access_token="bogus")["errcode"] == 40001
    mini = _stable(sandbox, sandbox.miniapp_appid, sandbox.miniapp_secret)["access_token"]
    assert _post(sandbox, "/cgi-bin/message/custom/send", body, access_token=mini)["errcode"] == 40001
    token = _oa_token(sandbox)
    assert _post(sandbox, "/cgi-bin/message/custom/send", body, access_token=token)["errcode"] == 0
    assert [s["body"]["text"]["content"] for s in sandbox.sent("oUser", "custom")] == ["你好"]
    sandbox.expire_tokens()
    assert _post(sandbox, "/cgi-bin/message/custom/send", body, access_token=token)["errcode"] == 42001


def test_closed_window_gives_45015_and_reopens(sandbox):
    token = _oa_token(sandbox)
    body = {"touser": "oUser", "msgtype": "text", "text": {"content": "hi"}}
    sandbox.close_window("oUser")
    assert _post(sandbox, "/cgi-bin/message/custom/send", body, access_token=token)["errcode"] == 45015
    sandbox.open_window("oUser")
    assert _post(sandbox, "/cgi-bin/message/custom/send", body, access_token=token)["errcode"] == 0
    requests.post(sandbox.url + "/sandbox/window", json={"openid": "oUser", "open": False}, timeout=TIMEOUT)
    assert _post(sandbox, "/cgi-bin/message/custom/send", body, access_token=token)["errcode"] == 45015
    assert len(sandbox.sent("oUser")) == 1


def test_template_send_returns_msgid_and_honours_client_msg_id(sandbox):
    token = _oa_token(sandbox)
    body = {"touser": "oU", "template_id": "tpl", "data": {"thing1": {"value": "a"}}, "client_msg_id": "k1"}
    first = _post(sandbox, "/cgi-bin/message/template/send", body, access_token=token)
    repeat = _post(sandbox, "/cgi-bin/message/template/send", body, access_token=token)
    assert first["errcode"] == 0
    assert repeat["msgid"] == first["msgid"]
    other = _post(sandbox, "/cgi-bin/message/template/send", {**body, "client_msg_id": "k2"}, access_token=token)
    assert other["msgid"] != first["msgid"]
    assert len(sandbox.sent("oU", "template")) == 2
    sandbox.unsubscribe("oU")
    assert _post(sandbox, "/cgi-bin/message/template/send", body, access_token=token)["errcode"] == 43004


def test_template_and_subscribe_sends_stop_at_the_daily_quota_until_the_next_day(sandbox):
    token = _oa_token(sandbox)
    mini = _stable(sandbox, sandbox.miniapp_appid, sandbox.miniapp_secret)["access_token"]
    sandbox.set_daily_limit("template", 2)
    sandbox.set_daily_limit("mp_subscribe", 1)
    template = {"touser": "oQuota", "template_id": "tpl", "data": {"thing1": {"value": "a"}}, "client_msg_id": "q1"}
    assert _post(sandbox, "/cgi-bin/message/template/send", template, access_token=token)["errcode"] == 0
    # A repeat of a client_msg_id is not a send, so it does not count against the quota.
    assert _post(sandbox, "/cgi-bin/message/template/send", template, access_token=token)["errcode"] == 0
    second = {**template, "client_msg_id": "q2"}
    assert _post(sandbox, "/cgi-bin/message/template/send", second, access_token=token)["errcode"] == 0
    third = {**template, "client_msg_id": "q3"}
    assert _post(sandbox, "/cgi-bin/message/template/send", third, access_token=token)["errcode"] == 45009
    subscribe = {"touser": "oQuota", "template_id": "tplM", "data": {"thing1": {"value": "x"}}}
    assert _post(sandbox, "/cgi-bin/message/subscribe/send", subscribe, access_token=mini)["errcode"] == 0
    assert _post(sandbox, "/cgi-bin/message/subscribe/send", subscribe, access_token=mini)["errcode"] == 45009
    assert len(sandbox.sent("oQuota")) == 3  # refused sends are not delivered
    sandbox.advance(24 * 3600)  # the next Beijing day: the quota is whole again
    token = _oa_token(sandbox)
    assert _post(sandbox, "/cgi-bin/message/template/send", third, access_token=token)["errcode"] == 0
    sandbox.reset()  # and a reset restores the documented quotas
    assert sandbox.state.daily_limits["template"] == 100_000


def test_subscribe_messages_check_grants_lengths_and_app(sandbox):
    oa = _oa_token(sandbox)
    mini = _stable(sandbox, sandbox.miniapp_appid, sandbox.miniapp_secret)["access_token"]
    body = {"touser": "oMini", "template_id": "tplM", "data": {"thing1": {"value": "场地预约成功"}}}
    assert _post(sandbox, "/cgi-bin/message/subscribe/send", body, access_token=oa)["errcode"] == 40001
    long_body = {**body, "data": {"thing1": {"value": "很" * 21}}}
    assert _post(sandbox, "/cgi-bin/message/subscribe/send", long_body, access_token=mini)["errcode"] == 47003
    sandbox.grant_subscribe("oMini", "tplM")
    assert _post(sandbox, "/cgi-bin/message/subscribe/send", body, access_token=mini)["errcode"] == 0
    assert sandbox.grants("oMini", "tplM") == 0
    assert _post(sandbox, "/cgi-bin/message/subscribe/send", body, access_token=mini)["errcode"] == 43101
    requests.post(sandbox.url + "/sandbox/grant", json={"openid": "oMini", "template_id": "tplM"}, timeout=TIMEOUT)
    assert _post(sandbox, "/cgi-bin/message/subscribe/send", body, access_token=mini)["errcode"] == 0
    biz = {"touser": "oOA", "template_id": "tplB", "data": {"thing1": {"value": "x"}}}
    sandbox.grant_subscribe("oOA", "tplB")
    assert _post(sandbox, "/cgi-bin/message/subscribe/bizsend", biz, access_token=oa)["errcode"] == 0
    assert [s["kind"] for s in sandbox.sent()] == ["mp_subscribe", "mp_subscribe", "subscribe"]


def test_jscode2session_is_single_use_and_has_no_errcode_on_success(sandbox):
    params = {
        "appid": sandbox.miniapp_appid,
        "secret": sandbox.miniapp_secret,
        "grant_type": "authorization_code",
    }
    ok = _get(sandbox, "/sns/jscode2session", js_code="alice:1", **params)
    assert "errcode" not in ok
    assert ok["openid"].startswith("omini")
    assert ok["session_key"]
    assert _get(sandbox, "/sns/jscode2session", js_code="alice:2", **params)["openid"] == ok["openid"]
    assert _get(sandbox, "/sns/jscode2session", js_code="alice:1", **params)["errcode"] == 40163
    assert _get(sandbox, "/sns/jscode2session", js_code="invalid", **params)["errcode"] == 40029
    wrong = {**params, "secret": "x"}
    assert _get(sandbox, "/sns/jscode2session", js_code="bob:1", **wrong)["errcode"] == 40125


def test_user_info_reports_subscription(sandbox):
    token = _oa_token(sandbox)
    info = _get(sandbox, "/cgi-bin/user/info", access_token=token, openid="oX", lang="zh_CN")
    assert info["subscribe"] == 1
    assert "nickname" not in info
    sandbox.unsubscribe("oX")
    assert _get(sandbox, "/cgi-bin/user/info", access_token=token, openid="oX") == {
        "subscribe": 0,
        "openid": "oX",
    }


def test_fault_injection_counts_down_and_control_endpoints_work(sandbox):
    token = _oa_token(sandbox)
    body = {"touser": "oF", "msgtype": "text", "text": {"content": "x"}}
    sandbox.fail("/cgi-bin/message/custom/send", errcode=45009, times=2)
    assert _post(sandbox, "/cgi-bin/message/custom/send", body, access_token=token)["errcode"] == 45009
    assert _post(sandbox, "/cgi-bin/message/custom/send", body, access_token=token)["errcode"] == 45009
    assert _post(sandbox, "/cgi-bin/message/custom/send", body, access_token=token)["errcode"] == 0
    requests.post(
        sandbox.url + "/sandbox/fail",
        json={"path": "/cgi-bin/message/custom/send", "status": 502},
        timeout=TIMEOUT,
    )
    resp = requests.post(
        sandbox.url + "/cgi-bin/message/custom/send",
        params={"access_token": token},
        json=body,
        timeout=TIMEOUT,
    )
    assert resp.status_code == 502
    listed = requests.get(sandbox.url + "/sandbox/sent", params={"touser": "oF"}, timeout=TIMEOUT).json()
    assert len(listed) == 1
    assert listed[0]["kind"] == "custom"
    stats = requests.get(sandbox.url + "/sandbox/stats", timeout=TIMEOUT).json()
    assert stats["sent"] == 1
    assert stats["stable_token_fetches"] == 1
    requests.post(sandbox.url + "/sandbox/reset", timeout=TIMEOUT)
    assert sandbox.sent() == []
    assert sandbox.calls() == []
    assert _post(sandbox, "/cgi-bin/message/custom/send", body, access_token=token)["errcode"] == 40001


# ------------------------------------------------------------- WeChat's own error codes for bad requests


def _raw_post(sandbox, path, data: bytes, **params):
    # No Content-Type, as wechatpy posts its JSON.
    return requests.post(sandbox.url + path, params=params, data=data, timeout=TIMEOUT).json()


def test_a_json_body_without_content_type_is_read(sandbox):
    token = _oa_token(sandbox)
    body = json.dumps({"touser": "oUser", "msgtype": "text", "text": {"content": "无类型头"}}, ensure_ascii=False)
    assert _raw_post(sandbox, "/cgi-bin/message/custom/send", body.encode(), access_token=token)["errcode"] == 0
    [sent] = sandbox.sent(kind="custom")
    assert (sent["touser"], sent["body"]["text"]["content"]) == ("oUser", "无类型头")
    stable = {"grant_type": "client_credential", "appid": sandbox.appid, "secret": sandbox.secret}
    assert "access_token" in _raw_post(sandbox, "/cgi-bin/stable_token", json.dumps(stable).encode())


def test_missing_and_invalid_fields_get_wechats_error_codes(sandbox):
    token = _oa_token(sandbox)
    custom = "/cgi-bin/message/custom/send"
    text = {"touser": "oUser", "msgtype": "text", "text": {"content": "x"}}
    assert _post(sandbox, custom, text)["errcode"] == 41001  # no access_token at all
    assert _raw_post(sandbox, custom, b"", access_token=token)["errcode"] == 44002
    assert _raw_post(sandbox, custom, b"not json", access_token=token)["errcode"] == 47001
    assert _post(sandbox, custom, {**text, "touser": None}, access_token=token)["errcode"] == 40003
    assert _post(sandbox, custom, {**text, "touser": "o user!"}, access_token=token)["errcode"] == 40003
    assert _post(sandbox, custom, {**text, "msgtype": "telegram"}, access_token=token)["errcode"] == 40008
    assert _post(sandbox, custom, {"touser": "oUser", "msgtype": "text"}, access_token=token)["errcode"] == 40008
    template = "/cgi-bin/message/template/send"
    tpl = {"touser": "oUser", "template_id": "tpl-notice", "data": {}}
    assert _post(sandbox, template, {**tpl, "template_id": ""}, access_token=token)["errcode"] == 40037
    sandbox.set_templates({"tpl-notice"})
    assert _post(sandbox, template, {**tpl, "template_id": "tpl-other"}, access_token=token)["errcode"] == 40037
    assert _post(sandbox, template, tpl, access_token=token)["errcode"] == 0
    assert _post(sandbox, template, {**tpl, "touser": ""}, access_token=token)["errcode"] == 40003
    assert _get(sandbox, "/cgi-bin/user/info", access_token=token)["errcode"] == 40003
    assert len(sandbox.sent()) == 1  # nothing refused was recorded as sent


def test_token_endpoints_check_grant_type_and_missing_credentials(sandbox):
    legacy = {"grant_type": "client_credential", "appid": sandbox.appid, "secret": sandbox.secret}
    assert _get(sandbox, "/cgi-bin/token", **{**legacy, "grant_type": "password"})["errcode"] == 40002
    assert _get(sandbox, "/cgi-bin/token", **{**legacy, "appid": ""})["errcode"] == 41002
    assert _get(sandbox, "/cgi-bin/token", **{**legacy, "secret": ""})["errcode"] == 41004
    assert _post(sandbox, "/cgi-bin/stable_token", {**legacy, "grant_type": "x"})["errcode"] == 40002
    assert _raw_post(sandbox, "/cgi-bin/stable_token", b"")["errcode"] == 44002
    assert sandbox.token_fetches == sandbox.stable_token_fetches == 0
    login = {"appid": sandbox.miniapp_appid, "secret": sandbox.miniapp_secret, "grant_type": "authorization_code"}
    assert _get(sandbox, "/sns/jscode2session", **login)["errcode"] == 41008
    assert _get(sandbox, "/sns/jscode2session", js_code="", **login)["errcode"] == 41008


def test_forced_stable_token_refresh_is_rate_limited_as_documented(sandbox):
    first = _stable(sandbox, sandbox.appid, sandbox.secret, force=True)["access_token"]
    # Within 30 s of the last forced rotation WeChat does not rotate again: the live token comes back.
    assert _stable(sandbox, sandbox.appid, sandbox.secret, force=True)["access_token"] == first
    sandbox.advance(30)
    second = _stable(sandbox, sandbox.appid, sandbox.secret, force=True)["access_token"]
    assert second != first
    for _ in range(18):  # 20 forced rotations a day
        sandbox.advance(30)
        assert "access_token" in _stable(sandbox, sandbox.appid, sandbox.secret, force=True)
    sandbox.advance(30)
    assert _stable(sandbox, sandbox.appid, sandbox.secret, force=True)["errcode"] == 45009
    assert "access_token" in _stable(sandbox, sandbox.appid, sandbox.secret)  # normal mode still works
    assert "access_token" in _stable(sandbox, sandbox.miniapp_appid, sandbox.miniapp_secret, force=True)
    sandbox.advance(24 * 3600)
    assert "access_token" in _stable(sandbox, sandbox.appid, sandbox.secret, force=True)


def test_user_info_returns_a_unionid_only_for_followers_that_have_one(sandbox):
    token = _oa_token(sandbox)
    assert "unionid" not in _get(sandbox, "/cgi-bin/user/info", access_token=token, openid="oPlain")
    sandbox.set_unionid("oBound", "ounion-bound-1")
    info = _get(sandbox, "/cgi-bin/user/info", access_token=token, openid="oBound")
    assert (info["subscribe"], info["unionid"]) == (1, "ounion-bound-1")


# -------------------------------------------------------------- driven by the real wechatpy client library


class _ToSandbox(requests.adapters.HTTPAdapter):
    """Sends wechatpy's requests for api.weixin.qq.com to the sandbox (its base URLs are hard-coded)."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base

    def send(self, request, **kwargs):
        request.url = request.url.replace("https://api.weixin.qq.com", self.base, 1)
        return super().send(request, **kwargs)


def _wechatpy(sandbox, appid, secret):
    from wechatpy import WeChatClient

    client = WeChatClient(appid, secret, timeout=TIMEOUT, auto_retry=False)
    client._http.mount("https://api.weixin.qq.com/", _ToSandbox(sandbox.url))
    return client


def test_wechatpy_fetches_a_token_and_sends_custom_and_template_messages(sandbox):
    client = _wechatpy(sandbox, sandbox.appid, sandbox.secret)
    assert client.message.send_text("oWechatpyUser", "来自 wechatpy 的消息")["errcode"] == 0
    result = client.message.send_template("oWechatpyUser", "tpl-notice", {"thing1": {"value": "停水通知"}})
    assert result["msgid"] > 0
    assert sandbox.token_fetches == 1  # one token, used for both calls
    custom, template = sandbox.sent()
    assert (custom["kind"], custom["touser"], custom["body"]["text"]["content"]) == (
        "custom",
        "oWechatpyUser",
        "来自 wechatpy 的消息",
    )
    assert (template["kind"], template["touser"], template["body"]["template_id"]) == (
        "template",
        "oWechatpyUser",
        "tpl-notice",
    )


def test_wechatpy_sees_wechats_error_codes(sandbox):
    from wechatpy.exceptions import WeChatClientException

    client = _wechatpy(sandbox, sandbox.appid, sandbox.secret)
    with pytest.raises(WeChatClientException) as bad_openid:
        client.message.send_text("", "没有收件人")
    assert bad_openid.value.errcode == 40003
    with pytest.raises(WeChatClientException) as bad_type:
        client.post("message/custom/send", data={"touser": "oWechatpyUser", "msgtype": "telegram"})
    assert bad_type.value.errcode == 40008
    with pytest.raises(WeChatClientException) as bad_template:
        client.message.send_template("oWechatpyUser", "", {})
    assert bad_template.value.errcode == 40037
    sandbox.close_window("oWechatpyUser")
    with pytest.raises(WeChatClientException) as closed:
        client.message.send_text("oWechatpyUser", "窗口外")
    assert closed.value.errcode == 45015
    assert sandbox.sent() == []
    wrong = _wechatpy(sandbox, sandbox.appid, "not-the-secret")
    with pytest.raises(WeChatClientException) as refused:
        wrong.message.send_text("oWechatpyUser", "x")
    assert refused.value.errcode == 40125


def test_wechatpy_user_info_and_mini_program_login(sandbox):
    sandbox.set_unionid("oFollower", "ounion-follower")
    client = _wechatpy(sandbox, sandbox.appid, sandbox.secret)
    assert client.user.get("oFollower")["unionid"] == "ounion-follower"
    assert "unionid" not in client.user.get("oOther")
    mini = _wechatpy(sandbox, sandbox.miniapp_appid, sandbox.miniapp_secret)
    session = mini.wxa.code_to_session("carol:1")
    assert session["openid"].startswith("omini")
    assert session["session_key"]
    assert "errcode" not in session
    from wechatpy.exceptions import WeChatClientException

    with pytest.raises(WeChatClientException) as used:
        mini.wxa.code_to_session("carol:1")
    assert used.value.errcode == 40163
    with pytest.raises(WeChatClientException) as missing:
        mini.wxa.code_to_session("")
    assert missing.value.errcode == 41008


def test_send_limits_per_minute_per_day_and_per_user_window(sandbox):
    token = _oa_token(sandbox)
    template = "/cgi-bin/message/template/send"
    custom = "/cgi-bin/message/custom/send"
    sandbox.limit(per_minute={template: 2}, per_day={custom: 3}, cs_per_user=2)

    def tpl(n):
        body = {"touser": f"oT{n}", "template_id": "tpl", "data": {"thing1": {"value": "a"}}, "client_msg_id": f"c{n}"}
        return _post(sandbox, template, body, access_token=token)["errcode"]

    assert [tpl(1), tpl(2), tpl(3)] == [0, 0, 45011]
    assert tpl(1) == 0  # a repeat of a client_msg_id is answered from the dedupe, not counted again
    sandbox.advance(61)  # the next minute
    assert tpl(3) == 0

    def cs(openid):
        body = {"touser": openid, "msgtype": "text", "text": {"content": "hi"}}
        return _post(sandbox, custom, body, access_token=token)["errcode"]

    assert [cs("oA"), cs("oA"), cs("oA")] == [0, 0, 45047]  # the user's budget in the window
    sandbox.open_window("oA")  # the user wrote again
    assert [cs("oA"), cs("oB")] == [0, 45009]  # three accepted today: the daily cap
    assert len(sandbox.sent(kind="template")) == 3
    assert len(sandbox.sent(kind="custom")) == 3
    assert _get(sandbox, "/sandbox/stats")["limited"] == 2  # one 45011, one 45009
