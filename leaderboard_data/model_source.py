"""Where models come from: a local folder of models (the embedded default) or the Hugging Face Hub.

A source answers two questions: what is this model at this revision (`info`, which pins the revision to an
immutable id), and give me its files (`download`, which fetches only config, tokenizer and safetensors files,
never pickles or Python code). What a folder says about its model is read by `model_files`; whether the model
may be benchmarked is decided in `model_checks`.

Example:
    >>> source = LocalModelSource(Path("energy-score-data/models"))
    >>> sha = source.add_model("acme/tiny-gpt2", Path("build/tiny-gpt2"))
    >>> source.info("acme/tiny-gpt2").sha == sha
    True
"""

from __future__ import annotations

import hashlib
import re
import shutil
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, BinaryIO

from huggingface_hub import HfApi, hf_hub_url, snapshot_download
from huggingface_hub.errors import (
    DisabledRepoError,
    GatedRepoError,
    HfHubHTTPError,
    HFValidationError,
    HTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
    SafetensorsParsingError,
)

from leaderboard_data.errors import ModelCheckError, StoreError, TransientStoreError
from leaderboard_data.model_checks import gated_refusal
from leaderboard_data.model_files import (
    DIFFUSERS_INDEX,
    TRANSFORMERS_CONFIG,
    ModelInfo,
    check_config_size,
    describe_folder,
    is_hidden,
    is_pipeline,
    list_model_files,
    parse_json_object,
    weight_files_to_count,
)
from leaderboard_data.records import ErrorKind

ALLOWED_PATTERNS: tuple[str, ...] = (
    "*.safetensors",
    "*.json",
    "*.txt",  # vocab.txt, merges.txt
    "*.model",  # sentencepiece
    "*.spm",
    "*.tiktoken",
    "README.md",
)
"""Files a download may fetch: weights in safetensors, configs, tokenizers and the model card."""
FORBIDDEN_PATTERNS: tuple[str, ...] = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl", "*.pickle", "*.py", "*.msgpack")
"""Never fetched, even if an allowed pattern matched: pickles can run code when loaded, .py files are code."""

_ID_PART = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?", re.ASCII)
_HASH_CHUNK = 1 << 20


def is_allowed_file(path: str) -> bool:
    """Whether a download may hold this file (relative POSIX path), matched as snapshot_download matches it."""
    if any(fnmatchcase(path, p) for p in FORBIDDEN_PATTERNS):
        return False
    return any(fnmatchcase(path, p) for p in ALLOWED_PATTERNS)


class ModelSource(ABC):
    """Finds models and fetches their files; errors are ModelCheckError (the model's fault) or StoreError."""

    @abstractmethod
    def info(self, model_id: str, revision: str | None = None) -> ModelInfo:
        """Describe a model; `revision` None means the latest, and the answer's `sha` pins it."""

    @abstractmethod
    def download(self, model_id: str, sha: str, dest: Path | None = None) -> Path:
        """A local folder with the allowed files of the model at `sha` (into `dest` when given)."""


def _not_found(model_id: str, detail: str = "does not exist or is private") -> ModelCheckError:
    return ModelCheckError(ErrorKind.NOT_FOUND, f"model {model_id} {detail}.")


# ---------------------------------------------------------------------------------------------------------------
# Local folder of models
# ---------------------------------------------------------------------------------------------------------------


class LocalModelSource(ModelSource):
    """Models in `<models_root>/<org>/<name>/` (or `<models_root>/<name>/`), each laid out as a Hub model repo.

    A model's revision is a content hash: sha256 over its files sorted by relative path, each framed by its path
    and size, so the same files always give the same hash and any change gives another. Paths with a part
    starting with '.' are ignored. There is no history: the one revision that exists is the current content.
    """

    def __init__(self, models_root: Path) -> None:
        self.models_root = Path(models_root)

    def model_dir(self, model_id: str) -> Path:
        """The folder of a model; an id that is not 'name' or 'org/name' is NOT_FOUND."""
        parts = model_id.split("/")
        if not 1 <= len(parts) <= 2 or not all(_ID_PART.fullmatch(p) for p in parts) or ".." in model_id:
            raise _not_found(repr(model_id)[:100], "is not a valid model id")
        return self.models_root.joinpath(*parts)

    def has_model(self, model_id: str) -> bool:
        return self.model_dir(model_id).is_dir()

    def content_hash(self, model_id: str) -> str:
        """The current revision of a local model."""
        folder = self._existing_dir(model_id)
        return _hash_folder(folder, list_model_files(folder))

    def info(self, model_id: str, revision: str | None = None) -> ModelInfo:
        folder = self._existing_dir(model_id)
        files = list_model_files(folder)
        sha = _hash_folder(folder, files)
        if revision is not None and revision != sha:
            raise ModelCheckError(
                ErrorKind.NOT_FOUND,
                f"revision {revision[:64]!r} of model {model_id} not found; its current content hash is {sha}.",
            )
        return describe_folder(folder, model_id, sha, files)

    def download(self, model_id: str, sha: str, dest: Path | None = None) -> Path:
        """Without `dest`: the model's own folder, once its hash is checked (it is never copied).

        With `dest` (created, must be empty): the allowed files copied there, hashing every file in the same
        pass, so a model changed mid-copy is caught and the partial copy removed."""
        folder = self._existing_dir(model_id)
        files = list_model_files(folder)
        if dest is None:
            current = _hash_folder(folder, files)
            if current != sha:
                raise _revision_gone(model_id, sha, current)
            return folder
        dest.mkdir(parents=True, exist_ok=True)
        if any(dest.iterdir()):
            raise ValueError(f"download destination {dest} is not empty")
        current = _hash_folder(folder, files, copy_allowed_to=dest)
        if current != sha:
            shutil.rmtree(dest)
            raise _revision_gone(model_id, sha, current)
        return dest

    def add_model(self, model_id: str, folder: Path) -> str:
        """Copy a built model folder in as `model_id`, replacing any earlier one; returns its content hash.

        The copy is written beside the target and renamed into place, so readers never see half a model."""
        target = self.model_dir(model_id)
        staging = self.models_root / ".incoming" / uuid.uuid4().hex
        staging.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(folder, staging, ignore=shutil.ignore_patterns(".*"))
        target.parent.mkdir(parents=True, exist_ok=True)
        old = staging.with_name(f"{staging.name}.old")
        if target.exists():
            target.rename(old)
        staging.rename(target)
        shutil.rmtree(old, ignore_errors=True)
        return self.content_hash(model_id)

    def _existing_dir(self, model_id: str) -> Path:
        folder = self.model_dir(model_id)
        if not folder.is_dir():
            raise _not_found(model_id, "does not exist in the local models folder")
        return folder


def _revision_gone(model_id: str, sha: str, current: str) -> ModelCheckError:
    return ModelCheckError(
        ErrorKind.NOT_FOUND,
        f"revision {sha[:64]!r} of model {model_id} not found: the model changed since (its content hash is now "
        f"{current}).",
    )


def _hash_folder(folder: Path, files: tuple[str, ...], copy_allowed_to: Path | None = None) -> str:
    """sha256 over (path, size, bytes) of every file in sorted order; optionally copying allowed files as read."""
    digest = hashlib.sha256()
    for name in files:
        path_bytes = name.encode("utf-8")
        size = (folder / name).stat().st_size
        digest.update(len(path_bytes).to_bytes(8, "little") + path_bytes + size.to_bytes(8, "little"))
        with (folder / name).open("rb") as source, _copy_sink(copy_allowed_to, name) as sink:
            while chunk := source.read(_HASH_CHUNK):
                digest.update(chunk)
                if sink is not None:
                    sink.write(chunk)
    return digest.hexdigest()


def _copy_sink(dest: Path | None, name: str) -> AbstractContextManager[BinaryIO | None]:
    """Where a file read for hashing is also written: its place under `dest` if it is allowed there, else nowhere."""
    if dest is None or not is_allowed_file(name):
        return nullcontext()
    target = dest / name
    target.parent.mkdir(parents=True, exist_ok=True)
    return target.open("wb")


# ---------------------------------------------------------------------------------------------------------------
# The Hugging Face Hub
# ---------------------------------------------------------------------------------------------------------------


class HubModelSource(ModelSource):
    """Models on the Hub (or a server speaking its API), read with the real `huggingface_hub` client.

    Args:
        endpoint: the Hub's URL; None means huggingface.co (or HF_ENDPOINT).
        token: a user access token; None means anonymous (or the locally saved token).
        cache_dir: the Hub client's download cache; None means its default.
    """

    def __init__(self, endpoint: str | None = None, token: str | None = None, cache_dir: Path | None = None) -> None:
        self.api = HfApi(endpoint=endpoint, token=token)
        self.endpoint = endpoint
        self.token = token
        self.cache_dir = cache_dir

    def info(self, model_id: str, revision: str | None = None) -> ModelInfo:
        """Metadata pinned to the commit `revision` resolves to. config.json (or model_index.json) is fetched at
        that commit, at most 1 MB; gated and private models are described without fetching any file."""
        with _hub_errors(model_id, revision):
            hub = self.api.model_info(model_id, revision=revision, files_metadata=False)
            if not hub.sha:
                raise StoreError(f"the Hub gave no commit sha for model {model_id}")
            files = tuple(sorted(s.rfilename for s in hub.siblings or () if not is_hidden(s.rfilename)))
            private, gated = bool(hub.private), bool(hub.gated)
            readable = not (private or gated)
            config = self._fetch_config(model_id, hub.sha, files) if readable else None
            num_parameters = hub.safetensors.total if hub.safetensors and not is_pipeline(files) else None
            if num_parameters is None and readable:
                num_parameters = self._count_remote_parameters(model_id, hub.sha, files, config)
        return ModelInfo(
            model_id=model_id,
            sha=hub.sha,
            private=private,
            gated=gated,
            pipeline_tag=hub.pipeline_tag,
            library_name=hub.library_name,
            files=files,
            config=config,
            num_parameters=num_parameters,
        )

    def download(self, model_id: str, sha: str, dest: Path | None = None) -> Path:
        """snapshot_download of the allowed files only; into `dest` when given, else the Hub cache."""
        with _hub_errors(model_id, sha):
            folder = snapshot_download(
                model_id,
                revision=sha,
                allow_patterns=list(ALLOWED_PATTERNS),
                ignore_patterns=list(FORBIDDEN_PATTERNS),
                local_dir=dest,
                cache_dir=self.cache_dir,
                endpoint=self.endpoint,
                token=self.token,
            )
        return Path(str(folder))

    def _fetch_config(self, model_id: str, sha: str, files: tuple[str, ...]) -> dict[str, Any] | None:
        name = next((n for n in (DIFFUSERS_INDEX, TRANSFORMERS_CONFIG) if n in files), None)
        if name is None:
            return None
        url = hf_hub_url(model_id, name, revision=sha, endpoint=self.endpoint)
        check_config_size(self.api.get_hf_file_metadata(url=url).size or 0, name, model_id)
        path = self.api.hf_hub_download(model_id, name, revision=sha, cache_dir=self.cache_dir)
        return parse_json_object(Path(str(path)).read_bytes(), name, model_id)

    def _count_remote_parameters(
        self, model_id: str, sha: str, files: tuple[str, ...], config: dict[str, Any] | None
    ) -> int | None:
        """Parameters from each counted file's safetensors header, fetched by range requests (the tensors are not
        downloaded). Used for pipelines, whose components the Hub's own count does not follow (precision
        variants would count twice), and wherever the Hub gives no count."""
        weights = weight_files_to_count(files, config)
        if not weights:
            return None
        try:
            return sum(
                sum(self.api.parse_safetensors_file_metadata(model_id, name, revision=sha).parameter_count.values())
                for name in weights
            )
        except SafetensorsParsingError as exc:
            raise ModelCheckError(
                ErrorKind.UNSAFE_WEIGHTS, f"a safetensors header of model {model_id} could not be read ({exc})."
            ) from exc


_TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


@contextmanager
def _hub_errors(model_id: str, revision: str | None) -> Iterator[None]:
    """Turn the Hub client's errors into ours: the model's fault (ModelCheckError) or the network's
    (TransientStoreError, worth retrying) or anything else (StoreError)."""
    try:
        yield
    except GatedRepoError as exc:
        raise gated_refusal(model_id) from exc
    except RevisionNotFoundError as exc:
        raise _not_found(model_id, f"has no revision {str(revision)[:64]!r}") from exc
    except (RepositoryNotFoundError, DisabledRepoError, HFValidationError) as exc:
        raise _not_found(model_id) from exc
    except HfHubHTTPError as exc:
        raise _http_error(model_id, exc) from exc
    except (OfflineModeIsEnabled, LocalEntryNotFoundError, HTTPError, TimeoutError, ConnectionError) as exc:
        raise TransientStoreError(f"could not reach the Hub for model {model_id}: {exc}") from exc


def _http_error(model_id: str, exc: HfHubHTTPError) -> Exception:
    status = exc.response.status_code if exc.response is not None else None
    if status in (401, 403, 404):
        return _not_found(model_id)
    if status is None or status in _TRANSIENT_STATUS:
        return TransientStoreError(f"the Hub failed for model {model_id} (HTTP {status}): {exc}")
    return StoreError(f"the Hub refused a request for model {model_id} (HTTP {status}): {exc}")


__all__ = [
    "ALLOWED_PATTERNS",
    "FORBIDDEN_PATTERNS",
    "HubModelSource",
    "LocalModelSource",
    "ModelCheckError",
    "ModelInfo",
    "ModelSource",
    "is_allowed_file",
]
