"""The pure decisions of webhooks, as tables: signatures, retries, targets."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta
from typing import get_args

import pytest

from web.api.webhooks import EventName
from webhooks import rules

SECRET = "whsec_0123456789abcdef"
BODY = b'{"id":"evt_1","type":"conversation.created"}'


def test_the_api_names_every_event():
    assert get_args(EventName) == rules.EVENTS


def test_signature_is_hmac_sha256_of_timestamp_dot_body():
    expected = hmac.new(SECRET.encode(), b"1767225600." + BODY, hashlib.sha256).hexdigest()
    assert rules.signature_header(SECRET, 1767225600, BODY) == f"t=1767225600,v1={expected}"


@pytest.mark.parametrize(("header", "body", "secret", "now", "valid"), [
    (rules.signature_header(SECRET, 1000, BODY), BODY, SECRET, 1000, True),
    (rules.signature_header(SECRET, 1000, BODY), BODY, SECRET, 1300, True),
    (rules.signature_header(SECRET, 1000, BODY), BODY, SECRET, 1301, False),
    (rules.signature_header(SECRET, 1000, BODY), BODY, SECRET, 699, False),
    (rules.signature_header(SECRET, 1000, BODY), BODY + b" ", SECRET, 1000, False),
    (rules.signature_header(SECRET, 1000, BODY), BODY, "whsec_other", 1000, False),
    (rules.signature_header(SECRET, 1000, BODY).replace("t=1000", "t=1001"), BODY, SECRET,
     1000, False),
    (f"t=1000,v1={'0' * 64},v1={rules.signature(SECRET, 1000, BODY)}", BODY, SECRET, 1000,
     True),
    (f"v1={rules.signature(SECRET, 1000, BODY)}", BODY, SECRET, 1000, False),
    ("t=1000", BODY, SECRET, 1000, False),
    ("t=abc,v1=00", BODY, SECRET, 1000, False),
    ("", BODY, SECRET, 1000, False),
])
def test_verify(header, body, secret, now, valid):
    assert rules.verify(header, body, secret, now=now) is valid


@pytest.mark.parametrize(("attempts", "delay"), [
    (0, None),
    (1, timedelta(minutes=1)),
    (2, timedelta(minutes=5)),
    (3, timedelta(minutes=30)),
    (4, timedelta(hours=2)),
    (5, timedelta(hours=12)),
    (6, None),
])
def test_retry_delay(attempts, delay):
    assert rules.retry_delay(attempts) == delay


@pytest.mark.parametrize(("status", "ok"), [(199, False), (200, True), (204, True),
                                            (299, True), (301, False), (500, False)])
def test_only_2xx_is_delivered(status, ok):
    assert rules.succeeded(status) is ok


@pytest.mark.parametrize(("url", "problem"), [
    ("https://hooks.example.org/frontdesk", None),
    ("http://hooks.example.org:8080/x?y=1", None),
    ("ftp://hooks.example.org/", "must be an http:// or https:// URL"),
    ("file:///etc/passwd", "must be an http:// or https:// URL"),
    ("javascript:alert(1)", "must be an http:// or https:// URL"),
    ("hooks.example.org/x", "must be an http:// or https:// URL"),
    ("https:///nohost", "must name a host"),
    ("https://user:pw@hooks.example.org/", "must not carry a user name or password"),
    ("https://hooks.example.org:99999/", "is not a valid URL"),
    ("https://hooks.example.org/" + "x" * 2000, "must be at most 2000 characters"),
])
def test_url_problem(url, problem):
    assert rules.url_problem(url) == problem


@pytest.mark.parametrize(("address", "private"), [
    ("127.0.0.1", True), ("10.1.2.3", True), ("172.16.0.1", True), ("192.168.1.1", True),
    ("169.254.169.254", True), ("100.64.0.1", True), ("0.0.0.0", True), ("224.0.0.1", True),
    ("::1", True), ("fe80::1%eth0", True), ("fc00::1", True), ("::ffff:127.0.0.1", True),
    ("93.184.215.14", False), ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", False),
])
def test_private_address(address, private):
    assert rules.private_address(address) is private


@pytest.mark.parametrize(("addresses", "allow", "refused"), [
    (["93.184.215.14"], False, False),
    (["93.184.215.14", "10.0.0.1"], False, True),
    (["127.0.0.1"], False, True),
    (["127.0.0.1"], True, False),
    ([], True, True),
])
def test_target_refused(addresses, allow, refused):
    assert (rules.target_refused(addresses, allow_private=allow) is not None) is refused


@pytest.mark.parametrize(("url", "address", "pinned"), [
    ("https://hooks.example.org/a?b=1", "93.184.215.14", "https://93.184.215.14/a?b=1"),
    ("http://hooks.example.org:8080/a", "93.184.215.14", "http://93.184.215.14:8080/a"),
    ("http://localhost:8080/", "::1", "http://[::1]:8080/"),
    ("http://[::1]/x", "::1", "http://[::1]/x"),
])
def test_pinned_url(url, address, pinned):
    assert rules.pinned_url(url, address) == pinned


def test_connect_order_puts_ipv4_first():
    assert rules.connect_order(["::1", "127.0.0.1", "::1", "10.0.0.1"]) == [
        "127.0.0.1", "10.0.0.1", "::1"]
