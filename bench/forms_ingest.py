"""Form submissions per second, end to end, against a bare FastAPI endpoint.

Both servers run as real uvicorn processes on loopback; the same client (a lean
keep-alive HTTP/1.1 client on raw asyncio streams, CONCURRENCY connections) posts the same
JSON submissions to each for the same time. Frontdesk runs on its embedded defaults
(SQLite file, in-process jobs): each submission validates, commits contact, conversation,
message, ticket and history, and answers 201 with the ticket number.
Printed: both rates and their ratio.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx  # readiness probe only

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CONCURRENCY = 16
SECONDS = float(os.environ.get("BENCH_SECONDS", "6"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def frontdesk_server(tmp: Path, port: int) -> list[str]:
    config = tmp / "bench.toml"
    config.write_text(f"""
secret_key = "benchmark-secret-key-0123456789"
[database]
url = "sqlite+aiosqlite:///{tmp / 'frontdesk.db'}"
[http]
port = {port}
[smtp_in]
enabled = false
[[inboxes]]
slug = "support"
name = "Support"
[[forms]]
slug = "contact"
inbox = "support"
title = "Contact"
rate_limit_per_minute = 100000000
""")
    return [str(BIN / "frontdesk"), "--config", str(config), "serve"]


def bare_server(port: int) -> list[str]:
    return [str(BIN / "uvicorn"), "--app-dir", str(ROOT / "bench"), "bare_app:app",
            "--port", str(port), "--log-level", "warning", "--no-access-log"]


async def wait_ready(base: str, process: subprocess.Popen) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}")
            try:
                if (await client.get(f"{base}/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    raise RuntimeError("server did not start")


def submission(worker: int, n: int) -> bytes:
    body = json.dumps({"name": f"Customer {worker}", "email": f"c{worker}-{n}@example.org",
                       "subject": f"Question {n}",
                       "message": "Hello, my order has not arrived. " * 5}).encode()
    head = ("POST /forms/contact HTTP/1.1\r\nHost: bench\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    return head + body


async def read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)
    return status


async def hammer(port: int, seconds: float) -> int:
    """Submit for `seconds` over CONCURRENCY keep-alive connections; returns successes."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def one_client(worker: int) -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        n = 0
        try:
            while time.perf_counter() < deadline:
                n += 1
                writer.write(submission(worker, n))
                status = await read_response(reader)
                if status != 201:
                    raise RuntimeError(f"server answered {status}")
                done += 1
        finally:
            writer.close()

    await asyncio.gather(*(one_client(i) for i in range(CONCURRENCY)))
    return done


async def measure(command: list[str], port: int, env: dict[str, str]) -> float:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(base, process)
        await hammer(port, 1.0)
        started = time.perf_counter()
        count = await hammer(port, SECONDS)
        return count / (time.perf_counter() - started)
    finally:
        process.terminate()
        process.wait(timeout=30)


async def main() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        frontdesk_rate = await measure(frontdesk_server(Path(tmp), port), port, env)
    port = free_port()
    bare_rate = await measure(bare_server(port), port, env)
    print(f"forms ingest, {CONCURRENCY} concurrent clients, {SECONDS:.0f} s each, same run:")
    print(f"  frontdesk end to end (SQLite, commit before 201): {frontdesk_rate:7.0f} /s")
    print(f"  bare FastAPI endpoint answering 201:              {bare_rate:7.0f} /s")
    print(f"  ratio frontdesk / bare: {frontdesk_rate / bare_rate:.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
