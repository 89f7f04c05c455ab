"""Masking and pseudonymisation of residents' personal data for logs and public views (PIPL Art. 51)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from urllib.parse import parse_qsl, quote

_PHONE = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")
_ROOM = re.compile(r"(\d+)\s*(室|号房|房间)")
_UNIT_ROOM = re.compile(r"(\d+)\s*(单元)\s*(\d+)")
_OPENID = re.compile(r"\b(o[A-Za-z0-9_-]{20,40})\b")


def mask_phone(phone: str | None) -> str:
    """138****1234 style masking; empty stays empty."""
    if not phone:
        return ""
    digits = re.sub(r"\D", "", phone)
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[:3]}****{digits[-4:]}"


def mask_name(name: str | None) -> str:
    """陈** style: the family name and a star per other character; empty stays empty."""
    if not name:
        return ""
    return name[0] + "*" * max(1, len(name) - 1)


def mask_organisation(organisation: str | None) -> str:
    """An organisation's first two characters, the rest starred (a party member's own organisation)."""
    if not organisation:
        return ""
    return organisation[:2] + "*" * max(1, len(organisation) - 2)


def mask_address(building: str | None, room: str | None = None) -> str:
    """Show an address only to building level: the room number is never shown publicly."""
    parts = [p for p in (building or "",) if p]
    if room:
        parts.append("****")
    return " ".join(parts)


def redact_text(text: str) -> str:
    """Remove phone numbers, room numbers and openids from free text before logging or publishing it."""
    text = _PHONE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)
    text = _UNIT_ROOM.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)
    text = _ROOM.sub(lambda m: f"***{m.group(2)}", text)
    return _OPENID.sub(lambda m: pseudonym(m.group(1)), text)


def excerpt(text: str, limit: int, ellipsis: str = "…") -> str:
    """At most `limit` characters of `text`, redacted first: a phone cut short no longer matches the pattern."""
    text = redact_text(text)
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(ellipsis))] + ellipsis


# Query parameters whose values identify nothing and help to read a log; every other value is hidden.
_PLAIN_PARAMS = frozenset({"timestamp", "encrypt_type"})


def redact_query(query: str) -> str:
    """A URL query string for logs: openids become pseudonyms, other values (signatures, nonces, tokens,
    codes) `***`, except the harmless timestamp and encrypt_type."""
    if not query:
        return ""
    parts = []
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name == "openid":
            shown = pseudonym(value)
        elif name in _PLAIN_PARAMS:
            shown = quote(redact_text(value), safe="")
        else:
            shown = "***" if value else ""
        parts.append(f"{quote(name, safe='')}={shown}")
    return "&".join(parts)


def redact_url(url: str) -> str:
    """`url` (absolute or a path) with its query string passed through `redact_query`."""
    path, sep, query = url.partition("?")
    return redact_text(path) + (sep + redact_query(query) if sep else "")


_pii_key = b"dev-pii-key-change-me"


def configure(pii_key: str) -> None:
    """Set the HMAC key used for pseudonyms (called by create_app)."""
    global _pii_key
    _pii_key = pii_key.encode()


def pseudonym(openid: str | None) -> str:
    """A stable, non-reversible short id for an openid, for logs."""
    if not openid:
        return "-"
    return "u:" + hmac.new(_pii_key, openid.encode(), hashlib.sha256).hexdigest()[:12]


class RedactingFilter(logging.Filter):
    """Logging filter that redacts phones, rooms and openids in every record's message."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        record.msg = redact_text(message)
        record.args = ()
        return True
