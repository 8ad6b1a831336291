"""The peer for bench/email_ingest.py: aiosmtpd that accepts every message and discards it.

Same protocol options as Frontdesk's inbound server (size limit, SMTPUTF8, host name), on
uvloop like `frontdesk serve`; its DATA hook answers `250` at once.

    python bench/bare_smtp.py PORT
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from typing import Any

from aiosmtpd.smtp import SMTP


class Discard:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 2.0.0 Ok: discarded"


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    handler = Discard()
    hostname = socket.gethostname()
    listener = await loop.create_server(
        lambda: SMTP(handler, data_size_limit=25 * 1024 * 1024, enable_SMTPUTF8=True,
                     hostname=hostname, ident="Bare ESMTP", loop=loop),
        "127.0.0.1", port)
    async with listener:
        await listener.serve_forever()


def main() -> None:
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(int(sys.argv[1])))
    else:
        uvloop.run(serve(int(sys.argv[1])))


if __name__ == "__main__":
    main()
