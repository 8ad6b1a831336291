"""docs/inbox.png, the README's picture of the inbox: a real server on a fresh database with
a morning's demo mail, shown in Chromium at 1280 px to an agent who is logged in.

Run from the top folder: .venv/bin/python -m docs.screenshot
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import server
from accounts.models import User
from core import clock
from core.db import transaction
from core.migrations import upgrade
from core.runtime import Runtime
from inbox import service as inbox
from inbox.access import visible_inboxes
from inbox.messages import InboundMessage
from sla.service import save_policy
from tests.support import add_to_inbox, add_user, make_queue, make_settings
from tests.web.site import chromium, logged_in_page, serving
from tickets import service as tickets
from tickets.queries import tickets_of_conversations
from tickets.view_rules import ViewFilters
from tickets.views import ViewDraft, create_view, person_of

TARGET = Path(__file__).parent / "inbox.png"
NOW = datetime(2026, 3, 2, 11, 30, tzinfo=UTC)
# (minutes ago, channel, name, email, company, subject, text, owner, priority)
MAIL = [
    (8, "email", "Anna Berg", "anna@fjord.example", "Fjord AB", "Invoice counts VAT twice",
     "Hello, the March invoice counts VAT twice. Could you send a corrected one before "
     "Friday?", None, "high"),
    (21, "chat", "Bo Brûlé", "bo@acme.example", "Acme", "Printer on fire after update",
     "It started smoking right after the firmware update. Is that covered by the warranty?",
     "Maya Lind", "urgent"),
    (35, "form", "Cy Young", "cy@example.net", None, "Cannot log in",
     "The password reset mail never arrives. I checked the spam folder twice.", None,
     "medium"),
    (52, "slack", "Dana Novak", "dana@globex.example", "Globex", "Export to CSV cuts rows",
     "Exports stop at 10,000 rows, we have 14,000 contacts. Is there a limit?", "Tom Reyes",
     "medium"),
    (75, "email", "Eli Okafor", "eli@initech.example", "Initech", "Renewal quote for 40 seats",
     "We would like a quote for renewing 40 seats, billed yearly.", "Maya Lind", "low"),
    (130, "email", "Femi Silva", "femi@example.org", None, "Refund for duplicate charge",
     "My card was charged twice for order 7731. Please refund one of them.", None, "high"),
    (190, "chat", "Hana Tanaka", "hana@umbrella.example", "Umbrella", "Webhook retries",
     "Our endpoint was down for an hour; will the webhooks be sent again?", "Tom Reyes",
     "medium"),
    (260, "email", "Ivo Rossi", "ivo@example.it", None, "Tracking number missing",
     "The shipping confirmation has no tracking number. Order 7802.", None, "medium"),
    (400, "form", "Jun Moreau", "jun@hooli.example", "Hooli", "SSO certificate expires",
     "Our SAML certificate expires next week; how do we upload the new one?", "Maya Lind",
     "high"),
    (600, "email", "Kai Jensen", "kai@example.dk", None, "Thanks, all working now",
     "The sync works again after the update. Thanks for the quick help!", "Tom Reyes", "low"),
]


async def demo(runtime: Runtime) -> None:
    agents = {}
    for name in ("Maya Lind", "Tom Reyes"):
        email = name.split()[0].lower() + "@frontdesk.example"
        agents[name], _ = await add_user(runtime, email, "agent", name)
    await add_to_inbox(runtime, "support", user_ids=tuple(agents.values()))
    async with transaction(runtime.sessions) as session:  # goals every ticket runs against
        await save_policy(session, {"goals": {"first_response": {"minutes": 30},
                                              "close": {"minutes": 480}}}, actor=None)
    # Oldest first, as time runs: the SLA clocks are planned from each moment in turn.
    for minutes, channel, name, email, company, subject, text, owner, priority in reversed(MAIL):
        message = InboundMessage(inbox="support", channel=channel, sender_email=email,
                                 sender_name=name, sender_company=company, subject=subject,
                                 text=text, external_id=f"{uuid.uuid4().hex}@example.org")
        with clock.use(clock.ManualClock(NOW - timedelta(minutes=minutes))):
            async with transaction(runtime.sessions) as session:
                conversation_id = (await inbox.ingest(session, message)).conversation_id
                if owner:
                    await inbox.set_owner(session, conversation_id, agents[owner],
                                          actor_id=agents[owner], cause="agent")
                ticket = (await tickets_of_conversations(session, [conversation_id]))[
                    conversation_id]
                await tickets.update_ticket(session, ticket.id, {"priority": priority},
                                            actor_id=agents["Maya Lind"], cause="agent")
    mentioned = conversation_id  # the newest
    with clock.use(clock.ManualClock(NOW - timedelta(minutes=5))):
        async with transaction(runtime.sessions) as session:
            maya = await session.get(User, agents["Maya Lind"])
            assert maya is not None
            await create_view(session, await person_of(session, maya),
                              await visible_inboxes(session, maya),
                              ViewDraft("Urgent, mine", "private", None,
                                        ViewFilters(owner_id="me", priority="urgent")))
            await inbox.add_agent_message(  # a colleague asks Maya: her bell shows it
                session, mentioned, author_id=agents["Tom Reyes"], kind="comment",
                text="@maya did this customer write in before?")


async def shoot(database_url: str) -> None:
    settings = make_settings(database_url)
    runtime = await Runtime.start(settings, install=server.install, queue=make_queue(settings))
    try:
        await server.prepare_database(runtime)
        await demo(runtime)
        with clock.use(clock.ManualClock(NOW)):
            async with serving(runtime) as base, chromium() as browser:
                page = await logged_in_page(browser, base, "maya@frontdesk.example")
                await page.set_viewport_size({"width": 1280, "height": 760})
                await page.screenshot(path=str(TARGET))
    finally:
        await runtime.close()


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        database_url = f"sqlite+aiosqlite:///{Path(folder) / 'frontdesk.db'}"
        upgrade(database_url)
        # The server's own jobs (SLA sweeps) live at the same moment as the pages.
        with clock.use(clock.ManualClock(NOW)):
            asyncio.run(shoot(database_url))
    print(f"wrote {TARGET} ({TARGET.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
