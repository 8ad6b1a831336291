"""How every Frontdesk process writes its log: `[logging]` settings applied to the root logger.

`log_format = "text"` (the default) writes lines for people; `"json"` writes one JSON object
per line, for a log collector: `time` (UTC, ISO 8601), `level`, `logger`, `message`, then
every field a call passed in `extra` (e.g. an inbound message's `outcome`, `raw_id`,
`message_id`, `conversation_id`, `inbox`), and `exception` with the traceback when there is
one. uvicorn's own loggers are left unconfigured by `frontdesk serve` and so write through
the same handler.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from core.settings import LoggingSettings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

_STANDARD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime", "taskName", "color_message"}
"""What every LogRecord carries (and uvicorn's terminal colours); anything else on a record
came from `extra`."""


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a logging call passed in `extra`, in the order they were set."""
    return {key: value for key, value in vars(record).items()
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines in values are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in extra_fields(record).items():
            document.setdefault(key, value)
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            document["exception"] = record.exc_text
        if record.stack_info:
            document["stack"] = self.formatStack(record.stack_info)
        return json.dumps(document, default=str, ensure_ascii=False)


def formatter_for(settings: LoggingSettings) -> logging.Formatter:
    """The formatter `settings.log_format` names."""
    return JsonFormatter() if settings.log_format == "json" else logging.Formatter(TEXT_FORMAT)


def configure_logging(settings: LoggingSettings) -> None:
    """Send every logger's records (those of libraries too) to standard error, at
    `settings.level` and in `settings.log_format`, replacing handlers set before."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter_for(settings))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.level)
