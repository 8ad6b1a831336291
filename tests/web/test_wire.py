"""The body cap on the wire, against the live server: a client announcing 100 MB, or sending
chunks without end, is answered 413 without the server waiting for the rest."""

from __future__ import annotations

import http.client
import json
import select
import socket
from urllib.parse import urlsplit

import httpx
import pytest

pytestmark = pytest.mark.slow

CAP = 1024 * 1024  # the default [http] max_body_bytes


def connect(base: str) -> socket.socket:
    address = urlsplit(base)
    return socket.create_connection((address.hostname, address.port), timeout=30)


def read_response(sock: socket.socket) -> tuple[int, dict]:
    response = http.client.HTTPResponse(sock)
    response.begin()
    return response.status, json.loads(response.read())


def test_a_declared_100_mb_login_is_answered_before_its_body_is_sent(live_server):
    with connect(live_server.base) as sock:
        sock.sendall(b"POST /api/session HTTP/1.1\r\nHost: frontdesk\r\n"
                     b"Content-Type: application/json\r\n"
                     b"Content-Length: 104857600\r\n\r\n")
        status, body = read_response(sock)  # nothing of the body was sent
    assert status == 413
    assert body == {"error": {"code": "too_large",
                              "message": f"request body larger than {CAP} bytes"}}


def test_an_endless_chunked_body_is_cut_off_at_the_cap(live_server):
    chunk = b"%x\r\n%s\r\n" % (64 * 1024, b"x" * 64 * 1024)
    sent = 0
    with connect(live_server.base) as sock:
        sock.sendall(b"POST /api/session HTTP/1.1\r\nHost: frontdesk\r\n"
                     b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        try:
            while sent < 64 * CAP and not select.select([sock], [], [], 0)[0]:
                sock.sendall(chunk)
                sent += 64 * 1024
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed while we were still sending
        status, body = read_response(sock)
    assert status == 413 and body["error"]["code"] == "too_large"
    assert sent < 64 * CAP  # it answered long before the client gave up
    assert httpx.get(f"{live_server.base}/healthz").json() == {"status": "ok"}
