"""Errors a user can cause. The CLI prints them as one line (what happened; what to do) and exits non-zero."""

from __future__ import annotations


class ClavaError(Exception):
    """A failure with a message meant for the user, and optionally what to do about it."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConnectionFailed(ClavaError):
    exit_code = 2


class DestinationNotEmpty(ClavaError):
    exit_code = 3


class ConstraintUnsatisfiable(ClavaError):
    exit_code = 4


class ConfigError(ClavaError):
    exit_code = 5
