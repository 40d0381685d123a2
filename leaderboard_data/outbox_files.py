"""Putting one record in the requests store's outbox with a parent-checked commit, at most once.

Imports and verifications travel the way results do: outbox (one commit), then the publisher copies them to the
results dataset under a path keyed by their id, so a retry never adds anything twice.
"""

from __future__ import annotations

import logging

from leaderboard_data.errors import ConflictError
from leaderboard_data.stores.base import AddFile, Store

logger = logging.getLogger(__name__)


def add_to_outbox(store: Store, path: str, content: bytes, message: str, *, max_attempts: int = 20) -> bool:
    """Commit `content` at `path` unless a file is already there; True if this call added it."""
    for _ in range(max_attempts):
        parent = store.revision()
        if path in set(store.list_files(path.rsplit("/", 1)[0] + "/")):
            return False
        try:
            store.commit([AddFile(path, content)], parent_revision=parent, message=message)
            return True
        except ConflictError:
            logger.info("requests store moved while adding %s; retrying", path)
    raise ConflictError(f"could not add {path}: the store kept moving over {max_attempts} attempts")
