"""The chat socket's protocol and tokens, by value: frames in, actions out."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from connectors.webchat import protocol as p
from connectors.webchat.tokens import LIFETIME, TokenSigner, new_visitor

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
WELCOME = p.Welcome(token="t", conversation=7, seq=3, open=True, ask="optional",
                    greeting="Hi", name="Support")


def opened(last_seq: int = 0, welcome: p.Welcome = WELCOME) -> p.ChatProtocol:
    machine = p.ChatProtocol()
    assert machine.received(json.dumps({"type": "hello", "token": "t", "last_seq": last_seq}),
                            NOW) == [p.Resume("t", last_seq)]
    machine.welcomed(welcome, last_seq)
    return machine


def message(seq: int, author: str = "agent", client_id: str | None = None) -> p.ChatMessage:
    return p.ChatMessage(seq=seq, author=author, name="Al", text=f"m{seq}",  # type: ignore[arg-type]
                         at=NOW, client_id=client_id)


def seqs(actions: list[p.Action]) -> list[int]:
    return [a.frame["seq"] for a in actions if isinstance(a, p.Send)]


@pytest.mark.parametrize(("frame", "code"), [
    (b"\x00binary", p.CLOSE_BINARY),
    ("not json", p.CLOSE_INVALID),
    ("[1, 2]", p.CLOSE_INVALID),
    ("x" * (p.MAX_FRAME_CHARS + 1), p.CLOSE_TOO_BIG),
    ('{"type": "message", "client_id": "a", "text": "hi"}', p.CLOSE_POLICY),  # before hello
    ('{"type": "hello", "last_seq": -1}', p.CLOSE_POLICY),
    ('{"type": "hello", "last_seq": true}', p.CLOSE_POLICY),
    ('{"type": "hello", "token": 5}', p.CLOSE_POLICY),
    ('{"type": "nonsense"}', p.CLOSE_POLICY),
])
def test_bad_frames_before_welcome_close_with_their_code(frame: str | bytes, code: int) -> None:
    machine = p.ChatProtocol()
    actions = machine.received(frame, NOW)
    assert [a.code for a in actions if isinstance(a, p.Close)] == [code]
    assert machine.closed and machine.received('{"type": "hello"}', NOW) == []


@pytest.mark.parametrize(("frame", "code"), [
    ({"type": "hello", "last_seq": 0}, p.CLOSE_POLICY),  # a second hello
    ({"type": "message", "client_id": "", "text": "hi"}, p.CLOSE_POLICY),
    ({"type": "message", "client_id": "a" * 65, "text": "hi"}, p.CLOSE_POLICY),
    ({"type": "message", "client_id": "a\nb", "text": "hi"}, p.CLOSE_POLICY),
    ({"type": "message", "client_id": "a", "text": 5}, p.CLOSE_POLICY),
    ({"type": "message", "client_id": "a", "text": "x" * (p.MAX_TEXT_CHARS + 1)},
     p.CLOSE_TOO_BIG),
    ({"type": "read", "seq": 4}, p.CLOSE_POLICY),  # beyond what was sent
    ({"type": "read", "seq": "1"}, p.CLOSE_POLICY),
    ({"type": "details", "name": 3}, p.CLOSE_POLICY),
    ({"type": "details", "name": "n" * 201}, p.CLOSE_TOO_BIG),
    ({"type": "what"}, p.CLOSE_POLICY),
])
def test_bad_frames_after_welcome_close_with_their_code(frame: dict, code: int) -> None:
    machine = opened()
    actions = machine.received(json.dumps(frame), NOW)
    assert actions == [p.Close(code, actions[0].reason)]  # type: ignore[union-attr]


def test_a_frame_while_the_token_is_checked_is_out_of_order() -> None:
    machine = p.ChatProtocol()
    machine.received('{"type": "hello"}', NOW)
    assert isinstance(machine.received('{"type": "typing"}', NOW)[0], p.Close)


@pytest.mark.parametrize(("text", "stored"), [
    ("  hello  ", "hello"),
    ("a\r\nb\rc", "a\nb\nc"),
    ("bell\x07 nul\x00 tab\t", "bell nul tab"),
])
def test_a_message_is_stored_with_its_text_cleaned(text: str, stored: str) -> None:
    machine = opened()
    frame = json.dumps({"type": "message", "client_id": "c1", "text": text})
    assert machine.received(frame, NOW) == [p.Store("c1", stored)]


def test_an_empty_message_is_an_error_the_socket_survives() -> None:
    machine = opened()
    [action] = machine.received('{"type": "message", "client_id": "c", "text": " \\u0000 "}', NOW)
    assert isinstance(action, p.Send) and action.frame["code"] == "empty"
    assert not machine.closed


def test_a_resent_client_id_is_acked_again_with_the_same_seq_and_not_stored() -> None:
    machine = opened()
    frame = json.dumps({"type": "message", "client_id": "c1", "text": "hi"})
    assert machine.received(frame, NOW) == [p.Store("c1", "hi")]
    assert machine.stored("c1", 4) == [p.Send({"type": "ack", "client_id": "c1", "seq": 4})]
    assert machine.received(frame, NOW) == [p.Send({"type": "ack", "client_id": "c1", "seq": 4})]


@pytest.mark.parametrize(("last_seq", "given", "sent"), [
    (0, [1, 2, 3], [1, 2, 3]),
    (2, [1, 2, 3], [3]),           # resume: only what follows
    (0, [3, 1, 2], [1, 2, 3]),     # order kept
    (0, [1, 3], [1]),              # a gap: stop, a later fetch brings the rest
    (3, [1, 2, 3], []),            # nothing new
    (9, [1, 2, 3], []),            # a last_seq past the newest counts as the newest
])
def test_delivery_sends_each_message_once_in_order_without_gaps(
        last_seq: int, given: list[int], sent: list[int]) -> None:
    machine = opened(last_seq)
    assert seqs(machine.deliver([message(s) for s in given])) == sent
    assert seqs(machine.deliver([message(s) for s in given])) == []  # never twice


def test_deliver_continues_after_a_gap_is_filled() -> None:
    machine = opened()
    assert seqs(machine.deliver([message(1), message(3)])) == [1]
    assert seqs(machine.deliver([message(2), message(3)])) == [2, 3]


def test_the_welcome_frame_says_what_the_widget_needs() -> None:
    machine = p.ChatProtocol()
    machine.received('{"type": "hello", "token": null, "last_seq": 0}', NOW)
    [send] = machine.welcomed(WELCOME, 0)
    assert isinstance(send, p.Send)
    assert send.frame == {"type": "welcome", "token": "t", "conversation": 7, "seq": 3,
                          "open": True, "ask": "optional", "greeting": "Hi",
                          "name": "Support", "email": None}


@pytest.mark.parametrize(("gaps", "told"), [
    ([0], 1),                      # the first time
    ([0, 1], 1),                   # again within TYPING_EVERY: nothing
    ([0, 3], 2),                   # after TYPING_EVERY: told again
])
def test_typing_is_told_at_most_every_few_seconds(gaps: list[int], told: int) -> None:
    machine = opened()
    actions = [a for gap in gaps
               for a in machine.received('{"type": "typing"}', NOW + timedelta(seconds=gap))]
    assert actions == [p.Typing()] * told


def test_read_marks_only_forward() -> None:
    machine = opened()
    machine.deliver([message(1), message(2)])
    assert machine.received('{"type": "read", "seq": 2}', NOW) == [p.MarkRead(2)]
    assert machine.received('{"type": "read", "seq": 1}', NOW) == []


@pytest.mark.parametrize(("frame", "expected"), [
    ({"type": "details", "name": "  Ann   Lee ", "email": " Ann@Example.org "},
     [p.SaveDetails("Ann Lee", "ann@example.org")]),
    ({"type": "details", "name": None, "email": ""}, [p.SaveDetails(None, None)]),
    ({"type": "details", "email": "not-an-address"},
     [p.Send({"type": "error", "code": "invalid_email",
              "message": "that is not an email address"})]),
])
def test_details(frame: dict, expected: list[p.Action]) -> None:
    assert opened().received(json.dumps(frame), NOW) == expected


def test_agents_join_once_and_their_typing_is_shown() -> None:
    machine = opened()
    assert machine.agent_present(5, "Al") == [p.Send({"type": "agent_joined", "name": "Al"})]
    assert machine.agent_present(5, "Al") == []
    assert machine.agent_typing("Al") == [p.Send({"type": "typing", "name": "Al"})]
    assert machine.conversation_closed() == [p.Send({"type": "closed"})]


def test_limits_and_tokens_close_with_their_codes() -> None:
    assert [a.code for a in opened().rate_limited(12) if isinstance(a, p.Close)] == [4429]
    machine = p.ChatProtocol()
    machine.received('{"type": "hello", "token": "x"}', NOW)
    assert [a.code for a in machine.refused_token() if isinstance(a, p.Close)] == [4401]


# ---------------------------------------------------------------- tokens

SIGNER = TokenSigner("test-secret-key-0123456789")


def test_a_token_says_who_and_which_conversation() -> None:
    visitor = new_visitor()
    token = SIGNER.issue(1, visitor, 42, NOW)
    session = SIGNER.check(token, 1, NOW + timedelta(days=1))
    assert session is not None
    assert (session.inbox_id, session.visitor, session.conversation) == (1, visitor, 42)
    assert SIGNER.check(SIGNER.issue(1, visitor, None, NOW), 1, NOW).conversation is None  # type: ignore[union-attr]


@pytest.mark.parametrize("damage", [
    lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),   # signature changed
    lambda t: ("X" if t[0] != "X" else "Y") + t[1:],                 # body changed
    lambda t: t.replace(".", ""),                                  # no signature
    lambda t: "",
    lambda t: "!!!.???",
])
def test_a_damaged_token_is_refused(damage) -> None:  # type: ignore[no-untyped-def]
    assert SIGNER.check(damage(SIGNER.issue(1, new_visitor(), 3, NOW)), 1, NOW) is None


def test_a_token_of_another_inbox_key_or_time_is_refused() -> None:
    token = SIGNER.issue(1, new_visitor(), 3, NOW)
    assert SIGNER.check(token, 2, NOW) is None
    assert TokenSigner("another-secret-key-0123456789").check(token, 1, NOW) is None
    assert SIGNER.check(token, 1, NOW + LIFETIME) is None
