"""The newest head a store object has seen, so a lagged answer from the Hub never takes the head back.

The Hub caches repo-info answers: right after a commit, asking for the head can return the commit before it. A
reader that went back would decide on a state older than one it already acted on (a finish right after its own
claim would see the request still PENDING). Commit shas carry no order, so two things order them here:
- lineage: a commit this process made is newer than its parent, and every ancestor of the newest head is older;
- the commit date the Hub reports with the head (`lastModified`): a head dated before the newest one is older.
An answer that is older by either rule is replaced by the newest head; any other answer becomes the newest. A
head that is newer but not yet visible costs nothing extra: a commit on an older parent gets 412 and is retried.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime

_KEEP = 4096  # parent links remembered; older ones only make a very old lagged answer look new, which costs a 412


class NewestHead:
    """Thread-safe: one per store object, shared by every reader and writer of it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._newest: str | None = None
        self._newest_at: datetime | None = None
        self._parents: OrderedDict[str, str] = OrderedDict()

    def seen(self, sha: str, modified_at: datetime | None) -> str:
        """Take in a head the store answered; return the head to use: `sha`, or the newest if `sha` is older."""
        with self._lock:
            newest = self._newest
            if newest is not None and sha != newest:
                older_by_date = (
                    modified_at is not None and self._newest_at is not None and modified_at < self._newest_at
                )
                if older_by_date or self._is_ancestor(sha, newest):
                    return newest
            self._newest = sha
            if modified_at is not None:
                self._newest_at = modified_at
            return sha

    def committed(self, parent: str, sha: str) -> None:
        """Our commit `sha` landed on `parent`: it is the newest head (dated no earlier than its parent)."""
        with self._lock:
            self._parents[sha] = parent
            while len(self._parents) > _KEEP:
                self._parents.popitem(last=False)
            self._newest = sha

    def _is_ancestor(self, sha: str, of: str) -> bool:
        current = self._parents.get(of)
        for _ in range(len(self._parents)):
            if current is None:
                return False
            if current == sha:
                return True
            current = self._parents.get(current)
        return False
