"""Structured JSON logs (one object per line) for the access log and application messages."""
import json
import logging
import sys
import time


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
    """The access log: one JSON object per line, written straight to the stream. The logging
    module's record/handler/formatter machinery costs about as much as a whole small request,
    so the hot path bypasses it (application messages still go through logging)."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self._dumps = json.JSONEncoder(separators=(",", ":"), default=str).encode

    def write(self, fields: dict) -> None:
        t = time.time()
        line = ('{"ts":"' + time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t))
                + f'.{int(t * 1000) % 1000:03d}Z","logger":"iot_api.access",'
                + self._dumps(fields)[1:] + "\n")
        try:
            self.stream.write(line)
        except (OSError, ValueError):
            pass


def setup(level: str) -> None:
    root = logging.getLogger("iot_api")
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
        root.propagate = False
    root.setLevel(level.upper())
