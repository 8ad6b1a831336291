"""Inbound email per second over SMTP: accepted and end to end, against bare aiosmtpd.

Two servers, each a real process on loopback: `frontdesk serve` on its embedded defaults
(SQLite file, in-process jobs) and `bench/bare_smtp.py`, aiosmtpd that answers `250` to every
message and keeps nothing. The same client, in this process (CONCURRENCY SMTP sessions on raw
asyncio streams, several messages per session, one command at a time), sends the same mixed
corpus (tests/connectors/email/corpus/*.eml, a fresh Message-ID on every send) to each for
the same time.

- accepted /s: `250` replies per second. For Frontdesk each `250` follows the commit of the
  raw bytes (WAL, synchronous=FULL).
- end to end /s: messages sent in the window, divided by the time from the window's start
  until the last of them is through `email.process` (parsed, threaded, conversation and
  ticket committed), read from the database files (raw mail is marked processed once
  its conversation and ticket are committed).

The bare server is measured before and after each Frontdesk run and the better rate is
that run's peer, so a disturbance on the machine does not flatter Frontdesk. There are
BENCH_ROUNDS rounds (3); the verdict is on the median ratios, since these machines swing
by tens of percent from minute to minute. Printed: each round's rates and ratios, the
median ratios against the targets (accepted >= 0.7x, end to end >= 0.5x), and the CPU
each side spent per message (Linux /proc), which bounds what the machine's cores can reach.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy.engine import make_url

from core.db import raw_store_url

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CORPUS = ROOT / "tests" / "connectors" / "email" / "corpus"
CONCURRENCY = int(os.environ.get("BENCH_SMTP_CLIENTS", "16"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "6"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
WARMUP_SECONDS = 1.0
SETTLE_TIMEOUT = 600.0
ACCEPT_TARGET, END_TO_END_TARGET = 0.7, 0.5
RECIPIENT = "support@bench.example"

_MESSAGE_ID = re.compile(rb"^Message-ID:[^\r\n]*(\r\n[ \t][^\r\n]*)*\r\n", re.I | re.M)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- the corpus


def corpus() -> list[tuple[bytes, bytes]]:
    """Each .eml as (head, rest): CRLF lines, dot-stuffed, its Message-ID taken out, so a
    send is head + a fresh Message-ID line + rest."""
    messages = []
    for path in sorted(CORPUS.glob("*.eml")):
        lines = path.read_bytes().splitlines()
        text = b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n"
                        for line in lines)
        text = _MESSAGE_ID.sub(b"", text, count=1)
        messages.append((b"", text))
    return messages


def wire_message(parts: tuple[bytes, bytes], client: int, n: int) -> bytes:
    head, rest = parts
    message_id = f"Message-ID: <bench-{client}-{n}-{uuid.uuid4().hex[:8]}@client.example>\r\n"
    return head + message_id.encode() + rest + b".\r\n"


# ---------------------------------------------------------------- the client


class Session:
    """One SMTP session on raw asyncio streams; a command at a time (no PIPELINING)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Session:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        session = cls(reader, writer)
        await session.reply(220)
        await session.command(b"EHLO bench.example", 250)
        return session

    async def reply(self, expected: int) -> None:
        while True:
            line = await self.reader.readline()
            if not line:
                raise ConnectionError("server closed the connection")
            if line[3:4] != b"-":
                break
        if int(line[:3]) != expected:
            raise RuntimeError(f"server answered {line!r}, expected {expected}")

    async def command(self, line: bytes, expected: int) -> None:
        self.writer.write(line + b"\r\n")
        await self.reply(expected)

    async def send(self, sender: bytes, message: bytes) -> None:
        await self.command(b"MAIL FROM:<" + sender + b">", 250)
        await self.command(b"RCPT TO:<" + RECIPIENT.encode() + b">", 250)
        await self.command(b"DATA", 354)
        self.writer.write(message)
        await self.reply(250)

    async def close(self) -> None:
        try:
            await self.command(b"QUIT", 221)
        finally:
            self.writer.close()


async def hammer(port: int, seconds: float, messages: list[tuple[bytes, bytes]]) -> int:
    """Send for `seconds` over CONCURRENCY sessions; returns the messages answered 250."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def one_client(client: int) -> None:
        nonlocal done
        session = await Session.open(port)
        cycle = itertools.cycle(messages[client % len(messages):] + messages)
        try:
            for n in itertools.count():
                if time.perf_counter() >= deadline:
                    break
                await session.send(f"sender{client}@client.example".encode(),
                                   wire_message(next(cycle), client, n))
                done += 1
        finally:
            await session.close()

    await asyncio.gather(*(one_client(i) for i in range(CONCURRENCY)))
    return done


# ---------------------------------------------------------------- the servers


def frontdesk_server(tmp: Path, http_port: int, smtp_port: int) -> tuple[list[str], Path]:
    database = tmp / "frontdesk.db"
    config = tmp / "bench.toml"
    config.write_text(f"""
secret_key = "benchmark-secret-key-0123456789"
[database]
url = "sqlite+aiosqlite:///{database}"
[http]
port = {http_port}
[smtp_in]
host = "127.0.0.1"
port = {smtp_port}
# One client sends everything: its limits are counted (that cost is measured), never reached.
client_connections_per_minute = 100000000
client_messages_per_minute = 100000000
[[inboxes]]
slug = "support"
name = "Support"
addresses = ["{RECIPIENT}"]
""")
    return [str(BIN / "frontdesk"), "--config", str(config), "serve"], database


async def wait_smtp(port: int, process: subprocess.Popen) -> None:
    for _ in range(300):
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            session = await Session.open(port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        await session.close()
        return
    raise RuntimeError(f"nothing takes SMTP on port {port}")


def raw_store(database: Path) -> str:
    """The file Frontdesk keeps raw mail in, beside its database."""
    return make_url(raw_store_url(f"sqlite:///{database}")).database


def raw_statuses(database: Path) -> dict[str, int]:
    with sqlite3.connect(raw_store(database), timeout=30) as db:
        return dict(db.execute("SELECT status, count(*) FROM raw_emails GROUP BY status"))


async def settled(database: Path) -> float:
    """Wait until no raw mail is pending; returns when that was seen (perf_counter)."""
    deadline = time.perf_counter() + SETTLE_TIMEOUT
    while raw_statuses(database).get("pending", 0):
        if time.perf_counter() > deadline:
            raise RuntimeError("mail still pending after the settle timeout")
        await asyncio.sleep(0.05)
    return time.perf_counter()


def counts(database: Path) -> dict[str, int]:
    with sqlite3.connect(database, timeout=30) as db:
        found = {table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                 for table in ("messages", "conversations", "tickets")}
    with sqlite3.connect(raw_store(database), timeout=30) as db:
        found["raw_emails"] = db.execute("SELECT count(*) FROM raw_emails").fetchone()[0]
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of process `pid` and the processes it started (all
    their threads), from /proc."""
    stats: dict[int, tuple[int, float]] = {}  # pid -> (parent, cpu seconds)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        stats[int(entry.name)] = (int(fields[1]),
                                  (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
    tree, total, grown = {pid}, 0.0, True
    while grown:
        grown = False
        for child, (parent, _) in stats.items():
            if parent in tree and child not in tree:
                tree.add(child)
                grown = True
    for member in tree:
        total += stats.get(member, (0, 0.0))[1]
    return total


CPU_PER_MESSAGE: dict[str, float] = {}
"""Milliseconds of CPU per message, by who spent them (filled in as the runs go)."""


async def measure_frontdesk(messages: list[tuple[bytes, bytes]], env: dict[str, str]
                            ) -> tuple[float, float, dict[str, int], dict[str, int]]:
    with tempfile.TemporaryDirectory() as tmp:
        http_port, smtp_port = free_port(), free_port()
        command, database = frontdesk_server(Path(tmp), http_port, smtp_port)
        log = Path(tmp) / "server.log"
        with log.open("w") as output:
            process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT,
                                       env=env)
        try:
            await wait_smtp(smtp_port, process)
            await hammer(smtp_port, WARMUP_SECONDS, messages)
            await settled(database)
            before = counts(database)
            server_cpu = cpu_seconds(process.pid)
            started = time.perf_counter()
            sent = await hammer(smtp_port, SECONDS, messages)
            accept_rate = sent / (time.perf_counter() - started)
            end_to_end_rate = sent / (await settled(database) - started)
            CPU_PER_MESSAGE["frontdesk"] = (cpu_seconds(process.pid) - server_cpu) / sent * 1e3
            after = counts(database)
            statuses = raw_statuses(database)
        except BaseException:
            print(log.read_text()[-5000:], file=sys.stderr)
            raise
        finally:
            process.terminate()
            process.wait(timeout=60)
    grown = {table: after[table] - before[table] for table in after}
    if grown["raw_emails"] != sent:
        raise RuntimeError(f"{sent} messages answered 250 but {grown['raw_emails']} stored")
    return accept_rate, end_to_end_rate, grown, statuses


async def measure_bare(messages: list[tuple[bytes, bytes]], env: dict[str, str]) -> float:
    port = free_port()
    process = subprocess.Popen([sys.executable, str(ROOT / "bench" / "bare_smtp.py"),
                                str(port)], stdout=subprocess.DEVNULL, env=env)
    try:
        await wait_smtp(port, process)
        await hammer(port, WARMUP_SECONDS, messages)
        server_cpu, client_cpu = cpu_seconds(process.pid), time.process_time()
        started = time.perf_counter()
        sent = await hammer(port, SECONDS, messages)
        CPU_PER_MESSAGE["bare"] = min(CPU_PER_MESSAGE.get("bare", float("inf")),
                                      (cpu_seconds(process.pid) - server_cpu) / sent * 1e3)
        CPU_PER_MESSAGE["client"] = (time.process_time() - client_cpu) / sent * 1e3
        return sent / (time.perf_counter() - started)
    finally:
        process.terminate()
        process.wait(timeout=30)


async def main() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
    messages = corpus()
    print(f"email ingest over SMTP, {CONCURRENCY} concurrent sessions, {SECONDS:.0f} s each, "
          f"{len(messages)} corpus messages, {ROUNDS} rounds (each against the better bare "
          f"run of the two around it):")
    rounds: list[dict[str, float]] = []
    bare_before = await measure_bare(messages, env)
    for number in range(1, ROUNDS + 1):
        accepted, end_to_end, grown, statuses = await measure_frontdesk(messages, env)
        bare_after = await measure_bare(messages, env)
        bare = max(bare_before, bare_after)
        cpu = CPU_PER_MESSAGE
        rounds.append({"accepted": accepted / bare, "end to end": end_to_end / bare,
                       "frontdesk cpu": cpu["frontdesk"], "bare cpu": cpu["bare"],
                       "client cpu": cpu["client"]})
        print(f"  round {number}: accepted {accepted:5.0f}/s, end to end {end_to_end:5.0f}/s, "
              f"bare {bare:5.0f}/s -> {accepted / bare:.2f}x and {end_to_end / bare:.2f}x; "
              f"{grown['raw_emails']} raw -> {grown['messages']} messages, "
              f"{grown['conversations']} conversations, {grown['tickets']} tickets, "
              f"raw now {statuses}")
        bare_before = bare_after
    median = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    print(f"  CPU per message, median (all threads and processes): frontdesk "
          f"{median['frontdesk cpu']:.2f} ms (accept and processing), bare "
          f"{median['bare cpu']:.2f} ms, the client {median['client cpu']:.2f} ms; "
          f"{os.cpu_count()} cores")
    for name, target in (("accepted", ACCEPT_TARGET), ("end to end", END_TO_END_TARGET)):
        ratio = median[name]
        verdict = "meets" if ratio >= target else "MISSES"
        print(f"  ratio {name} / bare, median: {ratio:.2f}x ({verdict} the {target}x target)")


if __name__ == "__main__":
    asyncio.run(main())
