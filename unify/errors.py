"""Exceptions of the core.

    UnifyError
     ├── SpecError          a declared spec cannot be compiled (names the key and the fix)
     └── InvalidRecord      a source row cannot become a CDM record (carries the reason)
"""


class UnifyError(Exception):
    """Root of every error the product raises on purpose."""


def first_line(exc: BaseException) -> str:
    """An exception's message cut to one line, for logs and one-line errors.

    >>> first_line(OSError("connection refused\\nretried 10 times"))
    'connection refused'
    """
    return (str(exc).splitlines() or [type(exc).__name__])[0][:300]


class SpecError(UnifyError):
    """A match, source or survivorship spec is inconsistent."""


class InvalidRecord(UnifyError):
    """A change cannot be mapped; `reason` says why, for the dead-letter record."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason
