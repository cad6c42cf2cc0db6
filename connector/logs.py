"""Logging: readable lines on a terminal, one JSON object per line elsewhere (containers).

Nothing meetbridge logs contains a key: clients hold keys only inside their request headers.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        sync = getattr(record, "sync", None)
        if isinstance(sync, dict):
            entry.update({k: v for k, v in sync.items() if v is not None})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(level: str = "WARNING", *, json_output: bool | None = None) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if json_output is None:
        json_output = not sys.stderr.isatty()
    handler.setFormatter(
        JsonFormatter() if json_output else logging.Formatter("%(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs every request at INFO, which would drown the sync's own lines.
    logging.getLogger("httpx").setLevel(logging.WARNING)
