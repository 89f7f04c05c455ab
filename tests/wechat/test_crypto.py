"""The official safe-mode vectors and the refusals around them.

https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Message_encryption_and_decryption_instructions.html
"""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from wechat.crypto import (
    DECODE_BASE64_ERROR,
    ILLEGAL_AES_KEY,
    ILLEGAL_BUFFER,
    VALIDATE_APPID_ERROR,
    VALIDATE_SIGNATURE_ERROR,
    CryptoError,
    MessageCrypto,
    decode_aes_key,
    pkcs7_pad,
    pkcs7_unpad,
)
from wechat.signature import check_signature, sign

KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"

V1_ENCRYPT = (
    "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXp"
    "bUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlp"
    "Kn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD"
    "1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE="
)
V1_PLAIN = (
    "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n"
    "<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>\n"
    "<CreateTime>1409735668</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n"
    "<Content><![CDATA[abcdteT]]></Content>\n<MsgId>6054768590064713728</MsgId>\n</xml>"
)
V3_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
V3_ENCRYPT = (
    "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6y"
    "dJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/T"
    "ywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5"
    "t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0="
)
V3_REPLY = (
    "<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n"
    "<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n<ToUserName><![CDATA[messense]]></ToUserName>\n"
    "<AgentID>1</AgentID>\n<CreateTime>1411525903</CreateTime>\n</xml>"
)
V3_REPLY_ENCRYPT = (
    "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtObvesE"
    "l5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsD"
    "f03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nT"
    "YjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3"
)
V4_REPLY = (
    "<xml><ToUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></ToUserName><FromUserName><![CDATA[gh_10f6c3c3ac5a]]>"
    "</FromUserName><CreateTime>1409735669</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[收到]]>"
    "</Content></xml>"
)
V4_ENCRYPT = (
    "jn1L23DB+6ELqJ+6bruv21YlImyg655L0pzu4wzr1EI/1ELf0N6D8IOi7XSAJxDhr8sw1Qg+DBsbNkk8HefZUetqFqcfOZs7NxWF4zu+rM9d03x8"
    "bvQI0v8ZnIMczIMASBrl6g6vTtXXVt3KbKBSLcr6mAMqoMfDkCD8ug2YUbwK3jAu+dNYjGjQYCVt6xgbpZlM4z5Dae4s1NCgn/GTKVZVVLFlJBxR"
    "DYLuQQcl5wE76dW+U7Kc9IgfvXzwg1TvJuCl3iWzfWfX1N3fty9I39qrxdhHCklSG7u5k06yuzb6hSxWYDIlGS9NxZMb4g8az/xpTM8ATuvU9ynJ"
    "rUD0mSKdHvV6mlbXGTn/zsuhrxUbOK12Vf1O5+eSUDk5fdDk"
)
V5_ENCRYPT = (
    "jn1L23DB+6ELqJ+6bruv24kfnRA9CJ8qXRQfcTjuspbcu/BSVDHix6RSI3nK3z+fGdCL9owzHI6UnBdGZ5nrCm8utmGl8Gmi3p1p/CL7wsT2QmrO"
    "zEDE4ghZF0S/FxgD"
)
RANDOM = b"aaaabbbbccccdddd"


@pytest.mark.parametrize(
    ("token", "timestamp", "nonce", "signature"),
    [
        ("AAAAA", "1714036504", "1514711492", "f464b24fc39322e44b38aa78f5edd27bd1441696"),
        ("AAAAA", "1714037059", "486452656", "899cf89e464efb63f54ddac96b0a0a235f53aa78"),
        ("test", "1410685589", "test", "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff"),
    ],
)
def test_v0_url_signatures(token, timestamp, nonce, signature):
    assert sign(token, timestamp, nonce) == signature
    assert check_signature(token, signature, timestamp, nonce)
    assert not check_signature(token, signature, timestamp, nonce[:-1] + "0")


def test_v1_official_python_sample_decrypts():
    crypto = MessageCrypto("spamtest", KEY, "wx2c2769f8efd9abc2")
    assert crypto.key.hex() == "69b71d79f8218a39259a7a29aabb2dbafc31cb3d35db7e39ebbf3d0010831051"
    plain = crypto.decrypt_message("5d197aaffba7e9b25a30732f161a50dee96bd5fa", "1409735669", "1320562132", V1_ENCRYPT)
    assert plain == V1_PLAIN


def test_v2_official_java_sample_encrypts_deterministically():
    crypto = MessageCrypto("pamtest", KEY, "wxb11529c136998cb6")
    encrypt = crypto.encrypt("我是中文abcd123", RANDOM)
    assert encrypt == ("jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg==")
    assert crypto.signature("1409304348", "xxxxxx", encrypt) == "82c962d39941aa48552f90ef55aa323dc620cc10"
    assert crypto.decrypt(encrypt) == "我是中文abcd123"


def test_v3_wechatpy_vectors_decrypt_and_encrypt():
    crypto = MessageCrypto("123456", V3_KEY, "wx49f0ab532d5d035a")
    plain = crypto.decrypt_message("74d92dfeb87ba7c714f89d98870ae5eb62dff26d", "1411525903", "461056294", V3_ENCRYPT)
    assert "<Content><![CDATA[test]]></Content>" in plain
    assert "<FromUserName><![CDATA[messense]]></FromUserName>" in plain
    assert "4363689963896700987" in plain
    reply = crypto.encrypt_reply(V3_REPLY, "1411525903", "461056294", b"1234567890123456")
    assert reply.encrypt == V3_REPLY_ENCRYPT
    assert reply.msg_signature == "407518b7649e86ef23978113f92d27afa9296533"
    assert "<TimeStamp>1411525903</TimeStamp>" in reply.to_xml()


def test_v3_changed_nonce_digit_is_a_signature_error():
    crypto = MessageCrypto("123456", V3_KEY, "wx49f0ab532d5d035a")
    with pytest.raises(CryptoError) as info:
        crypto.decrypt_message("74d92dfeb87ba7c714f89d98870ae5eb62dff26d", "1411525903", "461056295", V3_ENCRYPT)
    assert info.value.code == VALIDATE_SIGNATURE_ERROR


def test_v4_encrypted_passive_reply():
    crypto = MessageCrypto("spamtest", KEY, "wx2c2769f8efd9abc2")
    reply = crypto.encrypt_reply(V4_REPLY, "1409735669", "1320562132", RANDOM)
    assert reply.msg_signature == "7afcbf9fb497e07734474edbcb0dc6a9a1c71e7e"
    assert reply.encrypt == V4_ENCRYPT
    assert crypto.decrypt_message(reply.msg_signature, "1409735669", "1320562132", reply.encrypt) == V4_REPLY


def test_v5_pad_32_edge_case_adds_a_full_block():
    crypto = MessageCrypto("spamtest", KEY, "wx2c2769f8efd9abc2")
    reply = crypto.encrypt_reply("abcdefghijklmnopqrstuvwxyz", "1409735669", "1320562132", RANDOM)
    assert reply.encrypt == V5_ENCRYPT
    assert reply.msg_signature == "1a5c5f55a3d6dd93736b682c9bd7b1e26be18b28"
    raw = base64.b64decode(reply.encrypt)
    assert len(raw) == 96  # 16 + 4 + 26 + 18 = 64 bytes of plaintext, plus 32 bytes of 0x20 padding
    decryptor = Cipher(algorithms.AES(crypto.key), modes.CBC(crypto.key[:16])).decryptor()
    assert (decryptor.update(raw) + decryptor.finalize())[-32:] == b"\x20" * 32
    assert crypto.decrypt(reply.encrypt) == "abcdefghijklmnopqrstuvwxyz"


def test_wrong_appid_is_refused():
    crypto = MessageCrypto("spamtest", KEY, "wx-some-other-app")
    with pytest.raises(CryptoError) as info:
        crypto.decrypt(V1_ENCRYPT)
    assert info.value.code == VALIDATE_APPID_ERROR


@pytest.mark.parametrize("bad_key", [KEY[:42], KEY + "H", KEY[:42] + "-", ""])
def test_illegal_aes_keys_are_refused(bad_key):
    with pytest.raises(CryptoError) as info:
        decode_aes_key(bad_key)
    assert info.value.code == ILLEGAL_AES_KEY


def test_garbage_ciphertext_is_a_crypto_error_not_a_crash():
    crypto = MessageCrypto("spamtest", KEY, "wx2c2769f8efd9abc2")
    with pytest.raises(CryptoError) as info:
        crypto.decrypt("not base64 at all!!")
    assert info.value.code == DECODE_BASE64_ERROR
    # Valid base64 and block length but random content: the padding check catches it.
    with pytest.raises(CryptoError):
        crypto.decrypt(base64.b64encode(bytes(range(64))).decode())
    # A different key decrypts to garbage: refused, never returned as text.
    other = MessageCrypto("spamtest", V3_KEY, "wx2c2769f8efd9abc2")
    with pytest.raises(CryptoError):
        other.decrypt(V1_ENCRYPT)


@pytest.mark.parametrize("length", [0, 1, 31, 32, 33, 63, 64])
def test_pkcs7_round_trip_and_validation(length):
    data = b"x" * length
    padded = pkcs7_pad(data)
    assert len(padded) % 32 == 0
    assert len(padded) > length
    assert pkcs7_unpad(padded) == data
    with pytest.raises(CryptoError) as info:
        pkcs7_unpad(padded[:-1] + b"\x00")
    assert info.value.code == ILLEGAL_BUFFER


def test_round_trip_random_prefixes_differ():
    crypto = MessageCrypto("t", KEY, "wxapp")
    a, b = crypto.encrypt("同一条消息"), crypto.encrypt("同一条消息")
    assert a != b
    assert crypto.decrypt(a) == crypto.decrypt(b) == "同一条消息"
