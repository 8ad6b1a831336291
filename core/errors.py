"""Frontdesk's one exception tree, translated to HTTP / SMTP answers at the edges.

    FrontdeskError
    ├── UserError            bad input or a refused request: a clear message, a 4xx
    │   ├── InvalidInput     422, names the field
    │   ├── Unauthenticated  401
    │   ├── Forbidden        403
    │   ├── NotFound         404
    │   ├── Conflict         409
    │   └── RateLimited      429
    ├── ConfigError          the configuration file or environment is wrong; fails at start
    ├── ListenError          a port to serve on cannot be had (in use); fails at start
    └── SystemFault          our side failed (storage down, a peer refused); logged and retried

User errors carry a stable `code` for programs and a `message` for people.
"""

from __future__ import annotations


class FrontdeskError(Exception):
    """Root of every error Frontdesk raises on purpose."""


class UserError(FrontdeskError):
    """A request the caller can fix; maps to a 4xx answer."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code


class InvalidInput(UserError):
    status = 422
    code = "invalid"


class Unauthenticated(UserError):
    status = 401
    code = "unauthenticated"


class Forbidden(UserError):
    status = 403
    code = "forbidden"


class NotFound(UserError):
    status = 404
    code = "not_found"


class Conflict(UserError):
    status = 409
    code = "conflict"


class RateLimited(UserError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class ConfigError(FrontdeskError):
    """The configuration cannot be used; the message names the key."""


class ListenError(FrontdeskError):
    """A socket to serve on cannot be bound; the message names the protocol, host and port."""


class SystemFault(FrontdeskError):
    """Something on our side failed; the operation may be retried."""
