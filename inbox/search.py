"""Full-text search over conversations: message bodies, subjects and contacts.

A query is cut into words (`terms`). A conversation matches when every word is found in
one of its messages, its subject or its contact (name, email, company); the last word
also matches as a prefix, so results follow typing. SQLite searches the FTS5 tables and
PostgreSQL the GIN indexes of migration 0009; the two index the same text the same way
(case and accents folded, split on anything that is not a letter or digit).

`matching(dialect, words)` is the condition a listing adds; `snippets` gives, for a page of
conversations, the best matching fragment with the matched words marked by `MARK_START` /
`MARK_END` (private-use characters, so that a template escapes the text and only then turns
the marks into `<mark>` tags: nothing from a message ever becomes markup).
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence

from sqlalchemy import BindParameter, ColumnElement, and_, bindparam, or_, text
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.models import Conversation

MAX_TERMS = 8
MAX_TERM_CHARS = 64
MARK_START, MARK_END = "\ue000", "\ue001"
_WORD = re.compile(r"[^\W_]+")


def terms(query: str | None) -> tuple[str, ...]:
    """The words of a search, lower-cased and without accents, at most MAX_TERMS of at
    most MAX_TERM_CHARS characters each; () when there is nothing to search for."""
    if not query:
        return ()
    folded = unicodedata.normalize("NFKD", query.casefold())
    plain = "".join(c for c in folded if not unicodedata.combining(c))
    words = _WORD.findall(plain)
    return tuple(dict.fromkeys(w[:MAX_TERM_CHARS] for w in words))[:MAX_TERMS]


def fts5_term(word: str, *, prefix: bool) -> str:
    """One word as an FTS5 query: quoted (never an operator), `*` for a prefix."""
    return f'"{word}"' + ("*" if prefix else "")


def tsquery_term(word: str, *, prefix: bool) -> str:
    """One word as a PostgreSQL tsquery: quoted, `:*` for a prefix."""
    return "'" + word.replace("'", "''") + "'" + (":*" if prefix else "")


def marked_html(snippet: str) -> str:
    """A snippet as HTML: its text escaped, its marks as `<mark>` tags."""
    return (html.escape(snippet).replace(MARK_START, "<mark>").replace(MARK_END, "</mark>"))


# The expressions of migration 0009's indexes, repeated exactly so that PostgreSQL uses them.
_CONFIG = "'frontdesk_search'::regconfig"


def _words(expression: str) -> str:
    return f"to_tsvector({_CONFIG}, regexp_replace({expression}, '[[:punct:]]+', ' ', 'g'))"


_MESSAGES_SEARCH = _words("left(messages.text, 100000)")
_SUBJECT_SEARCH = _words("conversations.subject")
_CONTACT_SEARCH = _words("coalesce(contacts.name, '') || ' ' || coalesce(contacts.email, '') "
                         "|| ' ' || coalesce(contacts.company, '')")


def _sqlite_word(place: int, word: str, prefix: bool) -> ColumnElement[bool]:
    name = f"search_term_{place}"
    parameter: BindParameter[str] = bindparam(name, fts5_term(word, prefix=prefix))
    return or_(
        Conversation.id.in_(text(
            f"SELECT messages.conversation_id FROM messages_fts JOIN messages "
            f"ON messages.id = messages_fts.rowid WHERE messages_fts MATCH :{name}"
        ).bindparams(parameter)),
        Conversation.id.in_(text(
            f"SELECT rowid FROM conversations_fts WHERE conversations_fts MATCH :{name}"
        ).bindparams(parameter)),
        Conversation.contact_id.in_(text(
            f"SELECT rowid FROM contacts_fts WHERE contacts_fts MATCH :{name}"
        ).bindparams(parameter)))


def _postgres_word(place: int, word: str, prefix: bool) -> ColumnElement[bool]:
    name = f"search_term_{place}"
    parameter: BindParameter[str] = bindparam(name, tsquery_term(word, prefix=prefix))
    query = f"to_tsquery({_CONFIG}, :{name})"
    return or_(
        Conversation.id.in_(text(
            f"SELECT messages.conversation_id FROM messages WHERE {_MESSAGES_SEARCH} @@ {query}"
        ).bindparams(parameter)),
        text(f"{_SUBJECT_SEARCH} @@ {query}").bindparams(parameter),
        Conversation.contact_id.in_(text(
            f"SELECT contacts.id FROM contacts WHERE {_CONTACT_SEARCH} @@ {query}"
        ).bindparams(parameter)))


def matching(dialect: str, words: Sequence[str]) -> ColumnElement[bool]:
    """The condition on `Conversation` that every word of `words` (from `terms`) is in one
    of its messages, its subject or its contact; the last word as a prefix."""
    build = _sqlite_word if dialect == "sqlite" else _postgres_word
    return and_(*(build(place, word, place == len(words) - 1)
                  for place, word in enumerate(words)))


async def snippets(session: AsyncSession, conversation_ids: Sequence[int],
                   words: Sequence[str]) -> dict[int, str]:
    """For each conversation of `conversation_ids` whose messages hold a word of `words`:
    a fragment of its newest such message, the words marked (`MARK_START`/`MARK_END`)."""
    if not conversation_ids or not words:
        return {}
    ids = ", ".join(str(int(i)) for i in conversation_ids)
    if session.get_bind().dialect.name == "sqlite":
        query = " OR ".join(fts5_term(w, prefix=i == len(words) - 1)
                            for i, w in enumerate(words))
        rows = await session.execute(text(
            f"SELECT messages.conversation_id, snippet(messages_fts, 0, :start, :end, '…', 16) "
            f"FROM messages_fts JOIN messages ON messages.id = messages_fts.rowid "
            f"WHERE messages_fts MATCH :query AND messages.conversation_id IN ({ids}) "
            f"ORDER BY messages.id DESC"),
            {"start": MARK_START, "end": MARK_END, "query": query})
    else:
        query = " | ".join(tsquery_term(w, prefix=i == len(words) - 1)
                           for i, w in enumerate(words))
        rows = await session.execute(text(
            f"SELECT messages.conversation_id, ts_headline({_CONFIG}, "
            f"left(messages.text, 100000), to_tsquery({_CONFIG}, :query), :options) "
            f"FROM messages WHERE {_MESSAGES_SEARCH} @@ to_tsquery({_CONFIG}, :query) "
            f"AND messages.conversation_id IN ({ids}) ORDER BY messages.id DESC"),
            {"query": query, "options": f"StartSel={MARK_START}, StopSel={MARK_END}, "
                                        "MaxFragments=1, MaxWords=24, MinWords=8"})
    found: dict[int, str] = {}
    for conversation_id, fragment in rows:
        found.setdefault(conversation_id, fragment)
    return found
