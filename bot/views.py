"""The /wechat endpoint (服务器配置 URL): URL verification and pushes in plaintext, compat and safe mode.

Official rules: https://developers.weixin.qq.com/doc/oplatform/Website_App/WeChat_Login/message_push.md
(signature, echostr) and https://developers.weixin.qq.com/doc/subscription/guide/dev/push/encryption.md
(modes, msg_signature).
Order of checks on a POST: signature (403) → timestamp window (403) → body size (413) → nonce replay (403) →
msg_signature in AES mode (403) → decrypt / parse (failures are logged, stored and answered `success`) →
persist, dedupe, handle (bot/inbound.py) → passive reply, encrypted when the push was.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from functools import lru_cache

from flask import Blueprint, Response, current_app, request
from redis.exceptions import RedisError
from werkzeug.exceptions import RequestEntityTooLarge

from bot import inbound
from bot.replies import SUCCESS
from bot.xmlsafe import XmlError, parse_xml
from infra import clock
from infra.web import db_session, get_redis
from wechat.crypto import CryptoError, MessageCrypto
from wechat.signature import check_signature

log = logging.getLogger(__name__)

bp = Blueprint("wechat", __name__)

NONCE_PREFIX = "wx:nonce:"


def _text(body: str, status: int = 200) -> Response:
    return Response(body, status=status, mimetype="text/plain")


def _forbidden(reason: str) -> Response:
    log.warning("refused WeChat push from %s: %s", request.remote_addr, reason)
    return _text("forbidden", 403)


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(e: RequestEntityTooLarge) -> Response:
    # WeChat's pushes are a few KB; never answer with an HTML error page.
    log.warning("refused oversize push (%s bytes)", request.content_length)
    return _text("request body too large", 413)


@lru_cache(maxsize=8)
def _crypto(token: str, aes_key: str, appid: str) -> MessageCrypto:
    return MessageCrypto(token, aes_key, appid)


@bp.get("/wechat")
def verify_url() -> Response:
    """URL verification: echo `echostr` verbatim when the signature matches (message_push.md)."""
    args = request.args
    if not check_signature(
        current_app.config["WECHAT_TOKEN"],
        args.get("signature", ""),
        args.get("timestamp", ""),
        args.get("nonce", ""),
    ):
        return Response("forbidden", status=403, mimetype="text/plain")
    return Response(args.get("echostr", ""), mimetype="text/plain")


def _fresh(timestamp: str) -> bool:
    """The push's timestamp is within TIMESTAMP_WINDOW seconds of now (a captured URL expires)."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    return abs(clock.now().timestamp() - ts) <= int(current_app.config["TIMESTAMP_WINDOW"])


def _replay_ok(timestamp: str, nonce: str, body: bytes) -> bool:
    """Nonce replay cache: SET NX EX binds (timestamp, nonce) to the body's hash.

    WeChat's own retries repeat the request exactly, so the same (timestamp, nonce) with the same body passes
    (the inbound log dedupes it); the same signed URL with a different body is a replay and is refused. In
    plaintext mode the signature does not cover the body (perf-reliability.md §3.6), so this is what stops a
    captured URL from carrying forged content. Redis down: skip it; the DB dedupe still holds.
    """
    digest = hashlib.sha256(body).hexdigest()[:32]
    key = f"{NONCE_PREFIX}{timestamp}:{nonce[:64]}"
    ttl = 2 * int(current_app.config["TIMESTAMP_WINDOW"]) + 60
    try:
        redis = get_redis()
        if redis.set(key, digest, nx=True, ex=ttl):
            return True
        seen = redis.get(key)
    except RedisError as e:
        log.warning("nonce cache unavailable (%s); relying on DB dedupe", type(e).__name__)
        return True
    return seen is None or seen.decode() == digest


def _reply(reply_xml: str | None, crypto: MessageCrypto | None) -> Response:
    if not reply_xml:
        return _text(SUCCESS)
    if crypto is None:
        return Response(reply_xml, mimetype="application/xml")
    timestamp = str(int(clock.now().timestamp()))
    envelope = crypto.encrypt_reply(reply_xml, timestamp, secrets.token_hex(8))
    return Response(envelope.to_xml(), mimetype="application/xml")


def _decrypt(encrypt: str) -> tuple[str, MessageCrypto]:
    """Decrypt with the current EncodingAESKey, then the previous one (rotation); CryptoError if neither."""
    cfg = current_app.config
    keys = [cfg["WECHAT_AES_KEY"]] + ([cfg["WECHAT_PREVIOUS_AES_KEY"]] if cfg.get("WECHAT_PREVIOUS_AES_KEY") else [])
    error: CryptoError | None = None
    for key in keys:
        try:
            crypto = _crypto(cfg["WECHAT_TOKEN"], key, cfg["WECHAT_APPID"])
            return crypto.decrypt(encrypt), crypto
        except CryptoError as e:
            error = e
    assert error is not None
    raise error


@bp.post("/wechat")
def receive_push() -> Response:
    """A message or event push: verify, decrypt, persist, dedupe, handle, reply within WeChat's 5 s."""
    cfg = current_app.config
    args = request.args
    timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
    if not check_signature(cfg["WECHAT_TOKEN"], args.get("signature", ""), timestamp, nonce):
        return _forbidden("bad signature")
    if not _fresh(timestamp):
        return _forbidden("timestamp outside the window")
    body = request.get_data(cache=False)  # > MAX_CONTENT_LENGTH raises 413 here
    if not _replay_ok(timestamp, nonce, body):
        return _forbidden("nonce reused with a different body")
    encrypted = args.get("encrypt_type", "").lower() == "aes"
    openid = args.get("openid", "")
    session = db_session()
    raw = body.decode("utf-8", "replace")
    try:
        outer = parse_xml(body)
    except XmlError as e:
        log.warning("unparsable push after a valid signature: %s", e)
        inbound.persist_unreadable(
            session, raw, openid=openid, timestamp=int(timestamp), encrypted=encrypted, error=str(e)
        )
        session.commit()
        return _text(SUCCESS)

    crypto: MessageCrypto | None = None
    plain = raw
    fields = outer
    if encrypted:
        encrypt = outer.get("Encrypt", "")
        if not _crypto(cfg["WECHAT_TOKEN"], cfg["WECHAT_AES_KEY"], cfg["WECHAT_APPID"]).check(
            args.get("msg_signature", ""), timestamp, nonce, encrypt
        ):
            return _forbidden("bad msg_signature")
        try:
            plain, crypto = _decrypt(encrypt)
            fields = parse_xml(plain)
        except (CryptoError, XmlError) as e:
            log.warning("undecryptable push after a valid msg_signature: %s", e)
            inbound.persist_unreadable(
                session, raw, openid=openid, timestamp=int(timestamp), encrypted=True, error=str(e)
            )
            session.commit()
            return _text(SUCCESS)

    result = inbound.receive(session, fields, plain, encrypted=encrypted, account_id=cfg["WECHAT_ACCOUNT_ID"])
    inbound.finish(session, result)
    return _reply(result.reply_xml, crypto)
