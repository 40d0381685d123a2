"""The fake Hub answers the real huggingface_hub client the way the Hub does, including its errors and faults."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from huggingface_hub import CommitOperationAdd, HfApi, constants, hf_hub_download, snapshot_download
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    OfflineModeIsEnabled,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from tests.hub_server import FakeHub, FaultPlan

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with FakeHub(seed=3) as server:
        yield server


def safetensors_header(tensors: dict[str, tuple[str, list[int]]]) -> bytes:
    """A safetensors file holding only its header, which is all the Hub reads to count parameters."""
    header = {
        name: {"dtype": dtype, "shape": shape, "data_offsets": [0, 0]} for name, (dtype, shape) in tensors.items()
    }
    encoded = json.dumps({"__metadata__": {"format": "pt"}, **header}).encode()
    return struct.pack("<Q", len(encoded)) + encoded


def test_model_info_reports_what_submission_checks_read(hub: FakeHub, tmp_path: Path) -> None:
    config = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "auto_map": {"AutoModel": "m.Model"}}
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text(json.dumps({**config, "n_layer": 2}))
    files = {
        "model-1.safetensors": safetensors_header({"w": ("F32", [4, 8]), "b": ("F32", [8])}),
        "model-2.safetensors": safetensors_header({"h": ("BF16", [3, 5])}),
        "README.md": b"---\nlicense: apache-2.0\n---\n# tiny\n",
    }
    sha = hub.add_model_repo(
        "acme/tiny", files, tmp_path / "model", pipeline_tag="text-generation", library_name="transformers"
    )
    info = HfApi(endpoint=hub.url).model_info("acme/tiny")
    assert (info.sha, info.private, info.gated) == (sha, False, False)
    assert (info.pipeline_tag, info.library_name) == ("text-generation", "transformers")
    assert info.config == config
    assert info.safetensors is not None
    assert (info.safetensors.parameters, info.safetensors.total) == ({"F32": 40, "BF16": 15}, 55)
    assert info.card_data is not None and info.card_data.license == "apache-2.0"
    assert sorted(s.rfilename for s in info.siblings or []) == sorted([".gitattributes", "config.json", *files])
    assert HfApi(endpoint=hub.url).model_info("acme/tiny", revision=sha).sha == sha


def test_downloads_work_through_hf_hub_download_and_snapshot_download(hub: FakeHub, tmp_path: Path) -> None:
    first = hub.add_model_repo("acme/tiny", {"config.json": b'{"v": 1}', "sub/w.bin": b"\x00" * 100})
    second = hub.upload_files("acme/tiny", {"config.json": b'{"v": 2}'}, repo_type="model")
    cache = tmp_path / "cache"
    old = hf_hub_download("acme/tiny", "config.json", revision=first, endpoint=hub.url, cache_dir=cache)
    new = hf_hub_download("acme/tiny", "config.json", endpoint=hub.url, cache_dir=cache)
    assert Path(old).read_bytes() == b'{"v": 1}' and Path(new).read_bytes() == b'{"v": 2}'
    folder = Path(snapshot_download("acme/tiny", revision=second, endpoint=hub.url, cache_dir=cache))
    assert (folder / "sub" / "w.bin").read_bytes() == b"\x00" * 100
    with pytest.raises(RemoteEntryNotFoundError):
        hf_hub_download("acme/tiny", "absent.json", endpoint=hub.url, cache_dir=cache)
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download("acme/tiny", "config.json", revision="f" * 40, endpoint=hub.url, cache_dir=cache)


def test_file_answers_carry_the_headers_the_client_needs_and_ranges(hub: FakeHub) -> None:
    sha = hub.add_model_repo("acme/tiny", {"data.bin": bytes(range(10))})
    url = f"{hub.url}/acme/tiny/resolve/main/data.bin"
    head = httpx2.head(url)
    assert head.status_code == 200 and head.headers["X-Repo-Commit"] == sha
    assert head.headers["Content-Length"] == "10" and head.headers["ETag"].strip('"')
    assert not any(name.lower().startswith("x-xet") for name in head.headers)
    part = httpx2.get(url, headers={"Range": "bytes=4-"})
    assert part.status_code == 206 and part.content == bytes(range(4, 10))
    assert part.headers["Content-Range"] == "bytes 4-9/10"


def test_private_gated_unknown_repos_and_bad_tokens_answer_like_the_hub(hub: FakeHub, tmp_path: Path) -> None:
    hub.add_model_repo("acme/secret", {"config.json": b"{}"}, private=True)
    hub.add_model_repo("acme/gated", {"config.json": b"{}"}, gated=True)
    anonymous, owner = HfApi(endpoint=hub.url, token=False), HfApi(endpoint=hub.url, token=hub.token)
    with pytest.raises(RepositoryNotFoundError):
        anonymous.model_info("acme/secret")
    assert owner.model_info("acme/secret").private is True
    with pytest.raises(RepositoryNotFoundError) as missing:
        anonymous.model_info("acme/missing")
    assert missing.value.response is not None and missing.value.response.status_code == 404
    assert anonymous.model_info("acme/gated").gated == "manual"
    with pytest.raises(GatedRepoError):
        hf_hub_download("acme/gated", "config.json", endpoint=hub.url, token=False, cache_dir=tmp_path)
    assert hf_hub_download("acme/gated", "config.json", endpoint=hub.url, token=hub.token, cache_dir=tmp_path)
    with pytest.raises(HfHubHTTPError) as rejected:
        HfApi(endpoint=hub.url, token="hf_wrong").model_info("acme/gated")
    assert rejected.value.response is not None and rejected.value.response.status_code == 401
    assert not isinstance(rejected.value, RepositoryNotFoundError)


def test_commits_are_parent_checked_and_history_is_content_addressed(hub: FakeHub) -> None:
    api = HfApi(endpoint=hub.url, token=hub.token)
    api.create_repo("acme/data", repo_type="dataset")
    api.create_repo("acme/data", repo_type="dataset", exist_ok=True)
    base = api.dataset_info("acme/data").sha
    assert base is not None
    added = CommitOperationAdd("a/b.json", b"1")
    first = api.create_commit("acme/data", [added], commit_message="one", repo_type="dataset", parent_commit=base).oid
    with pytest.raises(HfHubHTTPError) as stale:
        api.create_commit(
            "acme/data", [CommitOperationAdd("c", b"2")], commit_message="two", repo_type="dataset", parent_commit=base
        )
    assert stale.value.response is not None and stale.value.response.status_code == 412
    assert api.list_repo_files("acme/data", repo_type="dataset", revision=base) == [".gitattributes"]
    assert api.list_repo_files("acme/data", repo_type="dataset", revision=first) == [".gitattributes", "a/b.json"]
    assert [c.commit_id for c in api.list_repo_commits("acme/data", repo_type="dataset")] == [first, base]
    assert len(first) == 40 and hub.commit_count("acme/data") == 1
    assert hub.commit_messages("acme/data") == [("one", ""), ("initial commit", "")]


def test_fault_plans_are_seeded_and_counted(hub: FakeHub) -> None:
    hub.add_model_repo("acme/tiny", {"config.json": b"{}"})

    def outcomes() -> list[int]:
        statuses = []
        with httpx2.Client() as client:
            for _ in range(30):
                try:
                    statuses.append(client.get(f"{hub.url}/api/models/acme/tiny").status_code)
                except httpx2.TransportError:
                    statuses.append(0)
        return statuses

    plan = FaultPlan(rate_limit_rate=0.2, server_error_rate=0.2, drop_rate=0.2, seed=5)
    hub.faults = plan
    first = outcomes()
    hub.faults = plan
    assert outcomes() == first
    assert {0, 200, 429} <= set(first) and set(first) & {500, 502, 503}
    counts = hub.fault_counts
    assert counts["drop_before"] == 2 * first.count(0) and counts["rate_limit"] == 2 * first.count(429)


def test_only_the_fake_hub_is_reachable_and_offline_mode_comes_back(tmp_path: Path) -> None:
    before = constants.HF_HUB_OFFLINE
    with FakeHub() as hub:
        hub.add_model_repo("acme/tiny", {"config.json": b"{}"})
        assert HfApi(endpoint=hub.url).model_info("acme/tiny").sha
        with pytest.raises(OfflineModeIsEnabled):
            HfApi(endpoint="https://huggingface.co").model_info("gpt2")
    assert before == constants.HF_HUB_OFFLINE


_INCREMENTS = textwrap.dedent(
    """
    import sys
    from leaderboard_data.errors import ConflictError
    from leaderboard_data.stores.base import AddFile
    from leaderboard_data.stores.hub import HubStore

    store, done = HubStore(sys.argv[1], create=False, backoff_s=0.01), 0
    while done < int(sys.argv[2]):
        parent = store.revision()
        count = int(store.read_file("counter", parent))
        try:
            store.commit([AddFile("counter", str(count + 1).encode())], parent_revision=parent, message="+1")
            done += 1
        except ConflictError:
            pass
    """
)


def test_processes_share_one_hub_over_http(hub: FakeHub) -> None:
    hub.upload_files("acme/counter", {"counter": b"0"})
    processes, increments = 2, 5
    env = {**os.environ, **hub.env()}
    children = [
        subprocess.Popen([sys.executable, "-c", _INCREMENTS, "acme/counter", str(increments)], cwd=ROOT, env=env)
        for _ in range(processes)
    ]
    assert [child.wait(timeout=120) for child in children] == [0] * processes
    assert hub.read_file("acme/counter", "counter") == str(processes * increments).encode()
    assert hub.commit_count("acme/counter") == processes * increments + 1
