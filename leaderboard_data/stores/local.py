"""A store in a plain folder laid out exactly as the Hub dataset repository would be.

Safe for several processes on one machine: commits hold an exclusive `flock` on `.store/lock`, readers a
shared one; every file lands by atomic rename; a commit first writes a journal so that a process killed
half-way is rolled forward by the next one to take the lock. The revision in `.store/HEAD` moves on every
commit, which gives commits the Hub's parent-revision semantics.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from leaderboard_data.errors import ConflictError, FileNotInStoreError, StoreError
from leaderboard_data.stores.base import AddFile, CommitOperation, DeleteFile, Store, check_repo_path

_META = ".store"
_INITIAL_REVISION = "0" * 40


def _fsync_write(path: Path, content: bytes) -> None:
    """Write `content` to `path` atomically: a temp file in the same folder, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class LocalStore(Store):
    """A folder-backed store; `root` is created on first use."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).resolve()
        self._meta = self.root / _META
        self._meta.mkdir(parents=True, exist_ok=True)

    @property
    def location(self) -> str:
        return str(self.root)

    def local_folder(self) -> Path:
        return self.root

    def __repr__(self) -> str:
        return f"LocalStore({self.root})"

    @contextlib.contextmanager
    def _locked(self, exclusive: bool) -> Iterator[None]:
        """Hold the store's lock. A reader that finds a journal left by a crashed commit takes the exclusive
        lock and rolls it forward first, so it never sees half a commit."""
        journal = self._meta / "journal.json"
        with open(self._meta / "lock", "a+b") as handle:
            if not exclusive and journal.exists():
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
                try:
                    self._roll_forward_journal()
                finally:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                if exclusive:
                    self._roll_forward_journal()
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _head(self) -> str:
        try:
            return (self._meta / "HEAD").read_text().strip() or _INITIAL_REVISION
        except FileNotFoundError:
            return _INITIAL_REVISION

    def revision(self) -> str:
        with self._locked(exclusive=False):
            return self._head()

    def _check_revision(self, revision: str | None) -> None:
        if revision is not None and revision != self._head():
            raise StoreError(f"{self}: only the head revision can be read, not {revision}")

    def list_files(self, prefix: str = "", revision: str | None = None) -> list[str]:
        folder = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        if folder:
            check_repo_path(folder)
        with self._locked(exclusive=False):
            self._check_revision(revision)
            base = self.root / folder if folder else self.root
            if not base.is_dir():
                return []
            found = []
            for dirpath, dirnames, filenames in os.walk(base):
                dirnames[:] = [d for d in dirnames if not d.startswith(".")]
                rel_dir = Path(dirpath).relative_to(self.root).as_posix()
                for name in filenames:
                    if name.startswith("."):
                        continue
                    rel = name if rel_dir == "." else f"{rel_dir}/{name}"
                    if rel.startswith(prefix):
                        found.append(rel)
            return sorted(found)

    def read_file(self, path: str, revision: str | None = None) -> bytes:
        check_repo_path(path)
        with self._locked(exclusive=False):
            self._check_revision(revision)
            return self._read_unlocked(path)

    def read_files(self, paths: object, revision: str | None = None) -> dict[str, bytes]:
        wanted = [check_repo_path(p) for p in paths]  # type: ignore[attr-defined]
        with self._locked(exclusive=False):
            self._check_revision(revision)
            return {p: self._read_unlocked(p) for p in wanted}

    def _read_unlocked(self, path: str) -> bytes:
        try:
            return (self.root / path).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise FileNotInStoreError(f"{self}: no file {path}") from exc

    def commit(self, operations: Sequence[CommitOperation], *, parent_revision: str, message: str) -> str:
        if not operations:
            raise StoreError("a commit needs at least one operation")
        for op in operations:
            check_repo_path(op.path)
        with self._locked(exclusive=True):
            head = self._head()
            if head != parent_revision:
                raise ConflictError(f"{self}: head moved from {parent_revision[:12]} to {head[:12]}")
            for op in operations:
                if isinstance(op, DeleteFile) and not (self.root / op.path).is_file():
                    raise StoreError(f"{self}: cannot delete missing file {op.path}")
            new_revision = self._next_revision(head, operations, message)
            self._write_journal(operations, new_revision, message)
            self._roll_forward_journal()
            return new_revision

    @staticmethod
    def _next_revision(head: str, operations: Sequence[CommitOperation], message: str) -> str:
        digest = hashlib.sha1(head.encode())
        digest.update(message.encode())
        digest.update(os.urandom(8))
        for op in operations:
            digest.update(op.path.encode())
            if isinstance(op, AddFile):
                digest.update(hashlib.sha256(op.content).digest())
        return digest.hexdigest()

    def _write_journal(self, operations: Sequence[CommitOperation], new_revision: str, message: str) -> None:
        """Stage every added file, then the journal naming them: after this the commit will happen."""
        staging = self._meta / "staging" / new_revision
        staging.mkdir(parents=True, exist_ok=True)
        entries = []
        for index, op in enumerate(operations):
            if isinstance(op, AddFile):
                staged = staging / str(index)
                _fsync_write(staged, op.content)
                entries.append({"op": "add", "path": op.path, "staged": str(staged.relative_to(self._meta))})
            else:
                entries.append({"op": "delete", "path": op.path})
        journal = {"revision": new_revision, "message": message, "operations": entries}
        _fsync_write(self._meta / "journal.json", json.dumps(journal).encode())

    def _roll_forward_journal(self) -> None:
        """Apply a journaled commit (again): every step is idempotent, so a crash at any point is harmless."""
        journal_path = self._meta / "journal.json"
        if not journal_path.exists():
            return
        journal = json.loads(journal_path.read_text())
        for entry in journal["operations"]:
            target = self.root / entry["path"]
            if entry["op"] == "add":
                staged = self._meta / entry["staged"]
                if staged.exists():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(staged, target)
            else:
                with contextlib.suppress(FileNotFoundError):
                    target.unlink()
                self._prune_empty_dirs(target.parent)
        if self._head() != journal["revision"]:  # a crash after HEAD moved must not log the commit twice
            now = datetime.now(UTC).isoformat()
            entry = {"revision": journal["revision"], "message": journal["message"], "at": now}
            with open(self._meta / "log.jsonl", "a", encoding="utf-8") as log:
                log.write(json.dumps(entry) + "\n")
        _fsync_write(self._meta / "HEAD", journal["revision"].encode())
        journal_path.unlink()
        staging = self._meta / "staging" / journal["revision"]
        with contextlib.suppress(OSError):
            staging.rmdir()

    def _prune_empty_dirs(self, folder: Path) -> None:
        while folder != self.root and folder.is_dir():
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent
