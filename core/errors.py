"""Named errors whose message is written for the person who typed the command."""

from __future__ import annotations


class UserError(Exception):
    """Bad input or a refused request. ``str(error)`` is shown to the user as is.

    Feature code raises it (or a subclass) with a message a clinician can act on; ``bot``
    shows it privately to the user who asked, and the command line prints it and exits 2.
    """

    exit_status = 2

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message


class NotFound(UserError):
    """The thing asked for does not exist (a ticket number, a module id, a node name)."""


class Refused(UserError):
    """The request is well-formed but not allowed (rate limit, safety rule)."""


class NotYours(Refused):
    """The request touches someone else's record, or needs a role the asker lacks. The bot
    audits every one as ``access.denied`` (the same row as a refusal by the policy chain)."""
