"""The writer of contacts and their identities: the facts gathered, `identities.plan`
deciding, the plan written.

`contacts_for_all` gives the contact of each sender of an ingest batch (a couple of
queries for the whole batch, then a statement per table); `tell` is what a sender says of
themselves outside a message (a chat visitor leaving their name and email mid-chat).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.db import insert_rows
from inbox import identities
from inbox.identities import ContactRef, IdentityKey, NewContact
from inbox.messages import InboundMessage
from inbox.models import SORT_TEXT_CHARS, Contact, ContactIdentity, Conversation, Message


@dataclass(frozen=True)
class Said:
    """What a sender tells of themselves: who (identity, address) and details."""

    identity: IdentityKey | None
    email: str | None
    name: str | None = None
    phone: str | None = None
    company: str | None = None

    @classmethod
    def of(cls, msg: InboundMessage) -> Said:
        """What the message `msg` tells of its sender (the address lower-cased)."""
        return cls(identity=(msg.channel, msg.sender_identity[:255])
                   if msg.sender_identity else None,
                   email=clean_email(msg.sender_email), name=msg.sender_name,
                   phone=msg.sender_phone, company=msg.sender_company)


def clean_email(email: str | None) -> str | None:
    """An address as contacts keep it: trimmed, lower-cased (None for none)."""
    return email.strip().lower()[:254] or None if email else None


@dataclass(frozen=True)
class _Gathered:
    facts: identities.Facts
    contacts: dict[int, Contact]


async def _gather(session: AsyncSession, said: Sequence[Said]) -> _Gathered:
    """The stored identities of the senders and the contacts they and the addresses name."""
    keys = {one.identity for one in said if one.identity}
    emails = {one.email for one in said if one.email}
    linked: dict[IdentityKey, int] = {}
    if keys:
        rows = await session.execute(
            select(ContactIdentity.channel, ContactIdentity.external_id,
                   ContactIdentity.contact_id)
            .where(ContactIdentity.external_id.in_({external for _, external in keys})))
        linked = {(channel, external): contact for channel, external, contact in rows
                  if (channel, external) in keys}
    found: dict[int, Contact] = {}
    if linked or emails:
        wanted = [Contact.id.in_(set(linked.values()))] if linked else []
        wanted += [Contact.email.in_(emails)] if emails else []
        found = {contact.id: contact for contact in
                 (await session.scalars(select(Contact).where(or_(*wanted)))).all()}
    return _Gathered(identities.Facts(
        identities={key: contact for key, contact in linked.items() if contact in found},
        emails={contact.id: contact.email for contact in found.values()}), found)


def _fill_in(contact: Contact, one: Said) -> bool:
    """What we did not know of a contact and the sender tells; True when it learnt a name."""
    named = contact.name is None and bool(one.name)
    contact.name = contact.name or one.name
    contact.phone = contact.phone or one.phone
    contact.company = contact.company or one.company
    return named


def _new_rows(plan: identities.ContactPlan, said: Sequence[Said],
              now: datetime) -> list[dict[str, Any]]:
    """The rows of the new contacts, each with the details its senders told first."""
    rows: list[dict[str, Any]] = [{"email": email, "name": None, "phone": None,
                                   "company": None, "created_at": now} for email in plan.new]
    for ref, one in zip(plan.contacts, said, strict=True):
        if isinstance(ref, NewContact):
            row = rows[ref.place]
            for column, value in (("name", one.name), ("phone", one.phone),
                                  ("company", one.company)):
                row[column] = row[column] or value
    return rows


async def _write(session: AsyncSession, plan: identities.ContactPlan, said: Sequence[Said],
                 gathered: _Gathered, now: datetime) -> list[int]:
    """Write `plan`; the contact id of each sender."""
    new_ids = await insert_rows(session, Contact, _new_rows(plan, said, now))

    def id_of(ref: ContactRef) -> int:
        return new_ids[ref.place] if isinstance(ref, NewContact) else ref

    changed = set(plan.emails) | {id_of(ref) for ref in plan.moved.values()}
    for contact_id, email in plan.emails.items():
        gathered.contacts[contact_id].email = email
    for ref, one in zip(plan.contacts, said, strict=True):
        if isinstance(ref, int) and _fill_in(gathered.contacts[ref], one):
            changed.add(ref)
    await _link(session, plan, gathered.facts, id_of, now)
    await _fold(session, {old: id_of(new) for old, new in plan.moved.items()})
    if changed:
        await session.flush()
        await write_contact_keys(session, Conversation.contact_id.in_(changed))
    return [id_of(ref) for ref in plan.contacts]


async def _link(session: AsyncSession, plan: identities.ContactPlan, facts: identities.Facts,
                id_of: Callable[[ContactRef], int], now: datetime) -> None:
    """Store the identities the plan links, and move those it links elsewhere."""
    fresh = [{"channel": channel, "external_id": external, "contact_id": id_of(ref),
              "created_at": now} for (channel, external), ref in plan.links.items()
             if (channel, external) not in facts.identities]
    if fresh:
        await session.execute(insert(ContactIdentity.__table__), fresh)
    for (channel, external), ref in plan.links.items():
        if (channel, external) in facts.identities and facts.identities[
                (channel, external)] != id_of(ref):
            await session.execute(update(ContactIdentity).where(
                ContactIdentity.channel == channel, ContactIdentity.external_id == external)
                .values(contact_id=id_of(ref)).execution_options(synchronize_session=False))


async def _fold(session: AsyncSession, moved: dict[int, int]) -> None:
    """Give the conversations and messages of each contact folded into another to it."""
    for old, new in moved.items():
        for model in (Conversation, Message):
            await session.execute(update(model).where(model.contact_id == old)
                                  .values(contact_id=new)
                                  .execution_options(synchronize_session="fetch"))


async def contacts_for_all(session: AsyncSession, msgs: Sequence[InboundMessage],
                           now: datetime) -> list[int]:
    """The contact id of each message's sender, by their channel identity first, then
    their address (`inbox.identities`): contacts that are new made together, identities
    linked, what the messages tell of known contacts filled in. In the caller's
    transaction; a concurrent writer of the same identity or address surfaces as
    IntegrityError (the caller retries)."""
    said = [Said.of(msg) for msg in msgs]
    gathered = await _gather(session, said)
    plan = identities.plan([identities.Sender(one.identity, one.email) for one in said],
                           gathered.facts)
    return await _write(session, plan, said, gathered, now)


async def tell(session: AsyncSession, channel: str, sender_identity: str,
               name: str | None, email: str | None) -> int | None:
    """A sender known by `sender_identity` on `channel` told their name and/or email
    outside a message: the contact of that identity learns them, as a message of theirs
    carrying them would teach it (an address of another contact makes the sender that
    contact). The contact's id; None when the identity has no contact yet (they have not
    written: their first message will carry what they told)."""
    one = Said(identity=(channel, sender_identity[:255]), email=clean_email(email),
               name=name)
    gathered = await _gather(session, [one])
    if one.identity not in gathered.facts.identities:
        return None
    plan = identities.plan([identities.Sender(one.identity, one.email)], gathered.facts)
    [contact_id] = await _write(session, plan, [one], gathered, clock.now())
    return contact_id


async def write_contact_keys(session: AsyncSession, which: ColumnElement[bool], *,
                             fresh: bool = False) -> None:
    """`sort_contact` of the conversations `which` selects, from their contacts. `fresh`:
    rows just inserted, which no object of the session stands for (one left over from a
    rolled-back savepoint with the same id must not be touched)."""
    name = (select(func.substr(func.coalesce(Contact.name, Contact.email, ""), 1,
                               SORT_TEXT_CHARS))
            .where(Contact.id == Conversation.contact_id).scalar_subquery())
    await session.execute(update(Conversation).where(which)
                          .values(sort_contact=func.coalesce(name, ""))
                          .execution_options(synchronize_session=False if fresh else "fetch"))
