"""Who a comment mentions: a table of texts and the handles they name."""

from __future__ import annotations

import pytest

from notifications.mentions import handle_of, mentioned_handles


@pytest.mark.parametrize(("text", "handles"), [
    ("@ann please look", ["ann"]),
    ("ping @Ann and @bo", ["ann", "bo"]),
    ("thanks @bo.", ["bo"]),
    ("@anna.berg, can you check?", ["anna.berg"]),
    ("(@cy) and @dee!", ["cy", "dee"]),
    ("@ann @ANN @ann", ["ann"]),
    ("line one\n@eve on line two", ["eve"]),
    ("@first-last- done", ["first-last"]),
    ("@o_k", ["o_k"]),
    ("@x+tag", ["x+tag"]),
    # an @ inside a word or address names no one
    ("write to ann@example.com", []),
    ("a@b", []),
    ("@@ann", []),
    (".@ann", []),
    ("@ alone", []),
    ("@", []),
    ("@.", []),
    ("", []),
    ("no mentions here", []),
])
def test_mentioned_handles(text, handles):
    assert mentioned_handles(text) == handles


@pytest.mark.parametrize(("email", "handle"), [
    ("ann@example.com", "ann"), ("Anna.Berg@Example.org", "anna.berg"),
    ("odd@name@example.com", "odd@name")])
def test_handle_of(email, handle):
    assert handle_of(email) == handle
