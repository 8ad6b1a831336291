"""Due-soon and breach are announced at their instants, once, across a restart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import server
from core import clock
from core.db import transaction
from core.jobs import ArqQueue, InProcessQueue
from inbox.messages import InboundMessage
from inbox.service import ingest_many
from sla import jobs
from sla.events import SlaBreached, SlaDueSoon
from tests.support import client_for, make_queue, run_jobs, submit_form

# Hours after the real now: on Redis, arq holds a deferred job until its instant passes on
# the wall clock (and refuses one whose instant is a day past), so the instants must lie
# ahead of it; the tests' own clock then walks over them.
T0 = (datetime.now(UTC) + timedelta(hours=6)).replace(minute=0, second=0, microsecond=0)
SETTINGS = {"mode": "always",
            "goals": {"first_response": {"minutes": 60, "due_soon_minutes": 15}}}


def record_into(runtime, seen: list) -> None:
    async def record(session, event) -> None:
        seen.append((type(event).__name__, event.goal, clock.now()))

    runtime.bus.subscribe(SlaDueSoon, record)
    runtime.bus.subscribe(SlaBreached, record)


async def scheduled_instants(runtime) -> set[datetime]:
    queue = runtime.queue
    if isinstance(queue, InProcessQueue):
        return {at for at, job_id in queue.scheduled() if job_id.startswith("sla:")}
    assert isinstance(queue, ArqQueue)
    entries = await queue.pool.zrange(runtime.settings.jobs.queue_name, 0, -1, withscores=True)
    return {datetime.fromtimestamp(score / 1000, UTC) for _, score in entries}


async def settle(runtime) -> None:
    """What a running system does by itself at this instant: due jobs, then the sweep."""
    await run_jobs(runtime)
    await jobs.sweep({"runtime": runtime})


async def set_goals(client, headers: dict[str, str], runtime) -> None:
    """Put the SLA settings of these tests in force (and the re-plan they start done)."""
    response = await client.put("/api/sla/settings", headers=headers, json=SETTINGS)
    assert response.status_code == 200
    await run_jobs(runtime)


async def test_due_soon_and_breach_at_their_instants_across_a_restart(runtime, admin):
    _, headers = admin
    seen: list = []
    manual = clock.ManualClock(T0)
    with clock.use(manual):
        async with client_for(server.create_app(runtime=runtime)) as client:
            await set_goals(client, headers, runtime)
            record_into(runtime, seen)
            await submit_form(client)
        due_soon, breach = T0 + timedelta(minutes=45), T0 + timedelta(minutes=60)
        assert {due_soon, breach} <= await scheduled_instants(runtime)

        manual.set(due_soon - timedelta(microseconds=1))
        await settle(runtime)
        assert seen == []
        manual.set(due_soon)
        await settle(runtime)
        assert seen == [("SlaDueSoon", "first_response", due_soon)]

        settings = runtime.settings
        await runtime.close()
        restarted = await server.start_runtime(settings, queue=make_queue(settings))
        try:
            record_into(restarted, seen)
            assert breach in await scheduled_instants(restarted)
            manual.set(breach - timedelta(microseconds=1))
            await settle(restarted)
            assert len(seen) == 1
            manual.set(breach)
            await settle(restarted)
            manual.set(breach + timedelta(hours=5))
            await settle(restarted)
        finally:
            await restarted.close()
    assert seen == [("SlaDueSoon", "first_response", due_soon),
                    ("SlaBreached", "first_response", breach)]


async def test_a_replan_makes_old_notices_moot(runtime, admin):
    _, headers = admin
    seen: list = []
    manual = clock.ManualClock(T0)
    with clock.use(manual):
        async with client_for(server.create_app(runtime=runtime)) as client:
            await set_goals(client, headers, runtime)
            record_into(runtime, seen)
            number = (await submit_form(client)).json()["ticket_number"]
            await client.patch(f"/api/tickets/{number}", headers=headers,
                               json={"status": "waiting_on_contact"})
            manual.set(T0 + timedelta(hours=3))
            await settle(runtime)
            assert seen == []
            await client.patch(f"/api/tickets/{number}", headers=headers,
                               json={"status": "waiting_on_us"})
            manual.set(T0 + timedelta(hours=3, minutes=45))
            await settle(runtime)
    assert seen == [("SlaDueSoon", "first_response", T0 + timedelta(hours=3, minutes=45))]


async def scheduled_notice_jobs(runtime) -> set[str]:
    queue = runtime.queue
    if isinstance(queue, InProcessQueue):
        return {job_id for _, job_id in queue.scheduled() if job_id.startswith("sla:")}
    prefix = f"{runtime.settings.jobs.queue_name}:"  # arq job ids are scoped to the queue
    entries = await queue.pool.zrange(runtime.settings.jobs.queue_name, 0, -1)
    job_ids = [entry.decode().removeprefix(prefix) for entry in entries]
    return {job_id for job_id in job_ids if job_id.startswith("sla:")}


async def test_tickets_opened_together_each_get_their_clock_and_notices(runtime, admin):
    _, headers = admin
    manual = clock.ManualClock(T0)
    with clock.use(manual):
        async with client_for(server.create_app(runtime=runtime)) as client:
            await set_goals(client, headers, runtime)
            async with transaction(runtime.sessions) as session:
                results = await ingest_many(session, [InboundMessage(
                    inbox="support", channel="email", sender_email=f"c{n}@example.org",
                    sender_name=None,
                    subject=f"Question {n}", text="Help", external_id=f"q{n}@example.org")
                    for n in range(3)])
            numbers = []
            for result in results:
                conversation = (await client.get(f"/api/conversations/{result.conversation_id}",
                                                 headers=headers)).json()
                numbers.append(conversation["ticket_id"])
            for number in numbers:
                ticket = (await client.get(f"/api/tickets/{number}", headers=headers)).json()
                [first] = ticket["sla"]
                assert first["goal"] == "first_response"
                assert datetime.fromisoformat(first["due_at"]) == T0 + timedelta(minutes=60)
    jobs_scheduled = await scheduled_notice_jobs(runtime)
    assert len(jobs_scheduled) == 6  # due-soon and breach for each of the three clocks
    assert len({job_id.split(":")[1] for job_id in jobs_scheduled}) == 3
