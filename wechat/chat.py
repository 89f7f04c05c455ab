"""The chat simulator (`hongguan chat`): talk to the running webhook as a WeChat user would.

Each line typed becomes a push built, signed and (in safe/compat mode) encrypted exactly as WeChat's
servers do (https://developers.weixin.qq.com/doc/subscription/guide/dev/push/encryption.md): a new MsgId,
the current timestamp, a random nonce, `signature` over (token, timestamp, nonce) and `msg_signature` over
the Encrypt field. It prints the passive reply (decrypted and checked) and every customer-service message the
sandbox received for this user, which is how answers sent later by the worker show up.

Commands: plain text; /voice 文字 (a voice message with that Recognition; "/voice" alone = unrecognised);
/image [url]; /location LAT LNG [label]; /click KEY; /view URL; /subscribe [scene]; /scan SCENE;
/unsubscribe; /event NAME [key]; /raw <xml…>; /quit.
"""

from __future__ import annotations

import secrets
import shlex
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO
from urllib.parse import urlencode

import requests

from infra import clock
from wechat.crypto import MessageCrypto
from wechat.signature import sign
from wechat.xmlsafe import parse_xml

MODES = ("plain", "compat", "aes")


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def to_xml(fields: dict[str, Any]) -> str:
    """A flat WeChat XML document (numbers bare, strings in CDATA)."""
    parts = []
    for name, value in fields.items():
        text = str(value) if isinstance(value, int) else _cdata(str(value))
        parts.append(f"<{name}>{text}</{name}>")
    return "<xml>" + "".join(parts) + "</xml>"


class ChatError(ValueError):
    """A simulator command could not be understood."""


@dataclass
class FakeWeChat:
    """Builds pushes for one user the way WeChat's servers do, and reads the account's replies."""

    token: str
    aes_key: str
    appid: str
    openid: str
    account_id: str = "gh_hongguan_dev"
    mode: str = "aes"
    _crypto: MessageCrypto = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self._crypto = MessageCrypto(self.token, self.aes_key, self.appid)

    def fields(self, msg_type: str, **extra: Any) -> dict[str, Any]:
        """The message fields: header (To/From/CreateTime/MsgType), `extra`, and a new MsgId for messages."""
        out: dict[str, Any] = {
            "ToUserName": self.account_id,
            "FromUserName": self.openid,
            "CreateTime": int(clock.now().timestamp()),
            "MsgType": msg_type,
        }
        out.update(extra)
        if msg_type != "event" and "MsgId" not in out:
            out["MsgId"] = secrets.randbits(62)  # WeChat's MsgIds are 64-bit integers
        return out

    def push(
        self, fields: dict[str, Any] | str, *, timestamp: str | None = None, nonce: str | None = None
    ) -> tuple[dict[str, str], bytes]:
        """(query parameters, body) of the POST WeChat would send for `fields` (or a ready XML string)."""
        xml = fields if isinstance(fields, str) else to_xml(fields)
        timestamp = timestamp or str(int(clock.now().timestamp()))
        nonce = nonce or str(secrets.randbelow(10**10))
        params = {"signature": sign(self.token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}
        params["openid"] = self.openid
        if self.mode == "plain":
            return params, xml.encode()
        encrypt = self._crypto.encrypt(xml)
        params.update(encrypt_type="aes", msg_signature=self._crypto.signature(timestamp, nonce, encrypt))
        if self.mode == "aes":
            to_user = f"<ToUserName>{_cdata(self.account_id)}</ToUserName>"
            body = f"<xml>{to_user}<Encrypt>{_cdata(encrypt)}</Encrypt></xml>"
        else:  # compat: the plaintext fields and the Encrypt field side by side
            body = xml[: -len("</xml>")] + f"<Encrypt>{_cdata(encrypt)}</Encrypt></xml>"
        return params, body.encode()

    def read_reply(self, body: str) -> dict[str, str] | None:
        """The passive reply's fields (decrypted, msg_signature checked), or None for `success`/empty."""
        body = body.strip()
        if not body or body == "success":
            return None
        outer = parse_xml(body)
        if "Encrypt" in outer:
            plain = self._crypto.decrypt_message(
                outer.get("MsgSignature", ""),
                outer.get("TimeStamp", ""),
                outer.get("Nonce", ""),
                outer["Encrypt"],
            )
            return parse_xml(plain)
        if self.mode == "aes":
            raise ValueError("safe mode expects an encrypted reply")
        return outer

    def command(self, line: str) -> dict[str, Any] | str:
        """The push fields for one typed line (see the module docstring), or raw XML for /raw."""
        line = line.strip()
        if not line.startswith("/"):
            return self.fields("text", Content=line)
        name, _, rest = line.partition(" ")
        rest = rest.strip()
        try:
            args = shlex.split(rest)
        except ValueError as e:
            raise ChatError(str(e)) from e
        media_id = "media_" + secrets.token_hex(6)
        if name == "/voice":
            return self.fields("voice", MediaId=media_id, Format="amr", Recognition=rest)
        if name == "/image":
            return self.fields("image", PicUrl=rest or f"https://mmbiz.example/{media_id}.jpg", MediaId=media_id)
        if name == "/location":
            if len(args) < 2:
                raise ChatError("usage: /location LAT LNG [label]")
            try:
                lat, lng = float(args[0]), float(args[1])
            except ValueError as e:
                raise ChatError("LAT and LNG must be numbers") from e
            label = " ".join(args[2:]) or "位置"
            return self.fields("location", Location_X=lat, Location_Y=lng, Scale=15, Label=label)
        if name == "/click":
            return self.fields("event", Event="CLICK", EventKey=rest or "HELP")
        if name == "/view":
            return self.fields("event", Event="VIEW", EventKey=rest or "https://example.com")
        if name == "/subscribe":
            extra = {"EventKey": f"qrscene_{rest}", "Ticket": secrets.token_hex(8)} if rest else {"EventKey": ""}
            return self.fields("event", Event="subscribe", **extra)
        if name == "/scan":
            if not rest:
                raise ChatError("usage: /scan SCENE")
            return self.fields("event", Event="SCAN", EventKey=rest, Ticket=secrets.token_hex(8))
        if name == "/unsubscribe":
            return self.fields("event", Event="unsubscribe", EventKey="")
        if name == "/event":
            if not args:
                raise ChatError("usage: /event NAME [key]")
            return self.fields("event", Event=args[0], EventKey=" ".join(args[1:]))
        if name == "/raw":
            return rest
        raise ChatError(f"unknown command {name}; try /voice /image /location /click /subscribe /scan /quit")


def _print_reply(reply: dict[str, str] | None, out: TextIO) -> None:
    if reply is None:
        print("  (no passive reply: success)", file=out)
    elif reply.get("MsgType") == "text":
        print("< " + reply.get("Content", "").replace("\n", "\n  "), file=out)
    else:
        print(f"< [{reply.get('MsgType')}] {reply}", file=out)


def _custom_text(item: dict[str, Any]) -> str:
    body = item.get("body") or {}
    if item.get("kind") == "custom":
        if body.get("msgtype") == "text":
            return (body.get("text") or {}).get("content", "")
        return f"[{body.get('msgtype')}] {body}"
    data = body.get("data") or {}
    values = "；".join(f"{k}={(v or {}).get('value', '')}" for k, v in data.items())
    return f"[{item.get('kind')} {body.get('template_id', '')}] {values}"


def _fetch_sent(http: requests.Session, sandbox_url: str, openid: str, since: int) -> list[dict[str, Any]]:
    resp = http.get(f"{sandbox_url}/sandbox/sent", params={"touser": openid, "since": since}, timeout=5)
    resp.raise_for_status()
    return list(resp.json())


def _unreachable(what: str, url: str, error: requests.RequestException) -> str:
    """One line for a server that is down or not answering (the simulator keeps going)."""
    reason = "not answering" if isinstance(error, requests.ConnectionError | requests.Timeout) else "failed"
    return f"! {what} at {url} {reason} ({type(error).__name__}); is `hongguan run` running?"


def run_chat(
    base_url: str,
    sandbox_url: str,
    token: str,
    aes_key: str,
    appid: str,
    openid: str,
    mode: str = "aes",
    *,
    account_id: str = "gh_hongguan_dev",
    stdin: Iterable[str] | None = None,
    stdout: TextIO | None = None,
    poll_seconds: float = 1.5,
    prompt: bool | None = None,
) -> int:
    """Read lines from stdin, push each to {base_url}/wechat, print replies and customer-service messages.

    Returns the number of lines sent. `poll_seconds` is how long to wait after each line for messages the
    worker sends through the sandbox (0 = just look once).
    """
    lines = sys.stdin if stdin is None else stdin
    out = sys.stdout if stdout is None else stdout
    show_prompt = (stdin is None and sys.stdin.isatty()) if prompt is None else prompt
    wechat = FakeWeChat(token, aes_key, appid, openid, account_id=account_id, mode=mode)
    http = requests.Session()
    print(f"chatting with {base_url}/wechat as {openid} ({mode} mode); /quit to leave", file=out)
    seen: int | None = None  # the sandbox's last record before this chat; None until the sandbox answered
    sent = 0

    def drain(wait: float) -> None:
        nonlocal seen
        deadline = time.monotonic() + wait
        while True:
            try:
                items = _fetch_sent(http, sandbox_url, openid, seen or 0)
            except requests.RequestException as e:
                print(_unreachable("the WeChat sandbox", sandbox_url, e), file=out)
                return
            if seen is None:  # first contact: what the sandbox already holds is from before this chat
                seen = max((int(i["id"]) for i in items), default=0)
                items = []
            for item in items:
                seen = max(seen, int(item["id"]))
                print(f"[客服消息] {_custom_text(item)}", file=out)
            if time.monotonic() >= deadline:
                return
            time.sleep(0.2)

    drain(0)

    if show_prompt:
        print("> ", end="", file=out, flush=True)
    for raw_line in lines:
        line = raw_line.strip()
        if not line:
            continue
        if line in {"/quit", "/exit"}:
            break
        try:
            fields = wechat.command(line)
        except ChatError as e:
            print(f"! {e}", file=out)
            continue
        params, body = wechat.push(fields)
        try:
            resp = http.post(
                f"{base_url}/wechat?{urlencode(params)}",
                data=body,
                headers={"Content-Type": "text/xml"},
                timeout=10,
            )
        except requests.RequestException as e:
            print(_unreachable("the webhook", f"{base_url}/wechat", e), file=out)
            if show_prompt:
                print("> ", end="", file=out, flush=True)
            continue
        sent += 1
        if resp.status_code != 200:
            print(f"! HTTP {resp.status_code}: {resp.text[:200]}", file=out)
        else:
            _print_reply(wechat.read_reply(resp.text), out)
        drain(poll_seconds)
        if show_prompt:
            print("> ", end="", file=out, flush=True)
    drain(0)
    return sent
