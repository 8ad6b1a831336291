"""TLS for the mail servers we connect to (IMAP mailboxes, the outbound relay)."""

from __future__ import annotations

import ssl


def client_context(ca_file: str = "") -> ssl.SSLContext:
    """A client context that checks the server's certificate and host name, against the
    certificate authorities in `ca_file` (PEM) when given, else the system's."""
    return ssl.create_default_context(cafile=ca_file or None)
