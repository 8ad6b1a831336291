"""@mentions in comments: who a text names. Pure.

A mention is `@` followed by a user's handle, the part of their email address before the
`@` (`@anna.berg` names anna.berg@example.com), matched without regard to case. An `@` inside
a word (an email address, `a@b`) mentions no one; punctuation that ends a sentence is not
part of the handle (`thanks @bo.` names `bo`).
"""

from __future__ import annotations

import re

_MENTION = re.compile(r"(?<![\w@.+-])@([A-Za-z0-9](?:[A-Za-z0-9._+-]*[A-Za-z0-9_+])?)")


def mentioned_handles(text: str) -> list[str]:
    """The handles `text` mentions, lower-cased, each once, in order of first mention."""
    return list(dict.fromkeys(match.group(1).lower() for match in _MENTION.finditer(text)))


def handle_of(email: str) -> str:
    """The handle a user is mentioned by: their address's local part, lower-cased."""
    return email.rpartition("@")[0].lower()
