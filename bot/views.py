"""The /wechat endpoint (服务器配置 URL): URL verification and pushes in plaintext, compat and safe mode.

Official rules: https://developers.weixin.qq.com/doc/oplatform/Website_App/WeChat_Login/message_push.md
(signature, echostr) and https://developers.weixin.qq.com/doc/subscription/guide/dev/push/encryption.md
(modes, msg_signature).
The GET (URL verification) is refused (403) on a bad signature or a timestamp outside the window.
Order of checks on a POST: signature (403) → timestamp window (403) → body size (413) → msg_signature in AES
mode (403) → decrypt / parse (failures are logged, stored and answered `success`) → persist, dedupe and the
replay check, handle (bot/inbound.py: a signed URL, timestamp + nonce, delivers one message only; another
message under it is refused with 403) → passive reply, encrypted when the push was.
"""

from __future__ import annotations

import logging
import secrets
from functools import lru_cache

from flask import Blueprint, Response, current_app, request
from flask.blueprints import BlueprintSetupState
from sqlalchemy.orm import Session
from werkzeug.exceptions import RequestEntityTooLarge

from bot import inbound
from bot.failed import count_failed
from bot.replies import SUCCESS
from infra import clock
from infra.web import add_health_check, db_session, get_db, read_body
from wechat.crypto import CryptoError, MessageCrypto
from wechat.signature import check_signature
from wechat.xmlsafe import XmlError, parse_xml

log = logging.getLogger(__name__)

bp = Blueprint("wechat", __name__)


def _text(body: str, status: int = 200) -> Response:
    return Response(body, status=status, mimetype="text/plain")


def _forbidden(reason: str) -> Response:
    log.warning("refused WeChat push from %s: %s", request.remote_addr, reason)
    return _text("forbidden", 403)


@bp.record_once
def _report_failed_pushes(state: BlueprintSetupState) -> None:
    # /healthz shows how many stored pushes wait for an operator (`hongguan inbound failed`).
    add_health_check(state.app, "inbound", _inbound_health)


def _inbound_health(session: Session) -> dict[str, int]:
    return {"failed": count_failed(session)}


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
    """URL verification: echo `echostr` verbatim when the signature matches (message_push.md) and the
    timestamp is inside the replay window, as for pushes: a captured verification URL expires too."""
    args = request.args
    timestamp = args.get("timestamp", "")
    if not check_signature(
        current_app.config["WECHAT_TOKEN"], args.get("signature", ""), timestamp, args.get("nonce", "")
    ):
        return _forbidden("bad signature on URL verification")
    if not _fresh(timestamp):
        return _forbidden("URL verification timestamp outside the window")
    return Response(args.get("echostr", ""), mimetype="text/plain")


def _fresh(timestamp: str) -> bool:
    """The push's timestamp is within TIMESTAMP_WINDOW seconds of now (a captured URL expires)."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    return abs(clock.now().timestamp() - ts) <= int(current_app.config["TIMESTAMP_WINDOW"])


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
    body = read_body(request, int(cfg["MAX_CONTENT_LENGTH"]))  # past the limit: 413
    # Stored with the message, uniquely: the signed URL cannot deliver a second one (bot/inbound.py).
    push_nonce = f"{timestamp}:{nonce[:64]}"
    encrypted = args.get("encrypt_type", "").lower() == "aes"
    openid = args.get("openid", "")
    raw = body.decode("utf-8", "replace")
    try:
        outer = parse_xml(body)
    except XmlError as e:
        log.warning("unparsable push after a valid signature: %s", e)
        _keep_unreadable(raw, openid, timestamp, encrypted, str(e), push_nonce)
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
            _keep_unreadable(raw, openid, timestamp, True, str(e), push_nonce)
            return _text(SUCCESS)

    account_id = cfg["WECHAT_ACCOUNT_ID"]
    try:
        # Free text: stored as queued in one short transaction, no Session opened (the busiest path).
        result = inbound.queue(
            get_db().engine, fields, plain, encrypted=encrypted, account_id=account_id, push_nonce=push_nonce
        )
        if result is None:  # everything else is handled here, in the request's session
            session = db_session()
            try:
                result = inbound.handle(
                    session, fields, plain, encrypted=encrypted, account_id=account_id, push_nonce=push_nonce,
                    default_community=str(cfg.get("DEFAULT_COMMUNITY") or ""),
                )  # fmt: skip
            except inbound.Replayed:
                session.rollback()
                raise
            inbound.finish(session)
    except inbound.Replayed:
        return _forbidden("signed URL reused for a different message")
    return _reply(result.reply_xml, crypto)


def _keep_unreadable(raw: str, openid: str, timestamp: str, encrypted: bool, error: str, push_nonce: str) -> None:
    session = db_session()
    inbound.persist_unreadable(
        session, raw, openid=openid, timestamp=int(timestamp), encrypted=encrypted, error=error, push_nonce=push_nonce
    )
    session.commit()
