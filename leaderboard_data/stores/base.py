"""The one store interface: a repository of files that changes only by parent-checked commits.

It mirrors a Hub dataset repository: list files, read a file, and commit several adds and deletes at once on
top of a given parent revision. A commit whose parent is no longer the head fails with ConflictError, exactly
like `HfApi.create_commit(parent_commit=...)` answering HTTP 412, so callers re-read and try again.

The compare-and-swap holds for every commit, identical writes included, on every store:
- a commit whose parent is not the head raises ConflictError, even when its files equal the head's;
- a commit on the head always makes a new revision, even when its files equal the head's.
huggingface_hub drops added files whose content equals the branch head and, when nothing is left, returns the head
without sending the commit, so the parent would never be checked; HubStore therefore adds a per-commit marker file
under the reserved `.store/` folder to every commit, which is why a commit can never be empty. The reserved folder is
hidden from listings and refused as a path by `check_repo_path`.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from leaderboard_data.errors import StoreError

_SAFE_PATH = re.compile(r"^[A-Za-z0-9._\-/]+$")


def check_repo_path(path: str) -> str:
    """Refuse paths that could escape the repository or confuse a file system; return the path unchanged."""
    if not path or len(path) > 500 or not _SAFE_PATH.match(path):
        raise StoreError(f"unsafe path in store: {path!r}")
    if path.startswith("/") or posixpath.normpath(path) != path or any(p in ("", ".", "..") for p in path.split("/")):
        raise StoreError(f"unsafe path in store: {path!r}")
    if path.split("/")[0] == ".store":
        raise StoreError(f"path is reserved for the store itself: {path!r}")
    return path


@dataclass(frozen=True)
class AddFile:
    """Create or replace `path` with `content`."""

    path: str
    content: bytes


@dataclass(frozen=True)
class DeleteFile:
    """Remove `path`; deleting a file that does not exist is a StoreError."""

    path: str


CommitOperation = AddFile | DeleteFile


def git_blob_id(content: bytes) -> str:
    """The id git (and the Hub's tree listing) gives a file's content: sha1 of 'blob <size>\\0' + content."""
    return hashlib.sha1(b"blob %d\x00" % len(content) + content).hexdigest()


class Store(ABC):
    """A Hub-shaped file repository. Implementations: LocalStore (a folder) and HubStore (a Hub dataset)."""

    @property
    @abstractmethod
    def location(self) -> str:
        """Where the data lives, as `datasets.load_dataset` takes it: a local folder or a Hub repo id."""

    @abstractmethod
    def revision(self) -> str:
        """The current head revision; it changes with every commit."""

    @abstractmethod
    def list_files(self, prefix: str = "", revision: str | None = None) -> list[str]:
        """Sorted paths under `prefix` (a folder prefix such as 'requests/'), at head or at `revision`."""

    @abstractmethod
    def read_file(self, path: str, revision: str | None = None) -> bytes:
        """The content of one file; FileNotInStoreError if it is absent."""

    def read_files(self, paths: Iterable[str], revision: str | None = None) -> dict[str, bytes]:
        """Several files at once; implementations may batch. Missing files raise FileNotInStoreError."""
        return {path: self.read_file(path, revision) for path in paths}

    @abstractmethod
    def commit(self, operations: Sequence[CommitOperation], *, parent_revision: str, message: str) -> str:
        """Apply all operations atomically on top of `parent_revision` and return the new revision.

        Raises ConflictError if the head is no longer `parent_revision`; nothing is applied then. This holds
        whatever the operations are: a commit whose files equal the head's is parent-checked like any other, and
        when it succeeds the revision moves all the same.
        """

    def list_blobs(self, prefix: str = "", revision: str | None = None) -> dict[str, str]:
        """Paths under `prefix` with their blob ids (`git_blob_id` of the content), for caches keyed by content.

        A cache keyed by blob id stays valid across commits that leave a file unchanged, where one keyed by
        commit sha empties on every commit. This default reads every file; stores whose listing already carries
        the ids (the Hub's tree listing does) answer without reading any.
        """
        paths = self.list_files(prefix, revision)
        return {path: git_blob_id(content) for path, content in self.read_files(paths, revision).items()}

    def local_folder(self) -> Path | None:
        """The folder holding the files, for stores that have one."""
        return None

    def ensure_exists(self) -> bool:
        """Create the repository if it does not exist yet; True if it was created. A store that always exists
        once opened (a local folder) creates nothing."""
        return False
