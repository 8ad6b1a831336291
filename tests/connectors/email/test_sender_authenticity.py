"""Sender authenticity: Authentication-Results (RFC 8601) read by the parser, believed only
from the authentication services the admin trusts, and what routing makes of it."""

from __future__ import annotations

import pytest

from connectors.email.inbound import route
from connectors.email.parse import (
    MAX_AUTHENTICATION_RESULTS,
    AuthenticationResults,
    dmarc_failed,
    parse_authentication_results,
    parse_email,
)
from core.errors import ConfigError
from core.settings import Settings, settings_from_dict
from inbox.directory import ChannelDirectory


@pytest.mark.parametrize("value, expected", [
    ("mx.example.com; spf=pass smtp.mailfrom=example.net; dkim=pass header.d=example.net;"
     " dmarc=fail (p=reject dis=none) header.from=example.net",
     AuthenticationResults("mx.example.com", (("spf", "pass"), ("dkim", "pass"),
                                              ("dmarc", "fail")))),
    ("mx.example.org 1; none", AuthenticationResults("mx.example.org")),
    ("MX.Example.ORG;\r\n\tDMARC=Fail", AuthenticationResults("mx.example.org",
                                                           (("dmarc", "fail"),))),
    ("mx.example.org; dmarc/1 = pass header.from=a.example",
     AuthenticationResults("mx.example.org", (("dmarc", "pass"),))),
    # Comments (nested too) and quoted strings may hold semicolons and equals signs.
    ('mx (a; dmarc=fail (x; y)) ; dkim=pass reason="dmarc=fail; really" header.d=a',
     AuthenticationResults("mx", (("dkim", "pass"),))),
    ('"mx.example.org"; dmarc=pass', AuthenticationResults("mx.example.org",
                                                          (("dmarc", "pass"),))),
    ("mx.example.org; garbage; =fail; dmarc=", AuthenticationResults("mx.example.org")),
    ("", None),
    ("   ", None),
    ("(just a comment)", None),
    ("; dmarc=fail", None),
])
def test_parse_authentication_results(value, expected):
    assert parse_authentication_results(value) == expected


FAIL = AuthenticationResults("mx.example.com", (("spf", "pass"), ("dmarc", "fail")))
PASS = AuthenticationResults("mx.example.com", (("dmarc", "pass"),))
ELSEWHERE_FAIL = AuthenticationResults("mx.elsewhere.example", (("dmarc", "fail"),))


@pytest.mark.parametrize("results, trusted, expected", [
    ((FAIL,), ("mx.example.com",), True),
    ((FAIL,), ("MX.example.com",), True),
    ((PASS,), ("mx.example.com",), False),
    ((FAIL,), (), False),
    ((ELSEWHERE_FAIL,), ("mx.example.com",), False),
    ((PASS, ELSEWHERE_FAIL), ("mx.example.com",), False),
    ((ELSEWHERE_FAIL, FAIL), ("mx.example.com",), True),
    ((AuthenticationResults("mx.example.com", (("dkim", "fail"),)),), ("mx.example.com",),
     False),
    ((), ("mx.example.com",), False),
])
def test_dmarc_failed_only_by_a_trusted_service(results, trusted, expected):
    assert dmarc_failed(results, trusted) is expected


def raw(*headers: str) -> bytes:
    return "\r\n".join([*headers, "From: Alice <alice@example.org>",
                        "To: help@example.com, Bob <bob@example.org>",
                        "Cc: team@any.example, carol@example.org", "Subject: Hi",
                        "Message-ID: <m1@example.org>", "", "Hello", ""]).encode()


def test_the_parser_reads_every_authentication_results_field_from_the_top():
    fields = [f"Authentication-Results: hop{n}.example; dmarc=pass" for n in range(30)]
    parsed = parse_email(raw("Authentication-Results: mx.example.com; dmarc=fail", *fields),
                         inbox="support")
    results = parsed.authentication_results
    assert len(results) == MAX_AUTHENTICATION_RESULTS
    assert results[0] == AuthenticationResults("mx.example.com", (("dmarc", "fail"),))
    assert results[1].authserv_id == "hop0.example"
    assert parse_email(raw(), inbox="support").authentication_results == ()


def settings(trusted: list[str]):
    return settings_from_dict({
        "secret_key": "test-secret-key-0123456789",
        "security": {"trusted_authserv_ids": trusted},
        "smtp_in": {"catch_all_domains": ["any.example"]},
        "inboxes": [{"slug": "support", "name": "Support", "addresses": ["help@example.com"]}],
    }, env={})


def configured(trusted: list[str]) -> tuple[Settings, ChannelDirectory]:
    """The settings and the directory they seed."""
    conf = settings(trusted)
    return conf, ChannelDirectory.from_settings(conf)


@pytest.mark.parametrize("headers, trusted, unverified", [
    (("Authentication-Results: mx.example.com; dmarc=fail header.from=example.org",),
     ["mx.example.com"], True),
    (("Authentication-Results: mx.example.com; dmarc=pass header.from=example.org",),
     ["mx.example.com"], False),
    # Anyone can write the field: one from a service not trusted is ignored.
    (("Authentication-Results: mx.example.com; dmarc=fail header.from=example.org",),
     [], False),
    (("Authentication-Results: mx.evil.example; dmarc=fail",), ["mx.example.com"], False),
    ((), ["mx.example.com"], False),
])
def test_routing_marks_a_sender_a_trusted_service_found_forged(headers, trusted, unverified):
    message = route(parse_email(raw(*headers), inbox="support"), *configured(trusted))
    assert message.unverified_sender is unverified


def test_routing_leaves_our_own_addresses_out_of_the_participants():
    message = route(parse_email(raw(), inbox="support"), *configured([]))
    assert (message.to, message.cc) == (("bob@example.org",), ("carol@example.org",))


@pytest.mark.parametrize("trusted", [[""], ["mx example.com"], ["mx;x"], ['"mx"']])
def test_trusted_authserv_ids_must_be_ids(trusted):
    with pytest.raises(ConfigError, match="trusted_authserv_ids"):
        settings(trusted)
