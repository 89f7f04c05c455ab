"""Passive replies are well-formed XML whatever the text contains, and long texts are cut on a character."""

from __future__ import annotations

from bot.replies import MAX_TEXT_BYTES, text_reply, truncate_utf8
from wechat.xmlsafe import parse_xml


def test_reply_round_trips_even_with_a_cdata_terminator_in_the_text():
    xml = text_reply("oUser", "gh_test", "收到]]><xml>注入</xml>", 1409735669)
    fields = parse_xml(xml)
    assert fields["Content"] == "收到]]><xml>注入</xml>"
    assert (fields["ToUserName"], fields["FromUserName"], fields["MsgType"]) == ("oUser", "gh_test", "text")
    assert fields["CreateTime"] == "1409735669"


def test_long_text_is_truncated_on_a_character_boundary():
    text = "楼" * 1000  # 3,000 bytes of UTF-8
    cut = truncate_utf8(text)
    assert len(cut.encode()) <= MAX_TEXT_BYTES
    assert cut.endswith("…")
    assert parse_xml(text_reply("o", "gh", text, 1))["Content"] == cut
