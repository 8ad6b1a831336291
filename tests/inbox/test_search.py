"""Full-text search: the words of a query (a table), then searches through the API on the
real database (FTS5 on SQLite, GIN indexes on PostgreSQL)."""

from __future__ import annotations

import uuid

import pytest

from core.db import transaction
from inbox.messages import InboundMessage
from inbox.search import (
    MARK_END,
    MARK_START,
    fragment,
    fts5_term,
    is_dense,
    marked_html,
    terms,
    tsquery_term,
)
from inbox.service import ingest


@pytest.mark.parametrize("query, expected", [
    (None, ()),
    ("", ()),
    ("   ", ()),
    ("Invoice", ("invoice",)),
    ("Crème BRÛLÉE", ("creme", "brulee")),
    ("anna@example.org", ("anna", "example", "org")),
    ('"quoted" AND NOT (x OR y) NEAR(a b) col:z *', ("quoted", "and", "not", "x", "or", "y",
                                                      "near", "a")),
    ("snake_case word", ("snake", "case", "word")),
    ("dup dup DUP", ("dup",)),
    ("x" * 100, ("x" * 64,)),
    ("Ｆｕｌｌｗｉｄｔｈ", ("fullwidth",)),
    ("日本語 テキスト", ("日本語", "テキスト")),
])
def test_the_words_of_a_query(query, expected):
    assert terms(query) == expected


def test_quoting_leaves_no_operator_to_the_searcher():
    assert fts5_term("near", prefix=False) == '"near"'
    assert fts5_term("inv", prefix=True) == '"inv"*'
    assert tsquery_term("o'neil", prefix=True) == "'o''neil':*"


def test_only_the_marks_become_markup():
    snippet = f"<script>alert(1)</script> the {MARK_START}invoice{MARK_END} & more"
    assert marked_html(snippet) == ("&lt;script&gt;alert(1)&lt;/script&gt; the "
                                    "<mark>invoice</mark> &amp; more")


def shown(marked: str | None) -> str | None:
    """A fragment with its marks as [brackets], to read in a table."""
    return None if marked is None else marked.replace(MARK_START, "[").replace(MARK_END, "]")


LONG = " ".join(f"w{i}" for i in range(40))


@pytest.mark.parametrize("text, words, expected", [
    ("The invoice is late", ("invoice",), "The [invoice] is late"),
    ("The INVOICE is late", ("invoice",), "The [INVOICE] is late"),
    ("Crème brûlée, again", ("creme",), "[Crème] brûlée, again"),
    ("Crème brûlée, again", ("brul",), "Crème [brûlée], again"),  # the last word: a prefix
    ("invoices and an invoice", ("invoice", "late"), "invoices and an [invoice]"),
    ("invoices and an invoice", ("late", "invoice"), "[invoices] and an [invoice]"),
    ("mail anna@example.org now", ("example",), "mail anna@[example].org now"),
    ("snake_case words", ("case",), "snake_[case] words"),
    ("nothing to see", ("invoice",), None),
    ("", ("invoice",), None),
    ("an invoice", (), None),
    ("line one\n\n  invoice   two", ("invoice",), "line one [invoice] two"),
    (LONG, ("w0",), "[w0] w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 w11 w12 w13 w14 w15…"),
    (LONG, ("w20",), "…w16 w17 w18 w19 [w20] w21 w22 w23 w24 w25 w26 w27 w28 w29 w30 w31…"),
    (LONG, ("w39",), "…w24 w25 w26 w27 w28 w29 w30 w31 w32 w33 w34 w35 w36 w37 w38 [w39]"),
])
def test_the_fragment_a_match_shows(text, words, expected):
    assert shown(fragment(text, words)) == expected


@pytest.mark.parametrize("hits, conversations, page, dense", [
    (0, 0, 51, False),
    (0, 100_000, 51, False),
    (50, 100_000, 51, False),
    (2258, 100_000, 51, False),  # just under sqrt(51 * 100,000) = 2258.3
    (2259, 100_000, 51, True),
    (24_000, 100_000, 51, True),
    (10, 100, 11, False),
    (40, 100, 11, True),
])
def test_a_word_found_often_is_checked_while_walking_the_order(hits, conversations, page, dense):
    assert is_dense(hits, conversations, page) is dense


async def receive(runtime, *, subject: str, text: str, sender: str = "anna@example.org",
                  name: str | None = "Anna Berg", company: str | None = None,
                  inbox: str = "support") -> int:
    message = InboundMessage(inbox=inbox, channel="email", sender_email=sender,
                             sender_name=name, sender_company=company, subject=subject,
                             text=text, external_id=f"{uuid.uuid4().hex}@example.org")
    async with transaction(runtime.sessions) as session:
        return (await ingest(session, message)).conversation_id


async def found(client, headers, q: str) -> list[int]:
    response = await client.get("/api/conversations", headers=headers,
                                params={"q": q, "status": "all"})
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


@pytest.fixture
async def corpus(runtime):
    return {
        "invoice": await receive(runtime, subject="Wrong total",
                                 text="The invoice for March counts VAT twice."),
        "printer": await receive(runtime, subject="Printer on fire",
                                 text="It started smoking after the update.",
                                 sender="bo@acme.example", name="Bo Brûlé", company="Acme Corp"),
        "crème": await receive(runtime, subject="Crème brûlée recipe",
                               text="Can you send it again?", sender="cy@example.net",
                               name=None),
    }


async def test_search_finds_bodies_subjects_and_contacts(client, agent, corpus):
    _, headers = agent
    assert await found(client, headers, "vat") == [corpus["invoice"]]
    assert await found(client, headers, "PRINTER fire") == [corpus["printer"]]
    assert await found(client, headers, "acme") == [corpus["printer"]]
    assert await found(client, headers, "bo@acme.example") == [corpus["printer"]]
    assert await found(client, headers, "brule acme") == [corpus["printer"]]  # accents folded
    assert await found(client, headers, "creme") == [corpus["crème"]]
    assert await found(client, headers, "anna invoice") == [corpus["invoice"]]  # across fields
    assert await found(client, headers, "anna printer") == []
    assert await found(client, headers, "smok") == [corpus["printer"]]  # the last word: prefix
    assert await found(client, headers, "smok update") == []  # earlier words: whole words
    assert sorted(await found(client, headers, "the")) == sorted(
        [corpus["invoice"], corpus["printer"]])


async def test_search_by_ticket_number(client, agent, corpus):
    _, headers = agent
    ticket = (await client.get(f"/api/conversations/{corpus['crème']}",
                               headers=headers)).json()["ticket_id"]
    assert await found(client, headers, f"#{ticket}") == [corpus["crème"]]
    assert corpus["crème"] in await found(client, headers, str(ticket))


async def test_a_match_is_shown_marked_and_escaped(client, agent, runtime):
    _, headers = agent
    conversation = await receive(runtime, subject="Script",
                                 text="Look: <script>alert('x')</script> the invoice is late")
    response = await client.get("/api/conversations", headers=headers,
                                params={"q": "invoice"})
    [item] = [i for i in response.json()["items"] if i["id"] == conversation]
    assert "<mark>invoice</mark>" in item["match_html"]
    without_marks = item["match_html"].replace("<mark>", "").replace("</mark>", "")
    assert "<" not in without_marks and "&#x27;" in without_marks
    plain = (await client.get("/api/conversations", headers=headers)).json()["items"]
    assert all("match_html" not in i for i in plain)


@pytest.mark.parametrize("q", ['"', "*", "AND", "NEAR(", "col:x", "a OR", "'", "\\", "-x", "^",
                               ":*", "&|!", "((((", "%_%"])
async def test_query_syntax_from_the_searcher_is_just_words(client, agent, corpus, q):
    _, headers = agent
    response = await client.get("/api/conversations", headers=headers, params={"q": q})
    assert response.status_code == 200


async def test_search_keeps_to_scope_and_skips_trash(client, agent, admin, runtime, corpus):
    _, headers = agent
    _, admin_headers = admin
    response = await client.delete(f"/api/conversations/{corpus['invoice']}", headers=headers)
    assert response.status_code == 204
    assert await found(client, headers, "vat") == []


async def test_what_a_contact_tells_later_is_found(client, agent, runtime):
    _, headers = agent
    first = await receive(runtime, subject="Hello", text="first", sender="dee@example.org",
                          name=None)
    assert await found(client, headers, "delphine") == []
    await receive(runtime, subject="Again", text="second", sender="dee@example.org",
                  name="Delphine Dee")
    assert first in await found(client, headers, "delphine")
