"""Signed Message-IDs: ours are told apart from others' and from forgeries."""

from __future__ import annotations

import pytest

from connectors.email.ids import is_ours, make_message_id

SECRET = "test-secret-key-0123456789"
GENUINE = make_message_id(SECRET, "example.com", "r0123abcd")
MAC = GENUINE.split("@")[0].rsplit(".", 1)[1]


def test_shape():
    token, rest = GENUINE.removeprefix("fd.").split(".", 1)
    mac, domain = rest.split("@")
    assert (token, domain) == ("r0123abcd", "example.com")
    assert len(mac) == 10 and all(c in "0123456789abcdef" for c in mac)


def test_same_input_same_id_and_the_domain_is_lower_cased():
    assert make_message_id(SECRET, "Example.COM", "r0123abcd") == GENUINE


@pytest.mark.parametrize(("message_id", "expected"), [
    (GENUINE, True),
    (f"<{GENUINE}>", True),
    (f"  <{GENUINE}> ", True),
    (f"FD.r0123abcd.{MAC.upper()}@example.com", True),
    (GENUINE.replace("@example.com", "@EXAMPLE.com"), True),
    (make_message_id("another-secret-0123456789", "example.com", "r0123abcd"), False),
    (GENUINE.replace("r0123abcd", "r0123abce"), False),
    (GENUINE.replace("example.com", "example.org"), False),
    ("fd.r0123abcd.0000000000@example.com", False),
    (f"fd.r0123abcd.{MAC[:9]}@example.com", False),
    (f"fd.r0123abcd.{MAC}0@example.com", False),
    ("fd.r0123abcd.@example.com", False),
    ("fd..0123456789@example.com", False),
    ("fd.r0123abcd.0123456789@", False),
    ("fd.r01 23.0123456789@example.com", False),
    ("CAB4x=abc@mail.gmail.com", None),
    ("fd.only-one-part@example.com", None),
    ("fd.a.b.c@example.com", None),
    ("fd.a.b", None),
    ("", None),
    ("<>", None),
    ("sha256:" + "0" * 64, None),
    ("form:contact:abc", None),
])
def test_is_ours(message_id, expected):
    assert is_ours(SECRET, message_id) is expected


@pytest.mark.parametrize(("secret", "domain", "token"), [
    ("", "example.com", "abc"),
    (SECRET, "example.com", ""),
    (SECRET, "example.com", "a.b"),
    (SECRET, "example.com", "a@b"),
    (SECRET, "example.com", "a\r\nb"),
    (SECRET, "example.com", "x" * 65),
    (SECRET, "", "abc"),
    (SECRET, "exa mple.com", "abc"),
    (SECRET, "example.com>\r\nBcc: x@y", "abc"),
    (SECRET, "-example.com", "abc"),
    (SECRET, "example..com", "abc"),
])
def test_make_message_id_refuses_bad_parts(secret, domain, token):
    with pytest.raises(ValueError):
        make_message_id(secret, domain, token)


def test_a_local_domain_is_fine():
    assert is_ours(SECRET, make_message_id(SECRET, "localhost", "a1")) is True
