"""The WeChat sandbox speaks WeChat's API shapes over real HTTP: per-app tokens, sends, faults, logins."""

from __future__ import annotations

import requests

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
