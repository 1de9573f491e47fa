"""Structured JSON logs on stderr, one object per line: ``ts`` (UTC, milliseconds), ``level``,
``logger``, ``msg``, every ``extra`` field, and ``exc`` with the trace of an exception."""
import json
import logging
import sys
import time


def _timestamp(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


class JsonFormatter(logging.Formatter):
    _SKIP = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
               + f".{int(record.msecs):03d}Z",
               "level": record.levelname, "logger": record.name, "msg": record.getMessage()}
        for k, v in record.__dict__.items():
            if k not in self._SKIP and not k.startswith("_"):
                out[k] = v
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class AccessLog:
    """An access log: one JSON object per line, written straight to the stream. The logging
    module's record/handler/formatter machinery costs about as much as a whole small request,
    so the hot path bypasses it (application messages still go through logging)."""

    def __init__(self, logger: str, stream=None):
        self.stream = stream or sys.stderr
        self._logger = json.dumps(logger)
        self._dumps = json.JSONEncoder(separators=(",", ":"), default=str).encode

    def write(self, fields: dict) -> None:
        line = ('{"ts":"' + _timestamp(time.time()) + '","logger":' + self._logger + ","
                + self._dumps(fields)[1:] + "\n")
        try:
            self.stream.write(line)
        except (OSError, ValueError):
            pass


def setup(logger: str, level: str) -> None:
    """JSON lines on stderr for ``logger`` and its children, at ``level``; once per process
    (a second call only changes the level)."""
    root = logging.getLogger(logger)
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
        root.propagate = False
    root.setLevel(level.upper())
