"""Exceptions: one per result code of the C API (mreg.h)."""

from __future__ import annotations


class Error(Exception):
    """A call the registry refused or could not make. ``code`` is mreg.h's result code."""

    code = -1

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class NotFound(Error, LookupError):
    """No such model, version or backup."""

    code = -3


class AlreadyExists(Error):
    """Already there."""

    code = -4


class TransitionRefused(Error, ValueError):
    """The stage table (or the rollback policy) refuses the move."""

    code = -5


class Invalid(Error, ValueError):
    """Bad input: an argument, a name, a value, a file."""

    code = -6


class Locked(Error):
    """Another writer held the registry's lock past the timeout."""

    code = -7


class Usage(Error, TypeError):
    """A method or argument the library does not know."""

    code = -8


class Conflict(Error):
    """A concurrent change got there first."""

    code = -9


class Corrupt(Error):
    """Stored data failed its own checks."""

    code = -10


_BY_CODE = {c.code: c for c in (NotFound, AlreadyExists, TransitionRefused, Invalid, Locked, Usage, Conflict, Corrupt)}


def from_code(code: int, message: str) -> Error:
    """The exception for a result code."""
    cls = _BY_CODE.get(code, Error)
    return cls(message, code)
