"""The chat settings' pure checks, by value: origins and who may open the widget."""

from __future__ import annotations

import pytest

from connectors.webchat.service import ChatValues, clean_origin, clean_settings, origin_allowed
from core.errors import InvalidInput


@pytest.mark.parametrize(("text", "origin"), [
    ("https://Shop.Example.org/", "https://shop.example.org"),
    (" http://localhost:8080 ", "http://localhost:8080"),
    ("https://shop.example.org:443", "https://shop.example.org"),  # as browsers send it
    ("http://shop.example.org:80", "http://shop.example.org"),
    ("http://[::1]:8080", "http://[::1]:8080"),
])
def test_origins_are_normalized(text: str, origin: str) -> None:
    assert clean_origin(text) == origin


@pytest.mark.parametrize("text", [
    "shop.example.org", "ftp://shop.example.org", "https://shop.example.org/shop",
    "https://shop.example.org?x=1", "https://user@shop.example.org", "http://[::1",
    "http://a shop.example.org", "https://shop.example.org:99999", "https://",
])
def test_what_is_no_origin_is_refused_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        clean_origin(text)
    assert refused.value.field == "allowed_origins"


ON = clean_settings(ChatValues(enabled=True, allowed_origins=("https://shop.example.org",)))


@pytest.mark.parametrize(("values", "origin", "allowed"), [
    (ON, "https://shop.example.org", True),
    (ON, "https://SHOP.example.org", True),
    (ON, "https://shop.example.org:443", True),
    (ON, "http://shop.example.org", False),       # another scheme is another site
    (ON, "https://shop.example.org.evil.test", False),
    (ON, "null", False),                          # a sandboxed frame or a file
    (ON, None, False),                            # no Origin: not a browser page
    (ChatValues(enabled=False, allowed_origins=("https://shop.example.org",)),
     "https://shop.example.org", False),          # chat off
])
def test_who_may_open_the_widget(values: ChatValues, origin: str | None, allowed: bool) -> None:
    assert origin_allowed(values, origin) is allowed


def test_the_settings_are_cleaned_together() -> None:
    values = clean_settings(ChatValues(
        enabled=True, allowed_origins=("https://a.example.org", " ", "https://A.example.org/"),
        greeting="  Hi\x00 there \r\n"))
    assert values.allowed_origins == ("https://a.example.org",)
    assert values.greeting == "Hi there"
