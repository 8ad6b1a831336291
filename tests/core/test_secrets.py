"""Secrets at rest: sealed under the service key, opened only with it, never anything but
`SecretUnreadable` when they cannot be opened."""

from __future__ import annotations

import base64

import pytest

from core.secrets import SecretBox, SecretUnreadable, derive_key

KEY = "test-secret-key-0123456789"
BOX = SecretBox(KEY)


@pytest.mark.parametrize("plaintext", ["hunter2", "", "pässwörd ✓", "x" * 4000])
def test_a_sealed_secret_opens_to_what_was_sealed(plaintext):
    token = BOX.seal(plaintext)
    assert token.startswith("v1:") and plaintext not in token[3:] or not plaintext
    assert BOX.open(token) == plaintext


def test_the_same_secret_seals_differently_each_time():
    assert BOX.seal("hunter2") != BOX.seal("hunter2")


def test_keys_differ_by_service_key_and_purpose():
    assert derive_key(KEY, "a") != derive_key(KEY, "b")
    assert derive_key(KEY, "a") != derive_key(KEY + "x", "a")
    assert len(derive_key(KEY, "a")) == 32


def _flip_last_byte(token: str) -> str:
    raw = bytearray(base64.urlsafe_b64decode(token[3:]))
    raw[-1] ^= 1
    return "v1:" + base64.urlsafe_b64encode(bytes(raw)).decode()


GOOD = BOX.seal("hunter2")


@pytest.mark.parametrize(("box", "token"), [
    pytest.param(SecretBox("another-secret-key-0123"), GOOD, id="another-service-key"),
    pytest.param(SecretBox(KEY, "webhooks"), GOOD, id="another-purpose"),
    pytest.param(BOX, _flip_last_byte(GOOD), id="altered"),
    pytest.param(BOX, GOOD[:20], id="cut-short"),
    pytest.param(BOX, "v1:", id="empty-body"),
    pytest.param(BOX, "v1:!!not base64!!", id="not-base64"),
    pytest.param(BOX, "v1:é", id="not-ascii"),
    pytest.param(BOX, "v2:" + GOOD[3:], id="unknown-version"),
    pytest.param(BOX, "hunter2", id="plain-text"),
    pytest.param(BOX, "", id="empty"),
])
def test_a_secret_that_cannot_be_opened_raises_secret_unreadable(box, token):
    with pytest.raises(SecretUnreadable):
        box.open(token)
