"""The one wrapper for every call hongguan makes to WeChat's server API (official account and mini-program).

Why not wechatpy's WeChatClient for HTTP (measured against wechatpy 1.8.18): it retries 40001 with no cap (188 token
fetches before RecursionError), refreshes without a lock (8 cold callers = 8 fetches, each one invalidating
the previous token), has no default timeout and skips it on the token fetch, and adds an access_token to
jscode2session. This module does each of those the way WeChat's docs ask:

- access token: https://developers.weixin.qq.com/doc/service/api/base/api_getstableaccesstoken (stable_token,
  preferred) and https://developers.weixin.qq.com/doc/service/en/Basic_Information/Get_access_token.html
  ("中控服务器": one shared token, refreshed centrally). The token lives in Redis, namespaced per appid, so
  every gunicorn and RQ process uses the same one; one process refreshes it under a Redis lock
  (SET NX PX) while the others wait briefly and re-read it.
- 40001/42001/40014: exactly one refresh and one retry, never a loop.
- explicit (connect, read) timeouts; timeouts, connection errors and 5xx raise WeChatUnavailable.
- sends are at most once: a send whose failure leaves open whether WeChat delivered it (a read timeout
  after the request went out, a dropped connection, a 5xx other than 503, an unreadable answer) raises
  DeliveryUncertain, which callers record and never retry; only a failure that proves the request never
  reached WeChat (connect error or connect timeout, 503, errcode -1 "system busy") is a safe retry.
- 45015/45047 (outside the 48 h customer-service window / over its budget) raise OutsideServiceWindow so
  the caller falls back to a template or subscribe message.
- every call is logged with its errcode and elapsed time; openids only as pseudonyms, never tokens/secrets.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import time
import uuid
from typing import Any

import requests
from flask import Flask, current_app
from redis import Redis
from redis.exceptions import RedisError
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

from infra.privacy import excerpt, pseudonym

log = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://api.weixin.qq.com"
# The token was overwritten by a newer one (40001), is malformed (40014) or expired (42001).
TOKEN_ERRCODES = frozenset({40001, 40014, 42001})
# 45015: outside the 48 h window or unfollowed; 45047: over the customer-service message budget.
WINDOW_ERRCODES = frozenset({45015, 45047})
# -1 "系统繁忙，此时请开发者稍候再试": a transient failure, handled like a 5xx.
BUSY_ERRCODES = frozenset({-1})
SUBSCRIBE_REFUSED = 43101  # the user refused, or the one-time grant was already used
QUOTA_EXCEEDED = 45009  # daily API quota reached: operators must be told

# Subscribe/template keyword value limits (47003 otherwise); only text-like types can be shortened safely.
VALUE_LIMITS = {"thing": 20, "character_string": 32, "name": 10, "phrase": 5}
_KEYWORD = re.compile(r"^([a-z_]+?)\d+$")

_WAIT_POLL = 0.05  # seconds between re-reads while another process refreshes the token
_FAILURE_MARK_MS = 2000  # after a failed refresh, other callers fail fast for this long instead of piling on
_FORCE_INTERVAL = 30  # seconds between forced rotations (WeChat's own limit for force_refresh=true)
# After a Redis error, skip Redis for this long: redis-py retries each command with backoff, and paying that
# on every token read would turn a Redis outage into slow WeChat calls.
_REDIS_BACKOFF = 5.0


class WeChatAPIError(Exception):
    """WeChat answered with a non-zero errcode."""

    def __init__(self, errcode: int, errmsg: str, path: str = "") -> None:
        super().__init__(errcode, errmsg, path)
        self.errcode = errcode
        self.errmsg = errmsg
        self.path = path

    def __str__(self) -> str:
        return f"{self.path or 'wechat'}: errcode {self.errcode} {self.errmsg}"


class OutsideServiceWindow(WeChatAPIError):
    """45015 / 45047: the customer-service window is closed; fall back to a template/subscribe message."""


class WeChatUnavailable(Exception):
    """WeChat could not be reached or answered badly (timeout, connection error, 5xx, busy): retry later."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message, path)
        self.path = path

    def __str__(self) -> str:
        return f"{self.path or 'wechat'}: {self.args[0]}"


class DeliveryUncertain(WeChatUnavailable):
    """A send failed after its request may have reached WeChat: it may have been delivered, so never resend."""


def _never_sent(error: requests.RequestException) -> bool:
    """True when a transport error proves the request never reached WeChat (no connection was made)."""
    if isinstance(error, (requests.ConnectTimeout, requests.exceptions.SSLError)):
        return True  # the TCP connect or the TLS handshake failed: no byte of the request was sent
    if isinstance(error, requests.ConnectionError):
        cause = error.args[0] if error.args else None
        return isinstance(cause, MaxRetryError) and isinstance(cause.reason, (NewConnectionError, ConnectTimeoutError))
    return isinstance(error, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema))


def limit_values(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Normalise template/subscribe data to {"key": {"value": str}} and shorten over-long text values.

    WeChat rejects a `thing` value over 20 characters with 47003 and the whole message is lost; a shortened
    value with an ellipsis still tells the recipient what it is about.
    """
    result: dict[str, dict[str, Any]] = {}
    for key, item in data.items():
        entry = dict(item) if isinstance(item, dict) else {"value": item}
        value = "" if entry.get("value") is None else str(entry["value"])
        match = _KEYWORD.match(key)
        limit = VALUE_LIMITS.get(match.group(1)) if match else None
        if limit is not None and len(value) > limit:
            value = value[: limit - 1] + "…"
        entry["value"] = value
        result[key] = entry
    return result


class WeChatClient:
    """Calls WeChat's API for one app (official account or mini-program) with a Redis-shared access token."""

    def __init__(
        self,
        appid: str,
        secret: str,
        redis: Redis,
        *,
        api_base: str | None = None,
        timeout: float = 5.0,
        name: str = "oa",
    ) -> None:
        self.appid = appid
        self._secret = secret
        self.redis = redis
        self.api_base = (api_base or DEFAULT_API_BASE).rstrip("/")
        self.timeout = timeout
        # Connecting should be quick; the read may legitimately take longer (WeChat's own processing).
        self._timeouts = (min(3.05, timeout), timeout)
        self.name = name
        self._http = requests.Session()
        self._http.headers["User-Agent"] = "hongguan"
        self.token_key = f"hongguan:wx:{appid}:access_token"
        self.lock_key = f"hongguan:wx:{appid}:access_token:lock"
        self.failed_key = f"hongguan:wx:{appid}:access_token:failed"
        self.forced_key = f"hongguan:wx:{appid}:access_token:forced"
        # Worst case under the lock: two token calls, each bounded by the timeouts.
        self._lock_ms = int((2 * sum(self._timeouts) + 2) * 1000)
        # Used only while Redis is unreachable; stable_token's normal mode does not rotate the token, so
        # fetching without the shared cache cannot invalidate the other processes' copy.
        self._memo: tuple[str, float] | None = None
        self._redis_down_until = 0.0

    def __repr__(self) -> str:
        return f"WeChatClient(name={self.name!r}, appid={self.appid!r}, api_base={self.api_base!r})"

    def _redis(self, command: str, *args: Any, **kwargs: Any) -> Any:
        """Run a Redis command unless Redis failed moments ago (then raise at once)."""
        if time.monotonic() < self._redis_down_until:
            raise RedisError("redis marked unavailable")
        try:
            return getattr(self.redis, command)(*args, **kwargs)
        except RedisError as e:
            # Logged once per trip, not on every call made while the breaker is open.
            log.warning(
                "wechat %s: redis unavailable (%s); using a process-local token for %.0f s",
                self.name, type(e).__name__, _REDIS_BACKOFF,
            )  # fmt: skip
            self._redis_down_until = time.monotonic() + _REDIS_BACKOFF
            raise

    # ------------------------------------------------------------------ access token

    def get_access_token(self, *, force_refresh: bool = False) -> str:
        """The shared access token; force_refresh=True replaces the cached one (it was rejected)."""
        current = self._cached_token()
        if current and not force_refresh:
            return current
        return self._refresh(rejected=current if force_refresh else None)

    def token_ttl(self) -> float | None:
        """Seconds the cached token has left (None when nothing is cached or Redis is down)."""
        try:
            ms = self._redis("pttl", self.token_key)
        except RedisError:
            return None
        return ms / 1000 if ms and ms > 0 else None

    def refresh_token_if_needed(self, min_ttl: float) -> bool:
        """Fetch a token when the cached one has under `min_ttl` seconds left; True when one was fetched."""
        ttl = self.token_ttl()
        if ttl is not None and ttl >= min_ttl:
            return False
        self._refresh(rejected=None, ahead=True)
        return True

    def _cached_token(self) -> str | None:
        try:
            raw = self._redis("get", self.token_key)
        except RedisError:
            return self._memo_token()
        if raw is None:
            return None
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    def _memo_token(self) -> str | None:
        if self._memo and self._memo[1] > time.monotonic():
            return self._memo[0]
        return None

    def _refresh(self, rejected: str | None, *, ahead: bool = False) -> str:
        """Fetch a new token under the Redis lock, or wait for the process that holds it."""
        owner = uuid.uuid4().hex
        deadline = time.monotonic() + self._lock_ms / 1000 + 1
        while True:
            try:
                if self._redis("exists", self.failed_key):
                    raise WeChatUnavailable("a token refresh failed moments ago; not retrying yet", "token")
                locked = bool(self._redis("set", self.lock_key, owner, nx=True, px=self._lock_ms))
            except RedisError:
                # No shared cache and no lock: fetch for this process only, never with force_refresh.
                return self._fetch_and_store(rejected=None)
            if locked:
                try:
                    current = self._cached_token()
                    if current and current != rejected and not ahead:
                        return current  # another process refreshed while we queued for the lock
                    return self._fetch_and_store(rejected=rejected)
                except (WeChatAPIError, WeChatUnavailable):
                    self._mark_failed()
                    raise
                finally:
                    self._release(owner)
            # Someone else is refreshing: re-read until their token appears, they fail, or the lock lapses.
            while time.monotonic() < deadline:
                time.sleep(_WAIT_POLL)
                current = self._cached_token()
                if current and current != rejected:
                    return current
                try:
                    if self._redis("exists", self.failed_key):
                        raise WeChatUnavailable("another process failed to refresh the token", "token")
                    if not self._redis("exists", self.lock_key):
                        break  # the holder died without a token: try to take the lock ourselves
                except RedisError:
                    break
            else:
                raise WeChatUnavailable("timed out waiting for another process to refresh the token", "token")

    def _release(self, owner: str) -> None:
        # Delete the lock only if it is still ours (it may have lapsed and been taken by another process).
        script = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
        with contextlib.suppress(RedisError):  # the lock expires on its own
            self._redis("eval", script, 1, self.lock_key, owner)

    def _mark_failed(self) -> None:
        with contextlib.suppress(RedisError):
            self._redis("set", self.failed_key, "1", px=_FAILURE_MARK_MS)

    def _fetch_and_store(self, rejected: str | None) -> str:
        """Call stable_token; if WeChat hands back the very token it just refused, force one rotation."""
        data = self._stable_token(force_refresh=False)
        if rejected is not None and data["access_token"] == rejected and self._may_force():
            # Normal mode keeps returning a live token; only force_refresh rotates it (20/day, 30 s apart),
            # which is why this runs only under the lock, only for a token WeChat actually refused, and at
            # most once per 30 s per app however many callers saw the refusal.
            data = self._stable_token(force_refresh=True)
        token = str(data["access_token"])
        expires_in = int(data.get("expires_in") or 7200)
        # Stop using a token a little before WeChat does, so no call races its expiry.
        ttl = max(expires_in - 120, expires_in // 2, 1)
        self._memo = (token, time.monotonic() + ttl)
        try:
            self._redis("set", self.token_key, token, ex=ttl)
        except RedisError:
            log.warning("wechat %s: token fetched but not shared (redis unavailable)", self.name)
        return token

    def _may_force(self) -> bool:
        """Claim this app's forced-refresh slot (WeChat: force_refresh at most every 30 s, 20 a day)."""
        try:
            return bool(self._redis("set", self.forced_key, "1", nx=True, ex=_FORCE_INTERVAL))
        except RedisError:
            return False  # without the shared slot, never spend the scarce forced refreshes

    def _stable_token(self, *, force_refresh: bool) -> dict[str, Any]:
        body = {
            "grant_type": "client_credential",
            "appid": self.appid,
            "secret": self._secret,
            "force_refresh": force_refresh,
        }
        data = self._http_call("POST", "/cgi-bin/stable_token", body=body, note="force" if force_refresh else "")
        errcode = int(data.get("errcode") or 0)
        if errcode or not data.get("access_token"):
            # 40125 bad secret, 40164 IP not whitelisted, 45009 quota: none of these heal by retrying now.
            log.error("wechat %s: access token refused: errcode %s %s", self.name, errcode, data.get("errmsg"))
            raise WeChatAPIError(errcode or -2, str(data.get("errmsg") or "no access_token"), "/cgi-bin/stable_token")
        return data

    # ------------------------------------------------------------------ HTTP

    def _http_call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        openid: str | None = None,
        note: str = "",
        at_most_once: bool = False,
    ) -> dict[str, Any]:
        """One HTTP request, logged; raises WeChatUnavailable for transport failures, 5xx and non-JSON.

        With `at_most_once` (message sends), a failure after the request may have reached WeChat raises
        DeliveryUncertain instead, so the caller does not send the message a second time.
        """
        uncertain = DeliveryUncertain if at_most_once else WeChatUnavailable
        url = self.api_base + path
        data = None
        headers = {}
        if body is not None:
            # WeChat expects UTF-8 JSON; \\uXXXX escapes show up literally in some messages.
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json; charset=utf-8"
        started = time.monotonic()
        who = pseudonym(openid) if openid else "-"
        try:
            response = self._http.request(
                method, url, params=params, data=data, headers=headers, timeout=self._timeouts
            )
        except requests.RequestException as e:
            elapsed = (time.monotonic() - started) * 1000
            error = WeChatUnavailable if _never_sent(e) else uncertain
            log.warning(
                "wechat %s %s %s openid=%s %s elapsed=%.0fms%s",
                self.name, method, path, who, type(e).__name__, elapsed,
                " (delivery uncertain)" if error is DeliveryUncertain else "",
            )  # fmt: skip
            if isinstance(e, requests.Timeout):
                raise error(f"timed out after {elapsed:.0f} ms ({type(e).__name__})", path) from e
            raise error(f"connection failed: {type(e).__name__}", path) from e
        elapsed = (time.monotonic() - started) * 1000
        if response.status_code >= 500:
            log.warning(
                "wechat %s %s %s openid=%s http=%s elapsed=%.0fms",
                self.name, method, path, who, response.status_code, elapsed,
            )  # fmt: skip
            # 503: the service refused the request before handling it; any other 5xx (a gateway timing out,
            # an internal error) may come after WeChat acted on it.
            error = WeChatUnavailable if response.status_code == 503 else uncertain
            raise error(f"HTTP {response.status_code}", path)
        try:
            result = response.json()
        except ValueError as e:
            log.warning(
                "wechat %s %s %s openid=%s http=%s not JSON",
                self.name,
                method,
                path,
                who,
                response.status_code,
            )
            raise uncertain(f"HTTP {response.status_code} with a non-JSON body", path) from e
        if not isinstance(result, dict):
            raise uncertain("unexpected JSON shape", path)
        errcode = int(result.get("errcode") or 0)  # success often has no errcode at all (jscode2session)
        level = logging.INFO if errcode == 0 else logging.WARNING
        if errcode == QUOTA_EXCEEDED:
            level = logging.ERROR  # operators must raise the quota or find the caller burning it
        log.log(
            level,
            "wechat %s %s %s%s openid=%s errcode=%s errmsg=%s elapsed=%.0fms",
            self.name, method, path, f" ({note})" if note else "", who, errcode,
            excerpt(str(result.get("errmsg", "")), 80) if errcode else "ok", elapsed,
        )  # fmt: skip
        return result

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        openid: str | None = None,
        at_most_once: bool = False,
    ) -> dict[str, Any]:
        """An authenticated call: at most one token refresh and one retry, then errors are raised.

        The retry after 40001/42001/40014 is safe for sends too: WeChat refused the token, so nothing was sent.
        """
        token = self.get_access_token()
        result = self._http_call(
            method, path, params={**(params or {}), "access_token": token}, body=body, openid=openid,
            at_most_once=at_most_once,
        )  # fmt: skip
        if int(result.get("errcode") or 0) in TOKEN_ERRCODES:
            token = self._refresh(rejected=token)
            result = self._http_call(
                method,
                path,
                params={**(params or {}), "access_token": token},
                body=body,
                openid=openid,
                note="retry",
                at_most_once=at_most_once,
            )
        return self._check(result, path)

    @staticmethod
    def _check(result: dict[str, Any], path: str) -> dict[str, Any]:
        errcode = int(result.get("errcode") or 0)
        if errcode == 0:
            return result
        errmsg = str(result.get("errmsg", ""))
        if errcode in WINDOW_ERRCODES:
            raise OutsideServiceWindow(errcode, errmsg, path)
        if errcode in BUSY_ERRCODES:
            raise WeChatUnavailable(f"system busy (errcode {errcode})", path)
        raise WeChatAPIError(errcode, errmsg, path)

    # ------------------------------------------------------------------ messages

    def send_text(self, openid: str, content: str) -> dict:
        """Customer-service text message (within 48 h of the user's last message)."""
        return self.send_custom({"touser": openid, "msgtype": "text", "text": {"content": content}})

    def send_custom(self, payload: dict) -> dict:
        """Customer-service message of any type; OutsideServiceWindow on 45015/45047.

        https://developers.weixin.qq.com/doc/service/api/customer/message/api_sendcustommessage
        """
        return self._call(
            "POST", "/cgi-bin/message/custom/send", body=payload, openid=payload.get("touser"), at_most_once=True
        )

    def send_template(
        self,
        openid: str,
        template_id: str,
        data: dict,
        *,
        url: str | None = None,
        miniprogram: dict | None = None,
        client_msg_id: str | None = None,
    ) -> dict:
        """Official-account template message; client_msg_id makes WeChat drop a repeat within 10 minutes.

        https://developers.weixin.qq.com/doc/service/api/notify/template/api_sendtemplatemessage.md
        """
        body: dict[str, Any] = {"touser": openid, "template_id": template_id, "data": limit_values(data)}
        if url:
            body["url"] = url
        if miniprogram:
            body["miniprogram"] = miniprogram
        if client_msg_id:
            body["client_msg_id"] = client_msg_id
        return self._call("POST", "/cgi-bin/message/template/send", body=body, openid=openid, at_most_once=True)

    def send_subscribe(
        self,
        openid: str,
        template_id: str,
        data: dict,
        *,
        page: str | None = None,
        miniprogram: dict | None = None,
    ) -> dict:
        """Official-account subscription notification (订阅通知, bizsend); 43101 when there is no grant.

        https://developers.weixin.qq.com/doc/service/api/notify/notify/api_sendnewsubscribemsg.html
        """
        body: dict[str, Any] = {"touser": openid, "template_id": template_id, "data": limit_values(data)}
        if page:
            body["page"] = page
        if miniprogram:
            body["miniprogram"] = miniprogram
        return self._call("POST", "/cgi-bin/message/subscribe/bizsend", body=body, openid=openid, at_most_once=True)

    def send_mp_subscribe(
        self,
        openid: str,
        template_id: str,
        data: dict,
        *,
        page: str | None = None,
        state: str = "formal",
    ) -> dict:
        """Mini-program subscribe message (call on the mini-program's client); 43101 when there is no grant.

        https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/mp-message-management/subscribe-message/sendMessage.html
        """
        body: dict[str, Any] = {
            "touser": openid,
            "template_id": template_id,
            "data": limit_values(data),
            "miniprogram_state": state,
            "lang": "zh_CN",
        }
        if page:
            body["page"] = page
        return self._call("POST", "/cgi-bin/message/subscribe/send", body=body, openid=openid, at_most_once=True)

    # ------------------------------------------------------------------ users

    def create_temporary_qr(self, scene_str: str, expire_seconds: int) -> dict:
        """A temporary string-scene QR code: {ticket, expire_seconds, url} (`url` is the QR's content).

        https://developers.weixin.qq.com/doc/offiaccount/Account_Management/Generating_a_Parametric_QR_Code.html
        """
        body = {
            "expire_seconds": expire_seconds,
            "action_name": "QR_STR_SCENE",
            "action_info": {"scene": {"scene_str": scene_str}},
        }
        return self._call("POST", "/cgi-bin/qrcode/create", body=body)

    def create_permanent_qr(self, scene_str: str) -> dict:
        """A permanent string-scene QR code (QR_LIMIT_STR_SCENE, scene of 1–64 characters): {ticket, url}.

        https://developers.weixin.qq.com/doc/offiaccount/Account_Management/Generating_a_Parametric_QR_Code.html
        Permanent codes never expire and are limited in number per account, so callers keep the ticket.
        """
        body = {"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": scene_str}}}
        return self._call("POST", "/cgi-bin/qrcode/create", body=body)

    def code_to_session(self, js_code: str) -> dict:
        """Mini-program login: {openid, session_key, unionid?}; never sends an access_token.

        https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/user-login/code2Session.html
        The result holds session_key: keep it server-side, never log it or return it to the client.
        """
        params = {
            "appid": self.appid,
            "secret": self._secret,
            "js_code": js_code,
            "grant_type": "authorization_code",
        }
        result = self._http_call("GET", "/sns/jscode2session", params=params)
        return self._check(result, "/sns/jscode2session")

    def user_info(self, openid: str) -> dict:
        """A follower's profile (subscribe, subscribe_time, unionid, scene; no nickname since 2021-12-27).

        https://developers.weixin.qq.com/doc/service/api/usermanage/userinfo/api_userinfo
        """
        return self._call("GET", "/cgi-bin/user/info", params={"openid": openid, "lang": "zh_CN"}, openid=openid)


def _cached_client(app: Flask, kind: str, appid: str, secret: str) -> WeChatClient:
    from infra.web import get_redis  # local: keeps this module importable without the web layer set up

    key = f"hongguan.wechat.{kind}"
    cached = app.extensions.get(key)
    # One client (and HTTP connection pool) per process: pooled sockets must not cross an RQ fork.
    if cached is not None and cached[0] == os.getpid():
        return cached[1]
    client = WeChatClient(
        appid,
        secret,
        get_redis(app),
        api_base=app.config.get("WECHAT_API_BASE") or None,
        timeout=float(app.config.get("WECHAT_TIMEOUT", 5.0)),
        name=kind,
    )
    app.extensions[key] = (os.getpid(), client)
    return client


def oa_client(app: Flask | None = None) -> WeChatClient:
    """The official account's client, from the app's config and Redis."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    return _cached_client(app, "oa", app.config["WECHAT_APPID"], app.config["WECHAT_SECRET"])


def miniapp_client(app: Flask | None = None) -> WeChatClient:
    """The mini-program's client (its own appid, secret and access token)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    return _cached_client(app, "mp", app.config["MINIAPP_APPID"], app.config["MINIAPP_SECRET"])
