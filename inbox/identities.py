"""Who wrote: the contact of each sender of a batch, decided without I/O.

A sender is known by what its channel says of it: an identity (the channel's own id of
the person, e.g. ("slack", "slack:T123:U456") or ("chat", "webchat:3:<visitor>")) and/or
an email address. `plan` takes the senders of a batch in order and the facts gathered for
them (the identities stored, the contacts they and the addresses name) and decides, for
each, the contact it is, in these rules:

1. A stored identity names its contact; that contact is the sender, whatever address the
   message gives (an identity is the stronger key: a Slack user keeps their id when their
   address changes).
   - When that contact has no address yet and the message gives one nobody has, the
     contact gets it.
   - When that contact has no address and the message gives one of another contact, the
     sender is that other contact: the identity moves to it, and the contact without an
     address (which only this identity could reach) is folded into it (`moved`: its
     conversations and messages go to the other). A web-chat visitor who says who they
     are mid-chat so joins the customer already known by that address.
2. Otherwise an address of a contact names it, and the identity (when given) is linked to
   that contact.
3. Otherwise the sender is a new contact (with the address, when given), the identity
   linked to it. Senders with the same identity or address share one new contact; a
   sender with neither is a new contact of its own.

Each sender sees what the senders before it in the batch did.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

IdentityKey = tuple[str, str]
"""(channel, the channel's id of the person)."""


@dataclass(frozen=True)
class Sender:
    """What a message says of who wrote it (the address lower-cased)."""

    identity: IdentityKey | None
    email: str | None


@dataclass(frozen=True)
class Facts:
    """What is stored: the contact of each identity asked for, and the address (None:
    none) of every contact those identities and the senders' addresses name."""

    identities: Mapping[IdentityKey, int]
    emails: Mapping[int, str | None]


@dataclass(frozen=True, order=True)
class NewContact:
    """The contact at `place` in `ContactPlan.new`."""

    place: int


ContactRef = int | NewContact


@dataclass
class ContactPlan:
    """What to write: `contacts` (one per sender, in order), the `new` contacts to make
    (their addresses), the addresses existing contacts learn, the identities to store or
    move (`links`), and the contacts without an address folded into another (`moved`)."""

    contacts: list[ContactRef] = field(default_factory=list)
    new: list[str | None] = field(default_factory=list)
    emails: dict[int, str] = field(default_factory=dict)
    links: dict[IdentityKey, ContactRef] = field(default_factory=dict)
    moved: dict[int, ContactRef] = field(default_factory=dict)


@dataclass
class _State:
    identities: dict[IdentityKey, ContactRef]
    email_of: dict[ContactRef, str | None]
    by_email: dict[str, ContactRef]
    plan: ContactPlan = field(default_factory=ContactPlan)
    folded: dict[ContactRef, ContactRef] = field(default_factory=dict)

    def new(self, email: str | None) -> NewContact:
        ref = NewContact(len(self.plan.new))
        self.plan.new.append(email)
        self.email_of[ref] = email
        if email:
            self.by_email[email] = ref
        return ref

    def give_email(self, ref: ContactRef, email: str) -> None:
        self.email_of[ref] = email
        self.by_email[email] = ref
        if isinstance(ref, NewContact):
            self.plan.new[ref.place] = email
        else:
            self.plan.emails[ref] = email

    def link(self, identity: IdentityKey | None, ref: ContactRef) -> None:
        if identity is not None:
            self.identities[identity] = ref
            self.plan.links[identity] = ref


def _one(state: _State, sender: Sender) -> ContactRef:
    """The contact of one sender, by the rules of the module docstring."""
    known = state.identities.get(sender.identity) if sender.identity else None
    email = sender.email
    if known is not None:
        if not email or state.email_of.get(known):
            return known
        other = state.by_email.get(email)
        if other is None or other == known:
            state.give_email(known, email)
            return known
        state.link(sender.identity, other)
        state.folded[known] = other
        return other
    ref = state.by_email.get(email) if email else None
    if ref is None:
        ref = state.new(email)
    state.link(sender.identity, ref)
    return ref


def plan(senders: Sequence[Sender], facts: Facts) -> ContactPlan:
    """The contacts of `senders`, in order, and what to write for them (see the module
    docstring for the rules)."""
    state = _State(identities=dict(facts.identities),
                   email_of={contact: email for contact, email in facts.emails.items()},
                   by_email={email: contact for contact, email in facts.emails.items()
                             if email})
    contacts = [_one(state, sender) for sender in senders]
    return _settled(state.plan, state.folded, contacts)


def _settled(raw: ContactPlan, moved: Mapping[ContactRef, ContactRef],
             contacts: list[ContactRef]) -> ContactPlan:
    """`raw` with every contact folded into another (`moved`) replaced by that one, and
    the new contacts nobody ends up on left out (one folded within the batch)."""

    def final(ref: ContactRef) -> ContactRef:
        while ref in moved:
            ref = moved[ref]
        return ref

    resolved = [final(ref) for ref in contacts]
    links = {key: final(ref) for key, ref in raw.links.items()}
    kept = sorted({ref for ref in [*resolved, *links.values()] if isinstance(ref, NewContact)})
    renumber = {old: NewContact(place) for place, old in enumerate(kept)}

    def renumbered(ref: ContactRef) -> ContactRef:
        return renumber[ref] if isinstance(ref, NewContact) else ref

    return ContactPlan(
        contacts=[renumbered(ref) for ref in resolved],
        new=[raw.new[old.place] for old in kept],
        emails={contact: email for contact, email in raw.emails.items()
                if contact not in moved},
        links={key: renumbered(ref) for key, ref in links.items()},
        moved={old: renumbered(final(old)) for old in moved if isinstance(old, int)})
