"""A local spool: reports kept on this server's disk while the database is down.

A slash command or a form is never delivered again by Slack, so a report made while the
ticket store is down would otherwise be lost. It is written here (one JSON file, written to
a temporary name, flushed to disk and renamed, readable only by pacsbot's user) and filed by
the ``ticket-spool`` job of this replica once the database answers again. Files are deleted
once filed; they hold what the reporter typed, so the folder lives in ``data_dir`` with the
database's own protections.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class Spool:
    def __init__(self, folder: Path):
        self.folder = folder

    def put(self, item: dict[str, Any], *, at: datetime) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = f"{at.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(6)}.json"
        tmp = self.folder / f".{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({"at": at.isoformat(), **item}, out)
            out.flush()
            os.fsync(out.fileno())
        final = self.folder / name
        os.replace(tmp, final)
        return final

    def items(self) -> Iterator[tuple[Path, dict[str, Any]]]:
        """Spooled items, oldest first (a file that cannot be read is set aside, not lost)."""
        if not self.folder.is_dir():
            return
        for path in sorted(self.folder.glob("*.json")):
            try:
                yield path, json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                log.error("spool: %s cannot be read; renamed to .bad for an admin to look at", path.name)
                path.rename(path.with_suffix(".bad"))

    def done(self, path: Path) -> None:
        path.unlink(missing_ok=True)

    def __len__(self) -> int:
        return len(list(self.folder.glob("*.json"))) if self.folder.is_dir() else 0
