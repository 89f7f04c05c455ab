"""Signatures of WeChat server pushes, compared in constant time.

https://developers.weixin.qq.com/doc/oplatform/Website_App/WeChat_Login/message_push.md (signature) and
https://developers.weixin.qq.com/doc/subscription/guide/dev/push/encryption.md (msg_signature).
"""

from __future__ import annotations

import hashlib
import hmac


def sign(*parts: str) -> str:
    """Lowercase hex SHA-1 of the lexicographically sorted, concatenated parts."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324 - WeChat's algorithm


def check_signature(token: str, signature: str, timestamp: str, nonce: str) -> bool:
    """True when `signature` == sha1(sort(token, timestamp, nonce)), compared in constant time."""
    if not (signature and timestamp and nonce):
        return False
    return hmac.compare_digest(sign(token, timestamp, nonce), signature.lower())


def check_msg_signature(token: str, msg_signature: str, timestamp: str, nonce: str, encrypt: str) -> bool:
    """True when `msg_signature` == sha1(sort(token, timestamp, nonce, Encrypt)), in constant time."""
    if not (msg_signature and timestamp and nonce and encrypt):
        return False
    return hmac.compare_digest(sign(token, timestamp, nonce, encrypt), msg_signature.lower())
