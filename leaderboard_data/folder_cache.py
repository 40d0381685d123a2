"""A folder of small records in a store, read through blob ids so a read costs what changed, not what exists.

A read asks the store for the head revision (one call); if nothing was committed since the last read, that is
all. Otherwise it lists the folder with blob ids (one call per 1,000 files on the Hub) and downloads only files
whose blob id it has not parsed yet. A cache keyed by commit sha would empty on every commit anyone makes; one
keyed by blob id keeps every file that did not change. A writer that just committed tells the cache what it
wrote (`landed`), so its own next read costs one call.

Reads are single-flight: threads asking for a revision the cache does not hold yet wait for one of them to read
it, so ten cold Space sessions cost one listing and one download per file, not ten.

The caches live with the store object (`folder_cache`), so every `RequestQueue` built on one store in a process
(the Space builds one per refresh) shares them; they go when the store goes.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from leaderboard_data.errors import FileNotInStoreError, RecordValidationError, TransientStoreError
from leaderboard_data.stores.base import AddFile, CommitOperation, Store, git_blob_id

R = TypeVar("R")

_READ_TRIES = 20


class FolderCache(Generic[R]):
    """The parsed records under `prefix`, kept across commits by blob id. Thread-safe."""

    def __init__(self, store: Store, prefix: str, parse: Callable[[str, bytes], R]) -> None:
        self.store = store
        self.prefix = prefix
        self.parse = parse
        self._lock = threading.Lock()
        self._reading = threading.Lock()  # held by the one thread reading the store; the others wait on it
        self._revision: str | None = None
        self._blobs: dict[str, str] = {}
        self._parsed: dict[tuple[str, str], R | RecordValidationError] = {}

    def read(self, revision: str) -> dict[str, R | RecordValidationError]:
        """Every record under the prefix at `revision` (the head just read), by path; invalid files as errors."""
        with self._lock:
            if self._revision == revision:
                return self._records()
        with self._reading:
            return self._read_store(revision)

    def _read_store(self, revision: str) -> dict[str, R | RecordValidationError]:
        with self._lock:
            if self._revision == revision:  # read by the thread this one waited for
                return self._records()
        # A store that keeps old revisions (the Hub) is read at `revision`; a folder store only has its head,
        # and a file deleted between its listing and its reading means listing again.
        pin = revision if self.store.local_folder() is None else None
        for _ in range(_READ_TRIES):
            try:
                blobs = self.store.list_blobs(self.prefix, pin)
                with self._lock:
                    missing = [path for path, oid in blobs.items() if (path, oid) not in self._parsed]
                contents = self.store.read_files(missing, pin)
            except FileNotInStoreError:
                continue
            with self._lock:
                for path, content in contents.items():
                    self._parsed[(path, git_blob_id(content) if pin is None else blobs[path])] = self._parse(
                        path, content
                    )
                if pin is None:  # the listing's ids came from an earlier look at the folder: trust the contents
                    blobs = {**blobs, **{path: git_blob_id(content) for path, content in contents.items()}}
                self._blobs = blobs
                self._parsed = {key: self._parsed[key] for key in blobs.items() if key in self._parsed}
                self._revision = revision
                return self._records()
        raise TransientStoreError(f"{self.store}: files under {self.prefix} kept vanishing while being read")

    def landed(self, parent: str, revision: str, operations: Sequence[CommitOperation]) -> None:
        """Take in our own commit of `operations` on `parent`: the folder at `revision` is known without a read."""
        with self._lock:
            if self._revision != parent:
                return
            for op in operations:
                if not op.path.startswith(self.prefix):
                    continue
                if isinstance(op, AddFile):
                    oid = git_blob_id(op.content)
                    self._blobs[op.path] = oid
                    self._parsed[(op.path, oid)] = self._parse(op.path, op.content)
                else:
                    oid = self._blobs.pop(op.path, "")
                    self._parsed.pop((op.path, oid), None)
            self._revision = revision

    def _parse(self, path: str, content: bytes) -> R | RecordValidationError:
        try:
            return self.parse(path, content)
        except RecordValidationError as error:
            return error

    def _records(self) -> dict[str, R | RecordValidationError]:
        return {path: self._parsed[(path, oid)] for path, oid in self._blobs.items() if (path, oid) in self._parsed}


_CACHES: weakref.WeakKeyDictionary[Store, dict[str, FolderCache[Any]]] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def folder_cache(store: Store, prefix: str, parse: Callable[[str, bytes], R]) -> FolderCache[R]:
    """The cache of `prefix` on `store`, shared by everyone in this process reading that store object."""
    with _CACHES_LOCK:
        caches = _CACHES.setdefault(store, {})
        if prefix not in caches:
            caches[prefix] = FolderCache(store, prefix, parse)
        return caches[prefix]
