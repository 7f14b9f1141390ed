"""Errors a user can cause. The CLI prints them as one line (what happened; what to do) and exits with the
class's code; README lists the codes. 1 is any other user error, 70 a bug, 130 / 143 Ctrl-C / SIGTERM."""

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


class UsageError(ClavaError):
    """An option or argument out of range (click's own usage errors exit 2 as well)."""

    exit_code = 2


class DestinationNotEmpty(ClavaError):
    exit_code = 3


class ConstraintUnsatisfiable(ClavaError):
    exit_code = 4


class ConfigError(ClavaError):
    exit_code = 5


class ConnectionFailed(ClavaError):
    """A database that cannot be reached or opened (source or destination)."""

    exit_code = 6


class SourceUnreadable(ClavaError):
    """The source is reachable but its tables cannot be read (no tables, no SELECT privilege)."""

    exit_code = 7


class DestinationUnwritable(ClavaError):
    """The destination (a database, a directory, an output file) cannot be written."""

    exit_code = 8


class SameDatabase(ClavaError):
    """Source and destination are one database: writing would overwrite the real data."""

    exit_code = 9


class DependentObjects(ClavaError):
    """--replace would drop tables other objects (views, foreign keys of other tables) depend on."""

    exit_code = 10


class ModelRejected(ClavaError):
    """A model file that is damaged, of another format, or carries something other than data."""

    exit_code = 11

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(f"model file rejected: {message}", hint)


class BadDSN(ClavaError):
    """A DSN clavadb cannot parse, or of a scheme it does not know."""

    exit_code = 12


class Interrupted(KeyboardInterrupt):
    """Raised for SIGTERM: unwinds every stage as Ctrl-C does (a KeyboardInterrupt), exits 128 + signal."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


EXIT_UNEXPECTED = 70  # EX_SOFTWARE of sysexits.h: a bug, not the user's input
EXIT_SIGINT = 130  # 128 + SIGINT, what a shell reports for Ctrl-C
EXIT_SIGTERM = 143  # 128 + SIGTERM
