"""Safe-mode (AES) message encryption of WeChat server pushes, with the official 32-byte PKCS#7 padding.

Implements the scheme of
https://developers.weixin.qq.com/doc/oplatform/Third-party_Platforms/2.0/api/Before_Develop/Technical_Plan.html
and https://developers.weixin.qq.com/doc/subscription/guide/dev/push/encryption.md:

- AESKey = Base64_Decode(EncodingAESKey + "="), 32 bytes; AES-256-CBC with IV = AESKey[:16].
- Plaintext = random(16) ‖ len(msg) (4 bytes, network order) ‖ msg (UTF-8) ‖ appid, padded with PKCS#7 to a
  multiple of 32 bytes (a full block of 0x20 when already aligned).
- msg_signature = sha1(sort(token, timestamp, nonce, Encrypt)).

Written on `cryptography` directly (not wechatpy's helper) because wechatpy does not validate the padding, so
garbage surfaces as odd struct/decode errors (in wechatpy's own crypto); here every failure is a CryptoError
carrying the official sample's error code.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from wechat.signature import check_msg_signature, sign

BLOCK_SIZE = 32  # WeChat pads to 32 bytes, not AES's 16
_KEY_RE = re.compile(r"^[A-Za-z0-9]{43}$")

# Error codes of the official WXBizMsgCrypt sample (not the API's errcodes).
VALIDATE_SIGNATURE_ERROR = -40001
PARSE_XML_ERROR = -40002
COMPUTE_SIGNATURE_ERROR = -40003
ILLEGAL_AES_KEY = -40004
VALIDATE_APPID_ERROR = -40005
ENCRYPT_AES_ERROR = -40006
DECRYPT_AES_ERROR = -40007
ILLEGAL_BUFFER = -40008
ENCODE_BASE64_ERROR = -40009
DECODE_BASE64_ERROR = -40010


class CryptoError(ValueError):
    """Encryption or decryption failed; `code` is the official sample's error code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{message} ({code})")
        self.code = code


def decode_aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key from the 43-character EncodingAESKey."""
    if not _KEY_RE.match(encoding_aes_key or ""):
        raise CryptoError(ILLEGAL_AES_KEY, "EncodingAESKey must be 43 characters of [A-Za-z0-9]")
    try:
        key = base64.b64decode(encoding_aes_key + "=")
    except (binascii.Error, ValueError) as e:  # pragma: no cover - the regex admits only valid base64
        raise CryptoError(ILLEGAL_AES_KEY, "EncodingAESKey is not base64") from e
    if len(key) != 32:  # pragma: no cover - 43 base64 chars always give 32 bytes
        raise CryptoError(ILLEGAL_AES_KEY, "EncodingAESKey does not decode to 32 bytes")
    return key


def pkcs7_pad(data: bytes, block_size: int = BLOCK_SIZE) -> bytes:
    """PKCS#7 to a multiple of `block_size` (a full block when already aligned)."""
    n = block_size - len(data) % block_size
    return data + bytes([n]) * n


def pkcs7_unpad(data: bytes, block_size: int = BLOCK_SIZE) -> bytes:
    """Strip and validate PKCS#7 padding (1..block_size bytes, all equal to the count)."""
    if not data or len(data) % 16:
        raise CryptoError(ILLEGAL_BUFFER, "decrypted buffer has a bad length")
    n = data[-1]
    if n < 1 or n > block_size or data[-n:] != bytes([n]) * n:
        raise CryptoError(ILLEGAL_BUFFER, "bad PKCS#7 padding")
    return data[:-n]


@dataclass(frozen=True)
class EncryptedReply:
    """The four fields of a safe-mode reply envelope."""

    encrypt: str
    msg_signature: str
    timestamp: str
    nonce: str

    def to_xml(self) -> str:
        """The reply body WeChat expects in safe mode."""
        return (
            f"<xml><Encrypt><![CDATA[{self.encrypt}]]></Encrypt>"
            f"<MsgSignature><![CDATA[{self.msg_signature}]]></MsgSignature>"
            f"<TimeStamp>{self.timestamp}</TimeStamp>"
            f"<Nonce><![CDATA[{self.nonce}]]></Nonce></xml>"
        )


class MessageCrypto:
    """Encrypt/decrypt messages for one official account (token, EncodingAESKey, appid)."""

    def __init__(self, token: str, encoding_aes_key: str, appid: str) -> None:
        self.token = token
        self.appid = appid
        self.key = decode_aes_key(encoding_aes_key)
        # Built once: each encryptor()/decryptor() is a fresh context, and the key and IV never change.
        self._cipher = Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]))

    def encrypt(self, message: str, random_prefix: bytes | None = None) -> str:
        """Base64 ciphertext of `message` (the `Encrypt` field); `random_prefix` is for test vectors only."""
        prefix = random_prefix if random_prefix is not None else os.urandom(16)
        if len(prefix) != 16:
            raise CryptoError(ENCRYPT_AES_ERROR, "the random prefix must be 16 bytes")
        body = message.encode("utf-8")
        plain = prefix + struct.pack(">I", len(body)) + body + self.appid.encode("utf-8")
        encryptor = self._cipher.encryptor()
        ciphertext = encryptor.update(pkcs7_pad(plain)) + encryptor.finalize()
        return base64.b64encode(ciphertext).decode("ascii")

    def decrypt(self, encrypt: str) -> str:
        """The UTF-8 message inside `encrypt`; raises CryptoError (bad base64, padding, length or appid)."""
        try:
            ciphertext = base64.b64decode(encrypt, validate=True)
        except (binascii.Error, ValueError) as e:
            raise CryptoError(DECODE_BASE64_ERROR, "Encrypt is not valid base64") from e
        if not ciphertext or len(ciphertext) % 16:
            raise CryptoError(DECRYPT_AES_ERROR, "ciphertext length is not a multiple of 16")
        decryptor = self._cipher.decryptor()
        plain = pkcs7_unpad(decryptor.update(ciphertext) + decryptor.finalize())
        if len(plain) < 20:
            raise CryptoError(ILLEGAL_BUFFER, "decrypted buffer too short")
        (length,) = struct.unpack(">I", plain[16:20])
        if 20 + length > len(plain):
            raise CryptoError(ILLEGAL_BUFFER, "message length exceeds the buffer")
        message, from_appid = plain[20 : 20 + length], plain[20 + length :]
        if from_appid.decode("utf-8", "replace") != self.appid:
            raise CryptoError(VALIDATE_APPID_ERROR, "appid in the message does not match")
        try:
            return message.decode("utf-8")
        except UnicodeDecodeError as e:
            raise CryptoError(ILLEGAL_BUFFER, "message is not UTF-8") from e

    def signature(self, timestamp: str, nonce: str, encrypt: str) -> str:
        """msg_signature over (token, timestamp, nonce, Encrypt)."""
        return sign(self.token, timestamp, nonce, encrypt)

    def check(self, msg_signature: str, timestamp: str, nonce: str, encrypt: str) -> bool:
        """Constant-time msg_signature check."""
        return check_msg_signature(self.token, msg_signature, timestamp, nonce, encrypt)

    def encrypt_reply(
        self, reply_xml: str, timestamp: str, nonce: str, random_prefix: bytes | None = None
    ) -> EncryptedReply:
        """Encrypt a passive reply and sign it (safe-mode envelope)."""
        encrypt = self.encrypt(reply_xml, random_prefix)
        return EncryptedReply(encrypt, self.signature(timestamp, nonce, encrypt), timestamp, nonce)

    def decrypt_message(self, msg_signature: str, timestamp: str, nonce: str, encrypt: str) -> str:
        """Check msg_signature, then decrypt; raises CryptoError(-40001) on a bad signature."""
        if not self.check(msg_signature, timestamp, nonce, encrypt):
            raise CryptoError(VALIDATE_SIGNATURE_ERROR, "msg_signature does not match")
        return self.decrypt(encrypt)
