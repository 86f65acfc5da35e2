"""Logging for the whole process: plain or JSON lines on stderr, secrets masked on the way out.

Log lines never carry PHI: handlers log ids, counts and outcomes, not message text or patient
data. As a last line of defence, anything that looks like a Slack token or a password in a
URL is masked by :class:`RedactSecrets` before it is written.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime, timezone

_PATTERNS = [
    (re.compile(r"xox[abposre]-[A-Za-z0-9-]+"), "xox?-[redacted]"),
    (re.compile(r"xapp-[A-Za-z0-9-]+"), "xapp-[redacted]"),
    (re.compile(r"(?<=://)([^:/@\s]+):([^@\s]+)@"), r"\1:[redacted]@"),
    (re.compile(r"(?i)(signing[_ -]?secret|password|passwd|token)(\s*[=:]\s*)([^\s,;&]+)"), r"\1\2[redacted]"),
]


def redact(text: str, extra_secrets: tuple[str, ...] = ()) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    for secret in extra_secrets:
        if secret and len(secret) >= 8:
            text = text.replace(secret, "[redacted]")
    return text


class RedactSecrets(logging.Filter):
    def __init__(self, extra_secrets: tuple[str, ...] = ()):
        super().__init__()
        self.extra = tuple(s for s in extra_secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message, self.extra)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.extra)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "at": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry)


def setup_logging(level: str = "INFO", fmt: str = "text", extra_secrets: tuple[str, ...] = ()) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactSecrets(extra_secrets))
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Third-party chatter that could echo request bodies stays at WARNING unless asked for.
    for noisy in ("slack_bolt", "slack_sdk", "urllib3", "pynetdicom", "sqlalchemy.engine", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
