"""Full-text search over conversations: message bodies, subjects and contacts.

A query is cut into words (`terms`). A conversation matches when every word is found in
one of its messages, its subject or its contact (name, email, company); the last word
also matches as a prefix, so results follow typing. SQLite searches the FTS5 tables and
PostgreSQL the GIN indexes of migration 0009; the two index the same text the same way
(case and accents folded, split on anything that is not a letter or digit).

`matching(dialect, words)` is the condition a listing adds; `snippets` gives, for a page of
conversations, a fragment of the newest matching message with the matched words marked by
`MARK_START` / `MARK_END` (private-use characters, so that a template escapes the text and
only then turns the marks into `<mark>` tags: nothing from a message ever becomes markup).
The fragment is cut in Python (`fragment`, the same on both databases) from the page's own
messages: the index's list of matches is read once, by the listing.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence

from sqlalchemy import BindParameter, ColumnElement, and_, bindparam, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.models import Conversation, Message

MAX_TERMS = 8
MAX_TERM_CHARS = 64
MARK_START, MARK_END = "\ue000", "\ue001"
SNIPPET_WORDS = 16
MAX_SNIPPET_SOURCE = 100_000
"""The characters of a message a snippet is looked for in (as many as PostgreSQL indexes)."""
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


def _sqlite_word(place: int, word: str, prefix: bool, dense: bool) -> ColumnElement[bool]:
    """A word's condition. A dense word's lists of matches are only looked up (`+ 0` keeps
    SQLite from reading the conversations through them), so that the listing walks its
    sort's index and stops at the page's end; a rare word's lists drive the reading."""
    name = f"search_term_{place}"
    parameter: BindParameter[str] = bindparam(name, fts5_term(word, prefix=prefix))
    conversation_id = Conversation.id + 0 if dense else Conversation.id
    contact_id = Conversation.contact_id + 0 if dense else Conversation.contact_id
    return or_(
        conversation_id.in_(text(
            f"SELECT messages.conversation_id FROM messages_fts JOIN messages "
            f"ON messages.id = messages_fts.rowid WHERE messages_fts MATCH :{name}"
        ).bindparams(parameter)),
        conversation_id.in_(text(
            f"SELECT rowid FROM conversations_fts WHERE conversations_fts MATCH :{name}"
        ).bindparams(parameter)),
        contact_id.in_(text(
            f"SELECT rowid FROM contacts_fts WHERE contacts_fts MATCH :{name}"
        ).bindparams(parameter)))


def _postgres_word(place: int, word: str, prefix: bool, dense: bool) -> ColumnElement[bool]:
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


def matching(dialect: str, words: Sequence[str],
             dense: Sequence[bool] = ()) -> ColumnElement[bool]:
    """The condition on `Conversation` that every word of `words` (from `terms`) is in one
    of its messages, its subject or its contact; the last word as a prefix. `dense` tells
    per word whether it is found so often that a listing had better walk its own order
    than read every match (`dense_words`); by default no word is."""
    build = _sqlite_word if dialect == "sqlite" else _postgres_word
    return and_(*(build(place, word, place == len(words) - 1,
                        dense[place] if place < len(dense) else False)
                  for place, word in enumerate(words)))


def is_dense(hits: int, conversations: int, page: int) -> bool:
    """Whether a word found `hits` times (messages and subjects) among `conversations` is
    better checked while walking a listing's order than read as a list of matches.

    Walking reads about `page * conversations / hits` conversations before the page is
    full; reading the matches reads `hits` rows and sorts them. Each costs about the same
    per row, so the walk wins from `hits * hits >= page * conversations` on."""
    return hits > 0 and hits * hits >= page * conversations


async def dense_words(session: AsyncSession, words: Sequence[str], *,
                      page: int) -> tuple[bool, ...]:
    """Per word of `words`: whether it `is_dense` for a listing of `page` rows. Counted on
    SQLite's full-text tables (a count reads the index alone); PostgreSQL plans for itself
    from its statistics, so there every word is left as not dense."""
    if not words or session.get_bind().dialect.name != "sqlite":
        return tuple(False for _ in words)
    counts = ", ".join(
        f"(SELECT count(*) FROM messages_fts WHERE messages_fts MATCH :w{place}) + "
        f"(SELECT count(*) FROM conversations_fts WHERE conversations_fts MATCH :w{place})"
        for place in range(len(words)))
    parameters = {f"w{place}": fts5_term(word, prefix=place == len(words) - 1)
                  for place, word in enumerate(words)}
    row = (await session.execute(
        text(f"SELECT (SELECT max(id) FROM conversations), {counts}"), parameters)).one()
    conversations, hits = int(row[0] or 0), [int(h) for h in row[1:]]
    return tuple(is_dense(h, conversations, page) for h in hits)


def _folded(word: str) -> str:
    """A word of a text as the indexes keep it: case and accents folded."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def fragment(text: str, words: Sequence[str], *, size: int = SNIPPET_WORDS) -> str | None:
    """The fragment of `text` a search for `words` (from `terms`; the last one a prefix)
    shows: `size` words around the first that matches, each match between MARK_START and
    MARK_END, `…` where text is left out; None when no word of `text` matches."""
    if not words:
        return None
    whole, prefix = set(words[:-1]), words[-1]
    found = [(m.start(), m.end(), _folded(m.group()).startswith(prefix)
              or _folded(m.group()) in whole) for m in _WORD.finditer(text)]
    first = next((place for place, (_, _, hit) in enumerate(found) if hit), None)
    if first is None:
        return None
    begin = max(0, min(first - size // 4, len(found) - size))
    shown = found[begin:begin + size]
    parts, at = [], shown[0][0]
    for start, end, hit in shown:
        parts.append(text[at:start])
        parts.append(f"{MARK_START}{text[start:end]}{MARK_END}" if hit else text[start:end])
        at = end
    cut_before, cut_after = begin > 0, begin + size < len(found)
    return ("…" if cut_before else "") + " ".join("".join(parts).split()) + (
        "…" if cut_after else "")


async def snippets(session: AsyncSession, conversation_ids: Sequence[int],
                   words: Sequence[str]) -> dict[int, str]:
    """For each conversation of `conversation_ids` whose messages hold a word of `words`:
    a fragment of its newest such message (`fragment`), the words marked.

    Only the page's conversations are read (their messages newest first, each cut to
    MAX_SNIPPET_SOURCE characters), never the index's whole list of matches."""
    if not conversation_ids or not words:
        return {}
    rows = await session.execute(
        select(Message.conversation_id, func.substr(Message.text, 1, MAX_SNIPPET_SOURCE))
        .where(Message.conversation_id.in_(list(conversation_ids)))
        .order_by(Message.id.desc()))
    found: dict[int, str] = {}
    for conversation_id, body in rows:
        if conversation_id not in found and body:
            shown = fragment(body, words)
            if shown is not None:
                found[conversation_id] = shown
    return found
