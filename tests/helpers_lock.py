"""Reading the committed lock files (requirements/*.txt, compiled by ./scripts/lock)."""

from __future__ import annotations

from pathlib import Path

REQUIREMENTS = Path(__file__).resolve().parent.parent / "requirements"


def pins(lock: Path) -> dict[str, str]:
    """name -> version of every requirement line of a compiled lock (comments and blank lines aside)."""
    lines = [line.split("#")[0].strip() for line in lock.read_text(encoding="utf-8").splitlines()]
    return dict(line.split("==", 1) for line in lines if line)
