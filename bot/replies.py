"""Passive replies (被动回复): the XML WeChat accepts as an answer to a push, or `success`.

https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Passive_user_reply_message.html:
ToUserName is the resident's openid, FromUserName the account's gh_ id, CreateTime an int; `success` (or an
empty body) means "no passive reply" and WeChat does not retry. Never an XML envelope with empty Content.
"""

from __future__ import annotations

SUCCESS = "success"
# WeChat truncates or refuses long passive texts; ~2048 bytes was measured (wechat-protocol.md §1.4).
MAX_TEXT_BYTES = 2000


def _cdata(value: str) -> str:
    """Wrap in CDATA; a literal "]]>" is split across two sections so it cannot close ours."""
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def truncate_utf8(text: str, limit: int = MAX_TEXT_BYTES) -> str:
    """Cut `text` to at most `limit` UTF-8 bytes on a character boundary, marking the cut."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode("utf-8", "ignore") + "…"


def text_reply(to_openid: str, from_account: str, content: str, create_time: int) -> str:
    """A passive text reply."""
    return (
        f"<xml><ToUserName>{_cdata(to_openid)}</ToUserName>"
        f"<FromUserName>{_cdata(from_account)}</FromUserName>"
        f"<CreateTime>{int(create_time)}</CreateTime>"
        f"<MsgType><![CDATA[text]]></MsgType>"
        f"<Content>{_cdata(truncate_utf8(content))}</Content></xml>"
    )
