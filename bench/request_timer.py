"""What timing every HTTP request costs: a FastAPI route called through ASGI with and without
`web.metrics.RequestTimer` (its histogram observation under the route template included).

Run: .venv/bin/python bench/request_timer.py   (also run by ``make bench``)

The route does nothing (it returns a small JSON document for a path parameter), so the
timer's cost is as large a share as it can ever be; a real route reads the database and
takes far longer. The app is called directly (no server, no socket): what is measured is the
app's own work per request. This machine is shared and noisy, so the two run interleaved,
in rounds, times summed per contender. Prints the added microseconds per request, the
ratio, and whether it is within the limit. Exits 0.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import FastAPI

from web.metrics import RequestTimer

ROUNDS = 15
REQUESTS_PER_ROUND = 2_000
RATIO_LIMIT = 1.25
"""The timed app may take at most this much longer than the bare one on an empty route."""


def make_app() -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, Any]:
        return {"id": item_id}

    return app


async def call(app: Any, item_id: int) -> int:
    """One GET through the ASGI interface; returns the status."""
    status = 0
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": f"/items/{item_id}",
             "raw_path": f"/items/{item_id}".encode(), "query_string": b"",
             "root_path": "", "headers": [(b"host", b"bench")],
             "client": ("127.0.0.1", 5000), "server": ("bench", 80)}
    await app(scope, receive, send)
    return status


async def run_round(app: Any) -> float:
    started = time.perf_counter()
    for n in range(REQUESTS_PER_ROUND):
        assert await call(app, n) == 200
    return time.perf_counter() - started


async def main() -> None:
    bare = make_app()
    timed = RequestTimer(make_app())
    await run_round(bare)  # warm both up (route compilation, first labels)
    await run_round(timed)
    totals = {"bare": 0.0, "timed": 0.0}
    for _ in range(ROUNDS):
        totals["bare"] += await run_round(bare)
        totals["timed"] += await run_round(timed)
    requests = ROUNDS * REQUESTS_PER_ROUND
    per_request = {name: total / requests * 1e6 for name, total in totals.items()}
    ratio = totals["timed"] / totals["bare"]
    print(f"bare app:  {per_request['bare']:.1f} us per request")
    print(f"timed app: {per_request['timed']:.1f} us per request "
          f"(+{per_request['timed'] - per_request['bare']:.1f} us)")
    verdict = "met" if ratio <= RATIO_LIMIT else "NOT met"
    print(f"ratio timed/bare: {ratio:.3f} (limit {RATIO_LIMIT}): {verdict}")


if __name__ == "__main__":
    asyncio.run(main())
