"""A loopback stand-in for api.weixin.qq.com: the endpoints hongguan calls, with records and fault switches.

It speaks WeChat's HTTP API shapes (errcode/errmsg JSON, tokens, 45015 outside the 48 h window, 43101 for
subscribe messages without a grant, single-use js_code) so the client wrapper, jobs and the chat simulator
exercise real HTTP. Like WeChat it reads a POST body as JSON whatever its Content-Type (wechatpy sends none),
and answers WeChat's own codes for what is missing or wrong: 41001 no access_token, 40002 bad grant_type,
44002 empty body, 47001 not JSON, 40003 bad openid, 40008 bad msgtype, 40037 bad template_id,
41002/41004/41008 no appid/secret/code; stable_token's force_refresh is rate-limited as documented (no
rotation within 30 s of the last one, 45009 past 20 a day), and so are sends: 45009 past the account's daily
quota per kind (`DAILY_SEND_LIMITS`), and when switched on (`SandboxServer.limit`, /sandbox/limits)
per-minute caps per API path (45011), daily caps per path (45009) and a customer-service budget per user
(45047); user/info carries a unionid for followers that have one. Control endpoints under /sandbox/* let
tests and `hongguan chat` read what was sent and inject failures. Official shapes: the pages cited by each
handler, e.g. https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Get_access_token.html.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, g, jsonify, request
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

DEFAULT_APPID = "wx-sandbox-appid"
DEFAULT_SECRET = "sandbox-secret"  # noqa: S105 - a loopback fake's published credential
DEFAULT_MINIAPP_APPID = "wx-sandbox-miniapp"
DEFAULT_MINIAPP_SECRET = "sandbox-miniapp-secret"  # noqa: S105 - likewise
TOKEN_TTL = 7200
# getStableAccessToken, force_refresh=true: "该模式限制每天20次 … 请保证调用时间隔至少为30s，否则不会刷新"
# (https://developers.weixin.qq.com/doc/service/api/base/api_getstableaccesstoken).
FORCE_REFRESH_INTERVAL = 30.0
FORCE_REFRESHES_PER_DAY = 20
# The message types of customer-service messages (api_sendcustommessage); anything else is 40008.
CUSTOM_MSGTYPES = frozenset(
    {"text", "image", "voice", "video", "music", "news", "mpnews", "mpnewsarticle", "msgmenu", "wxcard",
     "miniprogrampage"}
)  # fmt: skip
# OpenIDs and template ids are URL-safe ASCII; anything else is refused as invalid (40003 / 40037).
_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,128}")


# Daily send quotas per account, as documented: template messages 100,000 a day by default
# https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Template_Message_Interface.html
# and subscribe messages 10,000,000 a day (the same quota is applied to the official account's 订阅通知)
# https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/mp-message-management/subscribe-message/sendMessage.html
# Over the quota every send of that kind gets 45009 "reach max api daily quota limit" until the next Beijing day.
DAILY_SEND_LIMITS = {"template": 100_000, "mp_subscribe": 10_000_000, "subscribe": 10_000_000}
QUOTA_EXCEEDED = 45009


@dataclass
class Fault:
    """An injected failure for one API path."""

    errcode: int | None = None
    status: int | None = None
    delay: float = 0.0
    times: int | None = 1  # None = until cleared
    # Seconds to hold the answer after the call was handled (a send is then recorded as delivered): the
    # "WeChat accepted it, but the answer came too late" case that leaves the caller uncertain.
    delay_after: float = 0.0


@dataclass
class SandboxState:
    """Everything the sandbox remembers; guarded by `lock`."""

    appid: str
    secret: str
    miniapp_appid: str
    miniapp_secret: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    # token -> (appid, expires_at on the monotonic clock)
    tokens: dict[str, tuple[str, float]] = field(default_factory=dict)
    stable_tokens: dict[str, str] = field(default_factory=dict)  # appid -> its current stable token
    token_fetches: int = 0
    stable_token_fetches: int = 0
    forced_refreshes: int = 0  # stable_token calls with force_refresh=true
    fetches_by_app: dict[str, int] = field(default_factory=dict)  # appid -> token + stable_token fetches
    template_msg_ids: dict[tuple[str, str], tuple[int, float]] = field(default_factory=dict)  # client_msg_id
    sent: list[dict[str, Any]] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    faults: dict[str, Fault] = field(default_factory=dict)
    closed_windows: set[str] = field(default_factory=set)  # openids outside the 48 h window
    unsubscribed: set[str] = field(default_factory=set)
    subscribe_grants: dict[tuple[str, str], int] = field(default_factory=dict)  # (openid, template) -> count
    require_grants: bool = False
    used_codes: set[str] = field(default_factory=set)
    unionids: dict[str, str] = field(default_factory=dict)
    oa_unionids: dict[str, str] = field(default_factory=dict)  # official-account openid -> unionid
    templates: set[str] | None = None  # the account's template ids; None accepts any well-formed id
    # appid -> (time of the last forced rotation, (day, forced refreshes that day))
    last_forced: dict[str, float] = field(default_factory=dict)
    forced_by_day: dict[tuple[str, str], int] = field(default_factory=dict)
    qr_tickets: dict[str, dict[str, Any]] = field(default_factory=dict)  # ticket -> the qrcode/create body
    offset: float = 0.0  # seconds the sandbox's clock was moved forward (`SandboxServer.advance`)
    # Sends a day per kind, counted in Beijing days; over it WeChat answers 45009 (DAILY_SEND_LIMITS).
    daily_limits: dict[str, int] = field(default_factory=lambda: dict(DAILY_SEND_LIMITS))
    # Send limits (None: unlimited). Per-minute caps per API path answer 45011, daily caps 45009; the
    # customer-service budget per user (5 within the 48 h window) answers 45047 (wechat-protocol.md §3.2, §9.6).
    per_minute: dict[str, int] = field(default_factory=dict)
    per_day: dict[str, int] = field(default_factory=dict)
    cs_per_user: int | None = None
    minute_calls: dict[str, list[float]] = field(default_factory=dict)  # path -> times of accepted sends
    day_calls: dict[tuple[str, str], int] = field(default_factory=dict)  # (path, day) -> accepted sends
    cs_sent: dict[str, int] = field(default_factory=dict)  # openid -> custom sends since the window opened
    limited: int = 0  # sends refused by a limit
    ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def now(self) -> float:
        """The sandbox's monotonic clock (token expiry, refresh intervals), movable by tests."""
        return time.monotonic() + self.offset

    def day(self) -> str:
        """Today in Beijing time, the day WeChat's daily limits count in."""
        return time.strftime("%Y-%m-%d", time.gmtime(time.time() + self.offset + 8 * 3600))

    def new_token(self, appid: str) -> str:
        """Issue a token for `appid`; that app's older tokens stay valid for 5 more minutes, as on WeChat."""
        token = "SANDBOX_" + secrets.token_hex(16)
        now = self.now()
        for old, (owner, exp) in list(self.tokens.items()):
            if owner == appid:
                self.tokens[old] = (owner, min(exp, now + 300))
        self.tokens[token] = (appid, now + TOKEN_TTL)
        return token

    def count_fetch(self, appid: str) -> None:
        """Count one token-endpoint call for `appid` (lock held)."""
        self.fetches_by_app[appid] = self.fetches_by_app.get(appid, 0) + 1

    def valid(self, token: str | None, appid: str | None = None) -> bool:
        """True when `token` is live (and, if given, belongs to `appid`)."""
        owner, exp = self.tokens.get(token or "", ("", 0.0))
        return bool(token) and exp > self.now() and (appid is None or owner == appid)

    def token_error(self, token: str | None, appid: str) -> tuple[int, str] | None:
        """The errcode WeChat gives for `token` on an API of `appid`, or None when it is accepted."""
        owner, exp = self.tokens.get(token or "", ("", 0.0))
        if not token:
            return 41001, "access_token missing"
        if owner != appid:
            return 40001, "invalid credential, access_token is invalid or not latest"
        if exp <= self.now():
            return 42001, "access_token expired"
        return None

    def app_for(self, appid: str | None, secret: str | None) -> str | None:
        """The appid when (appid, secret) is the official account's or the mini-program's pair."""
        if (appid, secret) in {(self.appid, self.secret), (self.miniapp_appid, self.miniapp_secret)}:
            return appid
        return None

    def over_limit(self, path: str, kind: str) -> tuple[int, str] | None:
        """Count one send of `kind` on `path` against its limits (call with the lock held); the refusal, if any."""
        now = self.now()
        cap = self.per_minute.get(path)
        if cap is not None:
            recent = [t for t in self.minute_calls.get(path, []) if now - t < 60]
            self.minute_calls[path] = recent
            if len(recent) >= cap:
                self.limited += 1
                return 45011, "api minute-quota reach limit, must slower, retry next minute"
        daily = self.per_day.get(path, self.daily_limits.get(kind))
        if daily is not None and self.day_calls.get((path, self.day()), 0) >= daily:
            self.limited += 1
            return QUOTA_EXCEEDED, "reach max api daily quota limit"
        if cap is not None:
            self.minute_calls[path].append(now)
        self.day_calls[(path, self.day())] = self.day_calls.get((path, self.day()), 0) + 1
        return None


class _PathOnlyRequestHandler(WSGIRequestHandler):
    """Access log without query strings: they carry access_token and js_code, which never belong in logs.

    HTTP/1.1 keeps the client's connection open between calls, as api.weixin.qq.com does, so a load test
    measures the sends and not a TCP handshake per call.
    """

    protocol_version = "HTTP/1.1"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self.log("info", '"%s %s" %s', self.command, self.path.split("?", 1)[0], code)


def _err(errcode: int, errmsg: str) -> Response:
    return jsonify({"errcode": errcode, "errmsg": errmsg})


class _BadRequest(Exception):
    """A request WeChat refuses with `errcode` before doing anything (answered as errcode JSON)."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(errmsg)
        self.errcode = errcode
        self.errmsg = errmsg


def _raw_json() -> Any:
    """The body as JSON whatever its Content-Type, None when empty; _BadRequest (47001) when not JSON."""
    data = request.get_data(cache=True)
    if not data.strip():
        return None
    try:
        return json.loads(data)
    except ValueError as e:  # UnicodeDecodeError included
        raise _BadRequest(47001, "data format error") from e


def _json_body() -> dict[str, Any]:
    """The POST body of an API call: 44002 when empty, 47001 when it is not a JSON object."""
    body = _raw_json()
    if body is None:
        raise _BadRequest(44002, "empty post data")
    if not isinstance(body, dict):
        raise _BadRequest(47001, "data format error")
    return body


def _valid_id(value: Any) -> bool:
    return isinstance(value, str) and _ID_RE.fullmatch(value) is not None


def make_app(state: SandboxState) -> Flask:
    """The sandbox's WSGI app over `state`."""
    app = Flask("wechat-sandbox")
    app.json.ensure_ascii = False  # type: ignore[attr-defined]

    @app.errorhandler(_BadRequest)
    def _refused(e: _BadRequest) -> Response:
        return _err(e.errcode, e.errmsg)

    def _openid(value: Any) -> str:
        # 40003: missing, or not an openid at all (WeChat's are 28 URL-safe characters).
        if not _valid_id(value):
            raise _BadRequest(40003, "invalid openid")
        return str(value)

    def _template_id(value: Any) -> str:
        with state.lock:
            known = state.templates
        if not _valid_id(value) or (known is not None and value not in known):
            raise _BadRequest(40037, "invalid template_id")
        return str(value)

    @app.before_request
    def _record_and_inject() -> Response | None:
        path = request.path
        if path.startswith("/sandbox/"):
            return None
        try:
            body = _raw_json()
        except _BadRequest:
            body = request.get_data(as_text=True)[:200]  # recorded as sent
        params = {k: v for k, v in request.args.items() if k not in {"secret"}}
        if isinstance(body, dict) and "secret" in body:
            body = {k: v for k, v in body.items() if k != "secret"}  # never keep an AppSecret in records
        with state.lock:
            state.calls.append({"path": path, "params": params, "body": body, "at": time.time()})
            fault = state.faults.get(path)
            if fault is not None and fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    del state.faults[path]
        if fault is None:
            return None
        g.sandbox_delay_after = fault.delay_after
        if fault.delay:
            time.sleep(fault.delay)
        if fault.status:
            return Response("sandbox injected failure", status=fault.status)
        if fault.errcode is not None:
            return _err(fault.errcode, "sandbox injected error")
        return None

    @app.after_request
    def _answer_late(response: Response) -> Response:
        delay = g.get("sandbox_delay_after", 0.0)
        if delay:
            time.sleep(delay)
        return response

    def _require_token(appid: str | None = None) -> Response | None:
        # Tokens are per app: the official account's token does not work on the mini-program's APIs.
        with state.lock:
            error = state.token_error(request.args.get("access_token"), appid or state.appid)
        return None if error is None else _err(*error)

    def _check_credentials(given: Any) -> None:
        if given.get("grant_type") != "client_credential":
            raise _BadRequest(40002, "invalid grant_type")
        if not given.get("appid"):
            raise _BadRequest(41002, "appid missing")
        if not given.get("secret"):
            raise _BadRequest(41004, "appsecret missing")

    @app.get("/cgi-bin/token")
    def token() -> Response:
        # https://developers.weixin.qq.com/doc/service/en/Basic_Information/Get_access_token.html
        # Each fetch issues a new token; the app's previous ones die 5 minutes later.
        _check_credentials(request.args)
        appid = state.app_for(request.args.get("appid"), request.args.get("secret"))
        if appid is None:
            known = request.args.get("appid") in {state.appid, state.miniapp_appid}
            return _err(40125 if known else 40013, "invalid appid or secret")
        with state.lock:
            state.token_fetches += 1
            state.count_fetch(appid)
            return jsonify({"access_token": state.new_token(appid), "expires_in": TOKEN_TTL})

    @app.post("/cgi-bin/stable_token")
    def stable_token() -> Response:
        # https://developers.weixin.qq.com/doc/service/api/base/api_getstableaccesstoken
        # Normal mode returns the live token unchanged; force_refresh=true rotates it, but not within 30 s of
        # the last forced rotation (the live token comes back), and the 21st of a day is 45009.
        body = _json_body()
        _check_credentials(body)
        appid = state.app_for(body.get("appid"), body.get("secret"))
        if appid is None:
            known = body.get("appid") in {state.appid, state.miniapp_appid}
            return _err(40125 if known else 40013, "invalid appid or secret")
        with state.lock:
            state.stable_token_fetches += 1
            state.count_fetch(appid)
            current = state.stable_tokens.get(appid)
            rotate = not state.valid(current, appid)
            if body.get("force_refresh") is True:
                state.forced_refreshes += 1
                today = (appid, state.day())
                if state.forced_by_day.get(today, 0) >= FORCE_REFRESHES_PER_DAY:
                    return _err(45009, "reach max api daily quota limit")
                last = state.last_forced.get(appid)
                if last is None or state.now() - last >= FORCE_REFRESH_INTERVAL:
                    state.forced_by_day[today] = state.forced_by_day.get(today, 0) + 1
                    state.last_forced[appid] = state.now()
                    rotate = True
            if rotate:
                current = state.stable_tokens[appid] = state.new_token(appid)
            assert current is not None
            remaining = int(state.tokens[current][1] - state.now())
            return jsonify({"access_token": current, "expires_in": remaining})

    def _record_send(kind: str, body: dict[str, Any]) -> dict[str, Any]:
        record = {
            "id": next(state.ids), "kind": kind, "touser": body.get("touser"), "body": body, "at": time.time()
        }  # fmt: skip
        state.sent.append(record)
        return record

    @app.post("/cgi-bin/message/custom/send")
    def custom_send() -> Response:
        # https://developers.weixin.qq.com/doc/service/api/customer/message/api_sendcustommessage
        if (denied := _require_token()) is not None:
            return denied
        body = _json_body()
        touser = _openid(body.get("touser"))
        msgtype = body.get("msgtype")
        if msgtype not in CUSTOM_MSGTYPES or not isinstance(body.get(msgtype), dict):
            raise _BadRequest(40008, "invalid message type")
        with state.lock:
            if touser in state.closed_windows or touser in state.unsubscribed:
                return _err(45015, "response out of time limit or subscription is canceled")
            if state.cs_per_user is not None and state.cs_sent.get(touser, 0) >= state.cs_per_user:
                return _err(45047, "out of response count limit")
            if (limit := state.over_limit(request.path, "custom")) is not None:
                return _err(*limit)
            state.cs_sent[touser] = state.cs_sent.get(touser, 0) + 1
            _record_send("custom", body)
        return _err(0, "ok")

    @app.post("/cgi-bin/qrcode/create")
    def qrcode_create() -> Response:
        # https://developers.weixin.qq.com/doc/offiaccount/Account_Management/Generating_a_Parametric_QR_Code.html
        if (denied := _require_token()) is not None:
            return denied
        body = _json_body()
        action = body.get("action_name")
        scene = (body.get("action_info") or {}).get("scene") or {}
        if action not in ("QR_SCENE", "QR_STR_SCENE", "QR_LIMIT_SCENE", "QR_LIMIT_STR_SCENE"):
            raise _BadRequest(40097, "invalid args: action_name")
        if action.endswith("STR_SCENE"):
            value = scene.get("scene_str")
            if not isinstance(value, str) or not 1 <= len(value) <= 64:
                raise _BadRequest(40097, "invalid args: scene_str")
        elif not isinstance(scene.get("scene_id"), int) or scene["scene_id"] <= 0:
            raise _BadRequest(40097, "invalid args: scene_id")
        expire = body.get("expire_seconds")
        if not action.startswith("QR_LIMIT") and (not isinstance(expire, int) or not 1 <= expire <= 2592000):
            raise _BadRequest(40097, "invalid args: expire_seconds")
        with state.lock:
            ticket = f"sandbox-ticket-{next(state.ids)}"
            state.qr_tickets[ticket] = dict(body)
        answer: dict[str, Any] = {"ticket": ticket, "url": f"http://weixin.qq.com/q/{ticket}"}
        if expire is not None:
            answer["expire_seconds"] = expire
        return jsonify(answer)

    @app.post("/cgi-bin/message/template/send")
    def template_send() -> Response:
        # https://developers.weixin.qq.com/doc/service/api/notify/template/api_sendtemplatemessage.md
        if (denied := _require_token()) is not None:
            return denied
        body = _json_body()
        touser = _openid(body.get("touser"))
        _template_id(body.get("template_id"))
        with state.lock:
            if touser in state.unsubscribed:
                return _err(43004, "require subscribe")
            # "对于同一个openid + client_msg_id，只发送一条消息，10分钟有效":
            # a repeat within 10 minutes is accepted but not sent again.
            dedupe = (touser, str(body.get("client_msg_id") or ""))
            if dedupe[1] and dedupe in state.template_msg_ids:
                msgid, at = state.template_msg_ids[dedupe]
                if state.now() - at < 600:
                    return jsonify({"errcode": 0, "errmsg": "ok", "msgid": msgid})
            if (limit := state.over_limit(request.path, "template")) is not None:
                return _err(*limit)
            record = _record_send("template", body)
            msgid = 200000 + record["id"]
            if dedupe[1]:
                state.template_msg_ids[dedupe] = (msgid, state.now())
        return jsonify({"errcode": 0, "errmsg": "ok", "msgid": msgid})

    def _subscribe(kind: str, appid: str) -> Response:
        if (denied := _require_token(appid)) is not None:
            return denied
        body = _json_body()
        key = (_openid(body.get("touser")), _template_id(body.get("template_id")))
        for name, item in (body.get("data") or {}).items():
            value = str((item or {}).get("value", ""))
            if name.startswith("thing") and len(value) > 20:
                return _err(47003, f"argument invalid! data.{name}.value exceeds 20 characters")
        with state.lock:
            if state.require_grants and state.subscribe_grants.get(key, 0) <= 0:
                return _err(43101, "user refuse to accept the msg")
            if (limit := state.over_limit(request.path, kind)) is not None:
                return _err(*limit)
            if state.require_grants:
                state.subscribe_grants[key] -= 1
            _record_send(kind, body)
        return _err(0, "ok")

    @app.post("/cgi-bin/message/subscribe/send")
    def subscribe_send() -> Response:
        # Mini-program subscribe message, called with the mini-program's own access token:
        # https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/mp-message-management/subscribe-message/sendMessage.html
        return _subscribe("mp_subscribe", state.miniapp_appid)

    @app.post("/cgi-bin/message/subscribe/bizsend")
    def subscribe_bizsend() -> Response:
        # Official-account subscription notification (订阅通知):
        # https://developers.weixin.qq.com/doc/service/api/notify/notify/api_sendnewsubscribemsg.html
        return _subscribe("subscribe", state.appid)

    @app.get("/sns/jscode2session")
    def jscode2session() -> Response:
        # https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/user-login/code2Session.html
        # On success WeChat returns no errcode at all, only openid/session_key/unionid.
        args = request.args
        if not args.get("appid"):
            return _err(41002, "appid missing")
        if not args.get("secret"):
            return _err(41004, "appsecret missing")
        if args.get("appid") != state.miniapp_appid or args.get("secret") != state.miniapp_secret:
            return _err(40125, "invalid appsecret")
        code = args.get("js_code", "")
        if not code:
            return _err(41008, "missing code")
        if code.startswith("invalid"):
            return _err(40029, "invalid code")
        with state.lock:
            if code in state.used_codes:
                return _err(40163, "code been used")
            state.used_codes.add(code)
        # A code "alice:anything" logs in the sandbox user alice; each user keeps one openid and unionid.
        user = code.split(":", 1)[0]
        digest = hashlib.sha256(user.encode()).hexdigest()[:20]
        payload = {"openid": f"omini{digest}", "session_key": secrets.token_urlsafe(16)}
        with state.lock:
            unionid = state.unionids.get(user, f"ounion{digest}")
        payload["unionid"] = unionid
        return jsonify(payload)

    @app.get("/cgi-bin/user/info")
    def user_info() -> Response:
        # https://developers.weixin.qq.com/doc/service/api/usermanage/userinfo/api_userinfo
        # unionid only when the account is bound to an Open Platform account and the user has one.
        if (denied := _require_token()) is not None:
            return denied
        openid = _openid(request.args.get("openid"))
        with state.lock:
            if openid in state.unsubscribed:
                return jsonify({"subscribe": 0, "openid": openid})
            unionid = state.oa_unionids.get(openid)
        info = {
            "subscribe": 1, "openid": openid, "subscribe_time": int(time.time()),
            "subscribe_scene": "ADD_SCENE_QR_CODE", "remark": "", "tagid_list": [],
        }  # fmt: skip
        if unionid:
            info["unionid"] = unionid
        return jsonify(info)

    # ---- control endpoints (not part of WeChat's API)

    @app.get("/sandbox/sent")
    def sandbox_sent() -> Response:
        touser = request.args.get("touser")
        since = int(request.args.get("since", 0))
        with state.lock:
            items = [s for s in state.sent if s["id"] > since and (touser is None or s["touser"] == touser)]
        return jsonify(items)

    @app.post("/sandbox/fail")
    def sandbox_fail() -> Response:
        body = request.get_json(force=True)
        with state.lock:
            state.faults[body["path"]] = Fault(
                errcode=body.get("errcode"), status=body.get("status"), delay=float(body.get("delay", 0)),
                times=body.get("times", 1), delay_after=float(body.get("delay_after", 0)),
            )  # fmt: skip
        return jsonify({"ok": True})

    @app.post("/sandbox/window")
    def sandbox_window() -> Response:
        # {"openid": ..., "open": false} puts the user outside the 48 h window (custom sends get 45015).
        body = request.get_json(force=True)
        with state.lock:
            if body.get("open", True):
                state.closed_windows.discard(body["openid"])
                state.cs_sent.pop(body["openid"], None)  # the user wrote again: a fresh budget
            else:
                state.closed_windows.add(body["openid"])
        return jsonify({"ok": True})

    @app.post("/sandbox/grant")
    def sandbox_grant() -> Response:
        # {"openid", "template_id", "count"?}: the user accepted wx.requestSubscribeMessage for that template.
        body = request.get_json(force=True)
        with state.lock:
            state.require_grants = True
            key = (body["openid"], body["template_id"])
            state.subscribe_grants[key] = state.subscribe_grants.get(key, 0) + int(body.get("count", 1))
        return jsonify({"ok": True})

    @app.post("/sandbox/limits")
    def sandbox_limits() -> Response:
        # {"per_minute": {path: n}, "per_day": {path: n}, "cs_per_user": n | null}: WeChat's send limits.
        body = request.get_json(force=True)
        with state.lock:
            state.per_minute = {str(k): int(v) for k, v in (body.get("per_minute") or {}).items()}
            state.per_day = {str(k): int(v) for k, v in (body.get("per_day") or {}).items()}
            cap = body.get("cs_per_user")
            state.cs_per_user = int(cap) if cap is not None else None
        return jsonify({"ok": True})

    @app.post("/sandbox/reset")
    def sandbox_reset() -> Response:
        reset_state(state)
        return jsonify({"ok": True})

    @app.get("/sandbox/stats")
    def sandbox_stats() -> Response:
        with state.lock:
            return jsonify(
                {"token_fetches": state.token_fetches, "stable_token_fetches": state.stable_token_fetches,
                 "forced_refreshes": state.forced_refreshes, "fetches_by_app": dict(state.fetches_by_app),
                 "sent": len(state.sent), "calls": len(state.calls), "limited": state.limited}
            )  # fmt: skip

    return app


def reset_state(state: SandboxState) -> None:
    """Forget tokens, records, faults and per-user switches."""
    with state.lock:
        state.tokens.clear()
        state.stable_tokens.clear()
        state.token_fetches = state.stable_token_fetches = state.forced_refreshes = 0
        state.fetches_by_app.clear()
        state.template_msg_ids.clear()
        state.sent.clear()
        state.qr_tickets.clear()
        state.calls.clear()
        state.faults.clear()
        state.closed_windows.clear()
        state.unsubscribed.clear()
        state.subscribe_grants.clear()
        state.require_grants = False
        state.used_codes.clear()
        state.unionids.clear()
        state.oa_unionids.clear()
        state.templates = None
        state.last_forced.clear()
        state.forced_by_day.clear()
        state.daily_limits = dict(DAILY_SEND_LIMITS)
        state.offset = 0.0
        state.per_minute.clear()
        state.per_day.clear()
        state.cs_per_user = None
        state.minute_calls.clear()
        state.day_calls.clear()
        state.cs_sent.clear()
        state.limited = 0


class SandboxServer:
    """The sandbox in a background thread, with a Python API for tests."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        appid: str = DEFAULT_APPID,
        secret: str = DEFAULT_SECRET,
        miniapp_appid: str = DEFAULT_MINIAPP_APPID,
        miniapp_secret: str = DEFAULT_MINIAPP_SECRET,
    ) -> None:
        self.state = SandboxState(appid, secret, miniapp_appid, miniapp_secret)
        self.host = host
        self.port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    appid = property(lambda self: self.state.appid)
    secret = property(lambda self: self.state.secret)
    miniapp_appid = property(lambda self: self.state.miniapp_appid)
    miniapp_secret = property(lambda self: self.state.miniapp_secret)

    @property
    def url(self) -> str:
        """Base URL to use instead of https://api.weixin.qq.com."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> SandboxServer:
        """Serve in a daemon thread (threaded, so slow-fault requests do not block others)."""
        self._server = make_server(
            self.host, self.port, make_app(self.state), threaded=True, request_handler=_PathOnlyRequestHandler
        )
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="wechat-sandbox", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def reset(self) -> None:
        """Forget everything recorded and every fault."""
        reset_state(self.state)

    def qr_codes(self) -> dict[str, dict[str, Any]]:
        """The QR codes created so far: ticket -> the qrcode/create request body."""
        with self.state.lock:
            return dict(self.state.qr_tickets)

    def sent(self, touser: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        """Messages accepted by the send endpoints, oldest first."""
        with self.state.lock:
            return [
                s
                for s in self.state.sent
                if (touser is None or s["touser"] == touser) and (kind is None or s["kind"] == kind)
            ]

    def calls(self, path: str | None = None) -> list[dict[str, Any]]:
        """Every API request received (secrets removed), oldest first."""
        with self.state.lock:
            return [c for c in self.state.calls if path is None or c["path"] == path]

    def fail(
        self, path: str, *, errcode: int | None = None, status: int | None = None, delay: float = 0.0,
        times: int | None = 1, delay_after: float = 0.0,
    ) -> None:  # fmt: skip
        """Make the next `times` calls to `path` fail (errcode, HTTP status) or be slow (None: forever).

        `delay` holds the call before it is handled; `delay_after` handles it (a send is delivered) and then
        holds the answer.
        """
        with self.state.lock:
            self.state.faults[path] = Fault(
                errcode=errcode, status=status, delay=delay, times=times, delay_after=delay_after
            )

    def close_window(self, openid: str) -> None:
        """Put `openid` outside the 48 h customer-service window (custom sends get 45015)."""
        with self.state.lock:
            self.state.closed_windows.add(openid)

    def unsubscribe(self, openid: str) -> None:
        """Mark `openid` as having unfollowed the account."""
        with self.state.lock:
            self.state.unsubscribed.add(openid)

    def limit(
        self,
        per_minute: dict[str, int] | None = None,
        per_day: dict[str, int] | None = None,
        cs_per_user: int | None = None,
    ) -> None:
        """Model WeChat's send limits: per-minute (45011) and daily (45009) caps per API path, and the
        customer-service budget per user in the 48 h window (45047)."""
        with self.state.lock:
            self.state.per_minute = dict(per_minute or {})
            self.state.per_day = dict(per_day or {})
            self.state.cs_per_user = cs_per_user

    def grant_subscribe(self, openid: str, template_id: str, count: int = 1) -> None:
        """Record a subscribe-message grant (and make grants required from now on)."""
        with self.state.lock:
            self.state.require_grants = True
            key = (openid, template_id)
            self.state.subscribe_grants[key] = self.state.subscribe_grants.get(key, 0) + count

    def open_window(self, openid: str) -> None:
        """Put `openid` back inside the customer-service window (the user wrote again: a fresh budget)."""
        with self.state.lock:
            self.state.closed_windows.discard(openid)
            self.state.cs_sent.pop(openid, None)

    def grants(self, openid: str, template_id: str) -> int:
        """Subscribe-message grants the sandbox still holds for (openid, template_id)."""
        with self.state.lock:
            return self.state.subscribe_grants.get((openid, template_id), 0)

    def expire_tokens(self) -> None:
        """Let every issued access token expire now (API calls then get 42001)."""
        with self.state.lock:
            now = self.state.now()
            for token, (owner, _exp) in list(self.state.tokens.items()):
                self.state.tokens[token] = (owner, now)

    def set_daily_limit(self, kind: str, limit: int) -> None:
        """Set today's quota of sends of `kind` (template, subscribe, mp_subscribe), e.g. small for a test."""
        with self.state.lock:
            self.state.daily_limits[kind] = limit

    def advance(self, seconds: float) -> None:
        """Move the sandbox's clock forward (token expiry, force-refresh interval, daily limits)."""
        with self.state.lock:
            self.state.offset += seconds

    def set_unionid(self, openid: str, unionid: str) -> None:
        """Give the official-account follower `openid` a unionid (user/info returns it from now on)."""
        with self.state.lock:
            self.state.oa_unionids[openid] = unionid

    def set_templates(self, template_ids: set[str] | None) -> None:
        """The template ids the account has (others get 40037); None accepts any well-formed id."""
        with self.state.lock:
            self.state.templates = None if template_ids is None else set(template_ids)

    def fetches_for(self, appid: str) -> int:
        """Token fetches (/cgi-bin/token and /cgi-bin/stable_token) made for `appid`."""
        with self.state.lock:
            return self.state.fetches_by_app.get(appid, 0)

    @property
    def forced_refreshes(self) -> int:
        """How many stable_token calls asked for force_refresh=true."""
        return self.state.forced_refreshes

    @property
    def token_fetches(self) -> int:
        """How many times /cgi-bin/token was called."""
        return self.state.token_fetches

    @property
    def stable_token_fetches(self) -> int:
        """How many times /cgi-bin/stable_token was called."""
        return self.state.stable_token_fetches


def serve(host: str = "127.0.0.1", port: int = 5100) -> None:
    """Run the sandbox in the foreground (`hongguan sandbox`)."""
    server = SandboxServer(host, port)
    server._server = make_server(
        host, port, make_app(server.state), threaded=True, request_handler=_PathOnlyRequestHandler
    )
    print(json.dumps({"sandbox": server.url, "appid": server.appid, "miniapp_appid": server.miniapp_appid}))
    server._server.serve_forever()
