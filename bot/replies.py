"""Passive replies (被动回复): the XML WeChat accepts as an answer to a push, or `success`.

https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Passive_user_reply_message.html:
ToUserName is the resident's openid, FromUserName the account's gh_ id, CreateTime an int; `success` (or an
empty body) means "no passive reply" and WeChat does not retry. Never an XML envelope with empty Content.
"""

from __future__ import annotations

from wechatpy.replies import TextReply

SUCCESS = "success"
# WeChat truncates or refuses long passive texts; ~2048 bytes was measured
# (https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Passive_user_reply_message.html).
MAX_TEXT_BYTES = 2000


def _cdata_safe(value: str) -> str:
    """Split a literal "]]>" across two CDATA sections: wechatpy wraps values in CDATA without escaping."""
    return value.replace("]]>", "]]]]><![CDATA[>")


def truncate_utf8(text: str, limit: int = MAX_TEXT_BYTES) -> str:
    """Cut `text` to at most `limit` UTF-8 bytes on a character boundary, marking the cut."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode("utf-8", "ignore") + "…"


def text_reply(to_openid: str, from_account: str, content: str, create_time: int) -> str:
    """A passive text reply, rendered by wechatpy (ToUserName = the resident, FromUserName = the account)."""
    reply = TextReply(
        target=_cdata_safe(to_openid),
        source=_cdata_safe(from_account),
        time=int(create_time),
        content=_cdata_safe(truncate_utf8(content)),
    )
    return reply.render()
