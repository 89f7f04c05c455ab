"""Residents' phones, rooms and openids never reach logs or public views unmasked."""

from __future__ import annotations

import logging
import re

from infra import privacy


def test_mask_phone_and_address():
    assert privacy.mask_phone("13812345678") == "138****5678"
    assert privacy.mask_phone("+86 138-1234-5678") == "861****5678"
    assert privacy.mask_phone("") == ""
    assert privacy.mask_address("绿洲花园 3幢", "1502") == "绿洲花园 3幢 ****"
    assert privacy.mask_address("绿洲花园 3幢") == "绿洲花园 3幢"


def test_redact_text_removes_phone_room_and_openid():
    text = "我是3幢2单元1502的住户，电话13912345678，openid oyORnuP8q7ou2gfYjqLzSIWZf0rs，楼上801室漏水"
    redacted = privacy.redact_text(text)
    assert "13912345678" not in redacted
    assert "139****5678" in redacted
    assert "1502" not in redacted
    assert "801" not in redacted
    assert "oyORnuP8q7ou2gfYjqLzSIWZf0rs" not in redacted
    assert privacy.pseudonym("oyORnuP8q7ou2gfYjqLzSIWZf0rs") in redacted
    assert "漏水" in redacted  # the substance stays readable


def test_pseudonym_is_stable_and_keyed():
    privacy.configure("key-a")
    a = privacy.pseudonym("o-resident")
    assert a == privacy.pseudonym("o-resident")
    assert a.startswith("u:")
    privacy.configure("key-b")
    assert privacy.pseudonym("o-resident") != a
    privacy.configure("dev-pii-key-change-me")


def test_every_log_line_of_the_app_is_redacted(app, caplog):
    logger = logging.getLogger("hongguan.test")
    with caplog.at_level(logging.INFO):
        logger.info("resident %s called from %s about room %s", "oyORnuP8q7ou2gfYjqLzSIWZf0rs", "13812345678", "1502室")
    messages = [r.getMessage() for r in caplog.records if r.name == "hongguan.test"]
    assert messages, "the record was not captured"
    # caplog's handler sits on the root logger, where create_app installed the redacting filter
    joined = " ".join(
        h.format(r) for h in logging.getLogger().handlers for r in caplog.records if r.name == "hongguan.test"
    )
    assert "13812345678" not in joined
    assert "oyORnuP8q7ou2gfYjqLzSIWZf0rs" not in joined


def test_excerpt_redacts_a_phone_before_cutting_it():
    text = "楼道灯坏了，请联系13912345678"  # a cut at 19 characters keeps 10 of the 11 digits
    naive = privacy.redact_text(text[:19])
    assert "1391234567" in naive  # ten digits no longer look like a phone: cutting first leaked them
    short = privacy.excerpt(text, 19)
    assert len(short) <= 19
    assert not re.search(r"\d{5}", short), short
    assert short.startswith("楼道灯坏了，请联系139****")
    assert short.endswith("…")
    assert privacy.excerpt("短句", 19) == "短句"


def test_redact_query_hides_signature_nonce_and_openid():
    query = (
        "signature=abc123&timestamp=1700000000&nonce=98765&openid=oyORnuP8q7ou2gfYjqLzSIWZf0rs"
        "&encrypt_type=aes&msg_signature=def456"
    )
    redacted = privacy.redact_query(query)
    for secret in ("abc123", "98765", "oyORnuP8q7ou2gfYjqLzSIWZf0rs", "def456"):
        assert secret not in redacted
    assert f"openid={privacy.pseudonym('oyORnuP8q7ou2gfYjqLzSIWZf0rs')}" in redacted
    assert "timestamp=1700000000" in redacted
    assert "encrypt_type=aes" in redacted
    assert "signature=***" in redacted
    assert privacy.redact_url("/api/v1/login?code=0a1b2c") == "/api/v1/login?code=***"
    assert privacy.redact_url("/healthz") == "/healthz"


def test_names_and_organisations_are_masked_for_public_lists():
    from infra import privacy

    assert privacy.mask_name("王建国") == "王**"
    assert privacy.mask_name("李") == "李*"
    assert privacy.mask_name(None) == ""
    assert privacy.mask_organisation("园区老干部党支部") == "园区******"
    assert privacy.mask_organisation("") == ""
