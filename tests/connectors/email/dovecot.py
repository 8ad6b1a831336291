"""A private Dovecot IMAP server for tests, on a free loopback port.

`dovecot_server` (fixture `dovecot`, one per test session) writes a throwaway configuration
into a temporary directory, starts `dovecot -c <conf>`, and stops it with `doveadm -c <conf>
stop` at the end. Every user name logs in with the session's one password (a static passdb:
a passwd-file is re-read only when its mtime changes, which misses users added within the
same second), and has a maildir of its own. Tests get a fresh account from `imap_account`
(fixture `account`) and talk to the server with plain `imaplib`, as "another client" would:
APPEND to seed mail, STORE to mark it seen. The server also speaks TLS, on `ssl_port` and by
STARTTLS on `port`, with a self-signed certificate for 127.0.0.1 that `ca_file` trusts.

Tests that use it are skipped when Dovecot is not installed or the run is not root (Dovecot
switches to the `nobody` user to store mail).
"""

from __future__ import annotations

import imaplib
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import make_certificate

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
DOVEADM = shutil.which("doveadm") or "/usr/bin/doveadm"
START_SECONDS = 10.0

CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
ssl = yes
ssl_cert = <{root}/tls.pem
ssl_key = <{root}/tls.key
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {ssl_port}
    ssl = yes
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
first_valid_uid = 1
default_internal_user = dovecot
default_login_user = dovenull
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Dovecot:
    """A running private Dovecot and what a test needs to seed and inspect its mail."""

    root: Path
    port: int
    ssl_port: int
    password: str
    host: str = "127.0.0.1"

    @property
    def ca_file(self) -> str:
        """The authority that trusts the server's certificate (it is self-signed)."""
        return str(self.root / "tls.pem")

    @property
    def config(self) -> Path:
        return self.root / "dovecot.conf"

    @property
    def pid_file(self) -> Path:
        return self.root / "run" / "master.pid"

    def add_user(self) -> tuple[str, str]:
        """A new account with an empty mailbox; returns (username, password)."""
        return f"u{secrets.token_hex(5)}", self.password

    def connect(self, username: str, password: str) -> imaplib.IMAP4:
        client = imaplib.IMAP4(self.host, self.port, timeout=10)
        client.login(username, password)
        return client

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def maildir(self, username: str) -> Path:
        return self.root / "mail" / username


class Account:
    """One test's IMAP account, seen from "another client" (a second imaplib connection)."""

    def __init__(self, server: Dovecot, username: str, password: str) -> None:
        self.server, self.username, self.password = server, username, password

    def _session(self) -> imaplib.IMAP4:
        return self.server.connect(self.username, self.password)

    def create(self, folder: str) -> None:
        client = self._session()
        try:
            assert client.create(folder)[0] == "OK"
        finally:
            client.logout()

    def delete(self, folder: str) -> None:
        client = self._session()
        try:
            assert client.delete(folder)[0] == "OK"
        finally:
            client.logout()

    def append(self, raw: bytes, folder: str = "INBOX") -> tuple[int, int]:
        """APPEND `raw`; returns (UIDVALIDITY, UID) from the server's APPENDUID."""
        client = self._session()
        try:
            typ, data = client.append(folder, None, None, raw)
        finally:
            client.logout()
        assert typ == "OK", data
        found = re.search(rb"APPENDUID (\d+) (\d+)", data[0])
        assert found, data
        return int(found.group(1)), int(found.group(2))

    def mark_seen(self, uid: int, folder: str = "INBOX") -> None:
        client = self._session()
        try:
            client.select(folder)
            assert client.uid("STORE", str(uid), "+FLAGS", r"(\Seen)")[0] == "OK"
        finally:
            client.logout()

    def flags(self, folder: str = "INBOX") -> dict[int, set[str]]:
        """UID -> flags of every message in `folder` (read-only, nothing changes)."""
        client = self._session()
        try:
            typ, data = client.select(folder, readonly=True)
            assert typ == "OK", data
            typ, data = client.uid("FETCH", "1:*", "(UID FLAGS)")
        finally:
            client.logout()
        found: dict[int, set[str]] = {}
        for line in data:
            if not isinstance(line, bytes):
                continue
            uid = re.search(rb"UID (\d+)", line)
            flags = re.search(rb"FLAGS \(([^)]*)\)", line)
            if uid and flags:
                found[int(uid.group(1))] = set(flags.group(1).decode().split())
        return found

    def uidvalidity(self, folder: str = "INBOX") -> int:
        client = self._session()
        try:
            typ, data = client.status(folder, "(UIDVALIDITY)")
        finally:
            client.logout()
        assert typ == "OK", data
        found = re.search(rb"UIDVALIDITY (\d+)", data[0])
        assert found, data
        return int(found.group(1))


def start_dovecot() -> Dovecot:
    """Start a private Dovecot from a configuration in a new temporary directory."""
    if not os.path.exists(DOVECOT):
        pytest.skip("Dovecot is not installed (apt-get install -y dovecot-imapd)")
    if os.geteuid() != 0:
        pytest.skip("the private Dovecot needs root: it stores mail as the user nobody")
    # Not under pytest's tmp_path: its parents are private to root, and Dovecot's mail
    # processes run as nobody.
    root = Path(tempfile.mkdtemp(prefix="frontdesk-dovecot-"))
    root.chmod(0o755)
    for name in ("run", "state", "mail", "home"):
        (root / name).mkdir()
    shutil.chown(root / "mail", "nobody", "nogroup")
    shutil.chown(root / "home", "nobody", "nogroup")
    server = Dovecot(root=root, port=free_port(), ssl_port=free_port(),
                     password=secrets.token_hex(8))
    make_certificate(root, "tls")
    server.config.write_text(
        CONFIG.format(root=root, port=server.port, ssl_port=server.ssl_port,
                      password=server.password), encoding="ascii")
    # Output to a file, not a pipe: the daemon keeps its inherited descriptors open, and a
    # pipe would never reach end-of-file.
    start_log = root / "start.log"
    with start_log.open("w") as output:
        started = subprocess.run([DOVECOT, "-c", str(server.config)], stdin=subprocess.DEVNULL,
                                 stdout=output, stderr=subprocess.STDOUT)
    if started.returncode != 0:
        message = start_log.read_text(errors="replace")
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"dovecot did not start: {message}")
    deadline = time.monotonic() + START_SECONDS
    while True:
        try:
            with socket.create_connection((server.host, server.port), timeout=1):
                pass
            if server.pid_file.exists():
                return server
        except OSError:
            pass
        if time.monotonic() > deadline:
            stop_dovecot(server)
            raise RuntimeError(f"dovecot is not listening: {server.log()}")
        time.sleep(0.05)


def stop_dovecot(server: Dovecot) -> None:
    subprocess.run([DOVEADM, "-c", str(server.config), "stop"], stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + START_SECONDS
    while server.pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture(scope="session", name="dovecot")
def dovecot_server() -> Iterator[Dovecot]:
    """The test session's private Dovecot."""
    server = start_dovecot()
    try:
        yield server
    finally:
        stop_dovecot(server)


@pytest.fixture(name="account")
def imap_account(dovecot: Dovecot) -> Account:
    """A fresh IMAP account of this test's own."""
    return Account(dovecot, *dovecot.add_user())
