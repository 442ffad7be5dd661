"""Exceptions of the core.

    UnifyError
     ├── SpecError          a declared spec cannot be compiled (names the key and the fix)
     └── InvalidRecord      a source row cannot become a CDM record (carries the reason)
"""


class UnifyError(Exception):
    """Root of every error the product raises on purpose."""


class SpecError(UnifyError):
    """A match, source or survivorship spec is inconsistent."""


class InvalidRecord(UnifyError):
    """A change cannot be mapped; `reason` says why, for the dead-letter record."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason
