"""The server's logging: uvicorn's and ours through one handler, as text or JSON lines.

:func:`log_config` is the ``logging.config.dictConfig`` of every server process (the one
process, each front and the writer; ``http/run.py``). Rules it keeps:

- uvicorn's access logger is off: it prints the client address (design principle 4).
- Each record is printed once. ``uvicorn`` and ``crashveil`` have the one handler and do not
  propagate to the root logger (which may have handlers of its own, e.g. an embedding app's).
  A process serving two listeners runs two uvicorn servers, and each logs its process's
  "Started server process", "Shutting down" and "Finished server process": the
  :class:`OncePerProcess` filter lets the first of each through and drops the repeat.
- ``json`` (the ``log_format`` setting, ``server run --log-format json``): one JSON object per
  line with the time (UTC), level, logger, process name and id and the message; for
  journald or a log shipper. The message is what the code logged: our log lines carry route
  templates, error codes and type names, never report content or client addresses.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime
from typing import Any

__all__ = ["JsonFormatter", "OncePerProcess", "ProcessLabel", "log_config"]

#: uvicorn's per-server lines that say something about the process, not the listener.
PROCESS_MESSAGES = frozenset({"Started server process [%d]", "Finished server process [%d]", "Shutting down",
                              "Waiting for application shutdown.", "Application shutdown complete."})


class OncePerProcess(logging.Filter):
    """Pass the first record of each message in :data:`PROCESS_MESSAGES`, drop repeats."""

    def __init__(self, name: str = "") -> None:
        super().__init__(name)
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if not isinstance(record.msg, str) or record.msg not in PROCESS_MESSAGES:
            return True
        with self._lock:
            if record.msg in self._seen:
                return False
            self._seen.add(record.msg)
            return True


class ProcessLabel(logging.Filter):
    """Give each record ``process_label``: "" in the main process, "NAME " in a child process
    (``crashveil-front-0``, ``crashveil-writer``), so the text lines of several processes
    that say the same thing ("Shutting down") can be told apart."""

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.processName
        record.process_label = "" if name in ("MainProcess", None) else f"{name} "
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines in the text are escaped by JSON)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "process": record.processName,
            "pid": record.process,
            "message": record.getMessage(),
        }
        if record.exc_info and record.exc_info[0] is not None:
            entry["exception"] = record.exc_info[0].__name__
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=True, separators=(",", ":"))


def log_config(log_format: str = "text") -> dict[str, Any]:
    """The ``dictConfig`` of a server process logging as ``text`` or ``json`` to stderr."""
    text = {"()": "uvicorn.logging.DefaultFormatter", "fmt": "%(levelprefix)s %(process_label)s%(name)s %(message)s",
            "use_colors": False}
    formatter: dict[str, Any] = {"()": JsonFormatter} if log_format == "json" else text
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "filters": {"once": {"()": OncePerProcess}, "label": {"()": ProcessLabel}},
        "handlers": {"default": {"formatter": "default", "class": "logging.StreamHandler", "stream": "ext://sys.stderr",
                                 "filters": ["once", "label"]}},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
            "crashveil": {"handlers": ["default"], "level": "INFO", "propagate": False},
        },
    }
