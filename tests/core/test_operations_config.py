"""Operating settings as values: deployment warnings (a table), the SMTP environment
overrides, and the JSON log format."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from core.deployment import DeploymentFacts, deployment_warnings, is_loopback_host
from core.errors import ConfigError
from core.logs import JsonFormatter
from core.settings import Settings, settings_from_dict

STRONG = "k" * 48


def settings(secret: str = STRONG, **sections: dict) -> Settings:
    return settings_from_dict({"secret_key": secret, **sections}, env={})


def kinds(warnings: list[str]) -> set[str]:
    """Which problems the warnings name (a word each sentence carries)."""
    words = {"Secure": "cookies", "without [http] public_url": "no_public_url",
             "plain http": "plain_http", "configuration file": "secret_in_file",
             "characters": "short_secret", "others may list": "data_dir_open",
             "metrics_allowed": "metrics_open"}
    return {kind for warning in warnings for word, kind in words.items() if word in warning}


PUBLIC = {"host": "0.0.0.0"}
HTTPS = {"host": "0.0.0.0", "public_url": "https://help.example.com"}


@pytest.mark.parametrize(("http", "security", "secret", "facts", "expected"), [
    # Loopback only: a development machine, nothing to say whatever the settings.
    ({}, {}, "short-secret-1234", DeploymentFacts("config", 0o755), set()),
    ({"host": "localhost"}, {}, STRONG, DeploymentFacts(), set()),
    ({"host": "::1"}, {}, STRONG, DeploymentFacts(), set()),
    # Beyond loopback with the development defaults.
    (PUBLIC, {}, STRONG, DeploymentFacts(), {"cookies", "no_public_url"}),
    ({"host": ""}, {}, STRONG, DeploymentFacts(), {"cookies", "no_public_url"}),
    ({"host": "help.example.com"}, {}, STRONG, DeploymentFacts(), {"cookies", "no_public_url"}),
    ({**PUBLIC, "public_url": "http://help.example.com"}, {}, STRONG, DeploymentFacts(),
     {"cookies", "plain_http"}),
    # TLS ended by a proxy: Secure cookies by setting, but the URL says http.
    ({**PUBLIC, "public_url": "http://help.example.com"}, {"secure_cookies": True}, STRONG,
     DeploymentFacts(), {"plain_http"}),
    (PUBLIC, {"secure_cookies": True}, STRONG, DeploymentFacts(), {"no_public_url"}),
    # A production setup.
    (HTTPS, {}, STRONG, DeploymentFacts("environment", 0o755), set()),
    (HTTPS, {}, STRONG, DeploymentFacts("data_dir", 0o700), set()),
    # Secrets.
    (HTTPS, {}, STRONG, DeploymentFacts("config", 0o700), {"secret_in_file"}),
    (HTTPS, {}, "sixteen-chars-ok", DeploymentFacts(), {"short_secret"}),
    (HTTPS, {}, STRONG, DeploymentFacts("data_dir", 0o755), {"data_dir_open"}),
    (HTTPS, {}, STRONG, DeploymentFacts("data_dir", 0o750), set()),
    (HTTPS, {}, STRONG, DeploymentFacts("environment", 0o777), set()),  # the file is unused
    # Metrics readable without a token beyond loopback.
    ({**HTTPS, "metrics": True, "metrics_allowed": ["10.0.0.0/8"]}, {}, STRONG,
     DeploymentFacts(), {"metrics_open"}),
    ({**HTTPS, "metrics": True, "metrics_allowed": ["127.0.0.1", "::1"]}, {}, STRONG,
     DeploymentFacts(), set()),
])
def test_deployment_warnings(http, security, secret, facts, expected):
    warnings = deployment_warnings(settings(secret, http=http, security=security), facts)
    assert kinds(warnings) == expected
    assert len(warnings) == len(expected)  # one sentence per problem


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("[::1]", True),
    ("localhost", True), ("LOCALHOST", True), ("0.0.0.0", False), ("::", False), ("", False),
    ("192.0.2.1", False), ("help.example.com", False)])
def test_loopback_hosts(host, loopback):
    assert is_loopback_host(host) is loopback


@pytest.mark.parametrize(("env", "host", "port"), [
    ({}, "127.0.0.1", 2525),
    ({"FRONTDESK_SMTP_PORT": "2626"}, "127.0.0.1", 2626),
    ({"FRONTDESK_SMTP_HOST": "0.0.0.0", "FRONTDESK_SMTP_PORT": "25"}, "0.0.0.0", 25),
    ({"FRONTDESK_SMTP_HOST": "::"}, "::", 2525),
])
def test_smtp_environment_overrides(env, host, port):
    loaded = settings_from_dict({"secret_key": STRONG, "smtp_in": {"port": 2525}}, env=env)
    assert (loaded.smtp_in.host, loaded.smtp_in.port) == (host, port)


@pytest.mark.parametrize(("env", "message"), [
    ({"FRONTDESK_SMTP_PORT": "twenty-five"},
     "FRONTDESK_SMTP_PORT='twenty-five': smtp_in.port: Input should be a valid integer, "
     "unable to parse string as an integer"),
    ({"FRONTDESK_SMTP_PORT": "70000"},
     "FRONTDESK_SMTP_PORT='70000': smtp_in.port: Input should be less than or equal to 65535"),
    ({"FRONTDESK_SMTP_HOST": "mail host"},
     "FRONTDESK_SMTP_HOST='mail host': smtp_in.host: not a host name or address: 'mail host'"),
    ({"FRONTDESK_HTTP_PORT": "-1"},
     "FRONTDESK_HTTP_PORT='-1': http.port: Input should be greater than or equal to 0"),
])
def test_a_bad_override_names_its_variable(env, message):
    with pytest.raises(ConfigError) as raised:
        settings_from_dict({"secret_key": STRONG}, source="config.toml", env=env)
    assert str(raised.value) == message


def test_a_bad_value_in_the_file_still_names_the_file():
    with pytest.raises(ConfigError) as raised:
        settings_from_dict({"secret_key": STRONG, "smtp_in": {"port": "x"}},
                           source="config.toml", env={"FRONTDESK_HTTP_PORT": "8001"})
    assert str(raised.value).startswith("config.toml: smtp_in.port: ")


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    made = logging.getLogger("frontdesk.test").makeRecord(
        "frontdesk.test", logging.INFO, __file__, 1, message, args, None, extra=extra)
    made.created = 1_780_000_000.25
    return made


def test_json_lines_hold_time_level_logger_message_and_extra_fields():
    line = JsonFormatter().format(record("mail %s\nfrom %s", "accepted", "anna",
                                         outcome="accepted", raw_id=7, conversation_id=None))
    assert "\n" not in line
    assert json.loads(line) == {
        "time": "2026-05-28T20:26:40.250+00:00", "level": "INFO", "logger": "frontdesk.test",
        "message": "mail accepted\nfrom anna", "outcome": "accepted", "raw_id": 7,
        "conversation_id": None}


def test_json_lines_carry_the_traceback_and_values_json_cannot_hold():
    try:
        raise ValueError("boom")
    except ValueError:
        made = record("failed", when=object)
        made.exc_info = sys.exc_info()
    document = json.loads(JsonFormatter().format(made))
    assert document["exception"].startswith("Traceback") and "ValueError: boom" in document[
        "exception"]
    assert document["when"] == str(object)
