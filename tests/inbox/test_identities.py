"""Who wrote: the contact of each sender, decided by value (`inbox.identities.plan`)."""

from __future__ import annotations

import pytest

from inbox.identities import ContactPlan, Facts, NewContact, Sender, plan

ANNA = ("slack", "slack:T1:U0ANNA")
BOB = ("slack", "slack:T1:U0BOB")
VISITOR = ("chat", "webchat:1:v-1")
N0, N1 = NewContact(0), NewContact(1)


def facts(identities=None, emails=None) -> Facts:
    return Facts(identities=identities or {}, emails=emails or {})


CASES = [
    pytest.param(
        [Sender(BOB, None), Sender(BOB, None)], facts(),
        ContactPlan(contacts=[N0, N0], new=[None], links={BOB: N0}),
        id="one author without an address twice: one new contact, the identity linked"),
    pytest.param(
        [Sender(BOB, None)], facts({BOB: 7}, {7: None}),
        ContactPlan(contacts=[7]),
        id="a stored identity names its contact; nothing to write"),
    pytest.param(
        [Sender(None, None), Sender(None, None)], facts(),
        ContactPlan(contacts=[N0, N1], new=[None, None]),
        id="neither identity nor address: a new contact each"),
    pytest.param(
        [Sender(None, "bo@example.org"), Sender(None, "bo@example.org")], facts(),
        ContactPlan(contacts=[N0, N0], new=["bo@example.org"]),
        id="an address shared in the batch: one new contact"),
    pytest.param(
        [Sender(ANNA, "anna@example.org")], facts({}, {3: "anna@example.org"}),
        ContactPlan(contacts=[3], links={ANNA: 3}),
        id="an unknown identity with a known address: linked to that contact"),
    pytest.param(
        [Sender(VISITOR, "vi@example.org")], facts({VISITOR: 5}, {5: None}),
        ContactPlan(contacts=[5], emails={5: "vi@example.org"}),
        id="an anonymous visitor gives a new address: the same contact has it"),
    pytest.param(
        [Sender(VISITOR, "vi@example.org")],
        facts({VISITOR: 5}, {5: None, 9: "vi@example.org"}),
        ContactPlan(contacts=[9], links={VISITOR: 9}, moved={5: 9}),
        id="an anonymous visitor gives another contact's address: folded into it"),
    pytest.param(
        [Sender(ANNA, "new@example.org")], facts({ANNA: 3}, {3: "anna@example.org"}),
        ContactPlan(contacts=[3]),
        id="the identity wins over a different address; the known one stays"),
    pytest.param(
        [Sender(ANNA, "other@example.org")],
        facts({ANNA: 3}, {3: "anna@example.org", 4: "other@example.org"}),
        ContactPlan(contacts=[3]),
        id="the identity wins over another contact's address too"),
    pytest.param(
        [Sender(VISITOR, None), Sender(VISITOR, "vi@example.org")], facts(),
        ContactPlan(contacts=[N0, N0], new=["vi@example.org"], links={VISITOR: N0}),
        id="a new visitor who gives an address later in the batch: one contact with it"),
    pytest.param(
        [Sender(VISITOR, None), Sender(VISITOR, "vi@example.org")],
        facts({}, {9: "vi@example.org"}),
        ContactPlan(contacts=[9, 9], links={VISITOR: 9}),
        id="a new visitor whose later address is known: no new contact at all"),
    pytest.param(
        [Sender(VISITOR, "vi@example.org"), Sender(None, "vi@example.org")],
        facts({VISITOR: 5}, {5: None}),
        ContactPlan(contacts=[5, 5], emails={5: "vi@example.org"}),
        id="an address just learnt names its contact for the rest of the batch"),
    pytest.param(
        [Sender(ANNA, "anna@example.org"), Sender(BOB, "anna@example.org")], facts(),
        ContactPlan(contacts=[N0, N0], new=["anna@example.org"], links={ANNA: N0, BOB: N0}),
        id="two identities with one address: one contact, both linked"),
]


@pytest.mark.parametrize(("senders", "known", "expected"), CASES)
def test_plan(senders, known, expected):
    assert plan(senders, known) == expected
