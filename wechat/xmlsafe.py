"""Parsing WeChat's flat XML bodies with DTDs and entities refused outright (XXE, billion laughs, blowup).

WeChat's pushes never carry a DOCTYPE, so any DTD is hostile: defusedxml with `forbid_dtd=True` stops at the
DOCTYPE token, before any entity is declared or expanded, so billion-laughs and external-entity bombs are
refused in well under a millisecond. Formats: https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Receiving_standard_messages.html
"""

from __future__ import annotations

from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

MAX_FIELDS = 64  # WeChat's messages have ~10 fields; a huge flat document is not a WeChat push


class XmlError(ValueError):
    """The body is not a safe, well-formed WeChat XML document."""


def parse_xml(body: bytes | str) -> dict[str, str]:
    """The root's child elements as {tag: text} (CDATA unwrapped, missing text as ""); raises XmlError."""
    if not body or not body.strip():
        raise XmlError("empty body")
    root = _root(body)
    if root.tag != "xml":
        raise XmlError(f"unexpected root element <{root.tag[:32]}>")
    fields: dict[str, str] = {}
    for i, child in enumerate(root):
        if i >= MAX_FIELDS:
            raise XmlError("too many fields")
        if isinstance(child.tag, str):
            # Nested elements (e.g. SendPicsInfo) keep their text only; hongguan reads flat fields.
            fields.setdefault(child.tag, (child.text or "").strip() if len(child) == 0 else "")
    return fields


def nested_texts(body: bytes | str, tags: tuple[str, ...]) -> list[str]:
    """The text of every element named in `tags`, at any depth, in document order; raises XmlError.

    For the few pushes that nest fields, such as subscribe_msg_sent_event's <List> items."""
    root = _root(body)
    return [(el.text or "").strip() for el in root.iter() if el.tag in tags and len(el) == 0]


def _root(body: bytes | str) -> Element:
    try:
        return fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as e:
        raise XmlError(f"refused: {type(e).__name__}") from e
    except (ParseError, ValueError) as e:
        raise XmlError(f"malformed XML: {e}") from e
