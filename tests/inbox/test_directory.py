"""The channel directory, by value: which inbox owns an address, as a table."""

from __future__ import annotations

import pickle

import pytest

from core.errors import InvalidInput
from inbox.channels import ChannelValues, clean
from inbox.directory import ChannelDirectory, InboxChannel
from tests.support import make_settings

SUPPORT = InboxChannel(slug="support", name="Support",
                       addresses=("help@example.com", "support@example.com"),
                       catch_all_domains=("example.com",))
SALES = InboxChannel(slug="sales", name="Sales", addresses=("deals@example.com",),
                     catch_all_domains=("sales.example", "shop.example"))
QUIET = InboxChannel(slug="quiet", name="Quiet")
DIRECTORY = ChannelDirectory((SUPPORT, SALES, QUIET))


@pytest.mark.parametrize(("address", "owner"), [
    ("help@example.com", "support"),
    ("HELP@Example.COM", "support"),              # addresses compare without case
    ("  help@example.com ", "support"),           # nor the spaces around
    ("deals@example.com", "sales"),               # exact beats another inbox's domain
    ("anyone@example.com", "support"),            # a catch-all domain
    ("anyone@shop.example", "sales"),
    ("anyone@sub.shop.example", None),            # not a subdomain
    ("help@example.com.evil", None),
    ("help", None),
    ("", None),
    ("@example.com", "support"),                  # what RCPT would refuse as malformed
])
def test_which_inbox_owns_an_address(address, owner):
    found = DIRECTORY.inbox_for_address(address)
    assert (found.slug if found else None) == owner
    assert DIRECTORY.owns(address) is (owner is not None)


def test_lookups_by_slug_and_what_is_ours():
    assert DIRECTORY.inbox("sales") is SALES and DIRECTORY.inbox("nope") is None
    assert DIRECTORY.own_addresses == {"help@example.com", "support@example.com",
                                       "deals@example.com"}
    assert DIRECTORY.own_domains == {"example.com", "sales.example", "shop.example"}


def test_it_travels_to_another_process_whole():
    copy = pickle.loads(pickle.dumps(DIRECTORY))
    assert copy == DIRECTORY and copy.inbox_for_address("x@shop.example") == SALES


def test_the_configuration_gives_the_older_catch_all_setting_to_the_first_inbox():
    settings = make_settings("sqlite+aiosqlite:///:memory:", smtp_in={
        "catch_all_domains": ["old.example"]}, inboxes=[
        {"slug": "support", "name": "Support", "addresses": ["help@example.com"]},
        {"slug": "sales", "name": "Sales", "catch_all_domains": ["Sales.Example"]}])
    directory = ChannelDirectory.from_settings(settings)
    assert directory.inbox_for_address("a@old.example").slug == "support"
    assert directory.inbox_for_address("a@sales.example").slug == "sales"


@pytest.mark.parametrize(("values", "field"), [
    (ChannelValues(name=" "), "name"),
    (ChannelValues(name="x" * 201), "name"),
    (ChannelValues(name="A", addresses=("a@b", "A@B")), "addresses"),
    (ChannelValues(name="A", addresses=("a b@example.com",)), "addresses"),
    (ChannelValues(name="A", addresses=("<a@example.com>",)), "addresses"),
    (ChannelValues(name="A", addresses=("a@example.com.",)), "addresses"),
    (ChannelValues(name="A", catch_all_domains=("exa mple.com",)), "catch_all_domains"),
    (ChannelValues(name="A", catch_all_domains=("a..b",)), "catch_all_domains"),
    (ChannelValues(name="A", auto_ack=True, auto_ack_text=""), "auto_ack_text"),
    (ChannelValues(name="A", auto_ack_window_minutes=0), "auto_ack_window_minutes"),
    (ChannelValues(name="A", from_name="x" * 201), "from_name"),
])
def test_bad_values_name_their_field(values, field):
    with pytest.raises(InvalidInput) as refused:
        clean(values)
    assert refused.value.field == field


def test_values_are_normalized():
    cleaned = clean(ChannelValues(name="  Sales   desk ", addresses=(" Deals@Example.com", " "),
                                  catch_all_domains=("@Shop.Example",), from_name=" Sales "))
    assert (cleaned.name, cleaned.addresses, cleaned.catch_all_domains, cleaned.from_name) == (
        "Sales desk", ("deals@example.com",), ("shop.example",), "Sales")
