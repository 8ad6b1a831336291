"""Which conversation an inbound message belongs to. Pure: plain values in and out.

The rules, in order:
1. A channel thread key (a chat session, a Slack thread) names its conversation.
2. Otherwise the message ids it answers (In-Reply-To first, then References newest first)
   lead to the conversation of the first one we know (received or sent).
3. Otherwise, a message we already hold that answers this one (mail arrives out of order)
   leads to that message's conversation.
4. Otherwise a ticket token in the subject (`[#1234]`) leads to that ticket's conversation
   when the sender takes part in it.
5. Otherwise it opens a new conversation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

TICKET_TOKEN = re.compile(r"\[#(\d{1,9})\]")


def reference_ids(in_reply_to: str | None, references: Sequence[str]) -> tuple[str, ...]:
    """The ids a message answers, most specific first, without duplicates or blanks."""
    ordered = [in_reply_to] if in_reply_to else []
    ordered.extend(reversed(references))
    seen: dict[str, None] = {}
    for ref in ordered:
        ref = ref.strip()
        if ref and ref not in seen:
            seen[ref] = None
    return tuple(seen)


def choose_conversation(
    by_thread_key: int | None,
    references: Sequence[str],
    conversation_by_reference: Mapping[str, int],
) -> int | None:
    """The conversation id the message joins, or None for a new conversation."""
    if by_thread_key is not None:
        return by_thread_key
    for ref in references:
        found = conversation_by_reference.get(ref)
        if found is not None:
            return found
    return None


def ticket_token(subject: str) -> int | None:
    """The ticket number of the last `[#1234]` token in a subject, or None."""
    found = TICKET_TOKEN.findall(subject or "")
    return int(found[-1]) if found else None
