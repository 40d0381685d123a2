"""Classified benchmark failures: every way a benchmark can fail maps to one ErrorKind and a readable message."""

from __future__ import annotations

from leaderboard_data.records import ErrorKind

# Kinds that are the model's fault: retrying cannot help, so the request fails at once.
PERMANENT_KINDS = frozenset(
    {
        ErrorKind.NOT_FOUND,
        ErrorKind.GATED,
        ErrorKind.REMOTE_CODE,
        ErrorKind.UNSUPPORTED_ARCHITECTURE,
        ErrorKind.WRONG_TASK,
        ErrorKind.UNSAFE_WEIGHTS,
        ErrorKind.OUT_OF_MEMORY,
    }
)


class BenchmarkFailure(Exception):
    """A benchmark that could not produce a result; `kind` says why, the message says it in words."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message

    @property
    def permanent(self) -> bool:
        return self.kind in PERMANENT_KINDS

    def __str__(self) -> str:
        return f"{self.kind.value}: {self.message}"


class BenchmarkLost(Exception):
    """The benchmark's process or node vanished (not the model's fault): the request goes back to the queue and
    will be measured again as a new, whole run."""
