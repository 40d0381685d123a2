"""The fake Hub answers the real huggingface_hub client the way the Hub does, including its errors and faults."""

from __future__ import annotations

import hashlib
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

from tests.hub_limits import AcceleratedClock, HubLimits, ManualClock
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
    sha = hub.add_model_repo("acme/tiny", {"data.txt": bytes(range(10))})
    url = f"{hub.url}/acme/tiny/resolve/main/data.txt"
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


# --- binary files through LFS -------------------------------------------------------------------------------------


def test_binary_files_take_the_lfs_flow_and_download_through_the_cdn(hub: FakeHub, tmp_path: Path) -> None:
    api = HfApi(endpoint=hub.url, token=hub.token)
    api.create_repo("acme/data", repo_type="dataset")
    table = b"PAR1" + bytes(range(256)) * 8
    binary_json = b'{"a": "\x00"}'  # not an LFS pattern, but the sample the client sends shows a binary file
    operations = [
        CommitOperationAdd("t/x.parquet", table),
        CommitOperationAdd("odd.json", binary_json),
        CommitOperationAdd("a.json", b"{}"),
    ]
    first = api.create_commit("acme/data", operations, commit_message="m", repo_type="dataset").oid
    calls = [(method, path.split("/")[-1] if "lfs-storage" in path else path) for method, path, _ in hub.request_log]
    batch, verify = "/datasets/acme/data.git/info/lfs/objects/batch", "/datasets/acme/data.git/info/lfs/objects/verify"
    assert calls[1:3] == [("POST", "/api/datasets/acme/data/preupload/main"), ("POST", batch)]
    uploads = [("PUT", hashlib.sha256(content).hexdigest()) for content in (table, binary_json)]
    assert sorted(calls[3:-1]) == sorted([*uploads, ("POST", verify), ("POST", verify)])  # two files in parallel
    assert calls[-1] == ("POST", "/api/datasets/acme/data/commit/main")
    infos = {
        f.path: f for f in api.get_paths_info("acme/data", ["t/x.parquet", "odd.json", "a.json"], repo_type="dataset")
    }
    assert infos["t/x.parquet"].lfs is not None and infos["t/x.parquet"].lfs.sha256 == hashlib.sha256(table).hexdigest()
    assert infos["odd.json"].lfs is not None and infos["a.json"].lfs is None
    assert hub.read_file("acme/data", "t/x.parquet") == table

    url = f"{hub.url}/datasets/acme/data/resolve/{first}/t/x.parquet"
    redirect = httpx2.head(url, follow_redirects=False)
    assert redirect.status_code == 302 and redirect.headers["X-Repo-Commit"] == first
    assert redirect.headers["X-Linked-Etag"] == f'"{hashlib.sha256(table).hexdigest()}"'
    assert redirect.headers["X-Linked-Size"] == str(len(table))
    assert redirect.headers["Location"].startswith(hub.cdn_url) and not hub.cdn_url.startswith(hub.url)
    path = hf_hub_download("acme/data", "t/x.parquet", repo_type="dataset", endpoint=hub.url, cache_dir=tmp_path)
    assert Path(path).read_bytes() == table
    assert any(p.startswith("/cdn-lfs/") for _, p, _ in hub.request_log)

    before = len(hub.request_log)  # the same bytes again, at another path: stored once, never uploaded twice
    api.create_commit(
        "acme/data", [CommitOperationAdd("u/y.parquet", table)], commit_message="copy", repo_type="dataset"
    )
    assert not any("lfs-storage" in p for _, p, _ in hub.request_log[before:])
    assert hub.read_file("acme/data", "u/y.parquet") == table


def test_commits_that_skip_lfs_are_refused_like_the_hub_does(hub: FakeHub) -> None:
    head = hub.upload_files("acme/data", {"a.json": b"{}"})
    headers = {"Authorization": f"Bearer {hub.token}", "Content-Type": "application/x-ndjson"}
    url = f"{hub.url}/api/datasets/acme/data/commit/main"

    def commit(entry: dict[str, object]) -> httpx2.Response:
        lines = [{"key": "header", "value": {"summary": "s", "parentCommit": head}}, entry]
        return httpx2.post(url, content="\n".join(json.dumps(line) for line in lines), headers=headers)

    inline = commit({"key": "file", "value": {"path": "w.bin", "encoding": "base64", "content": "AAEC"}})
    assert inline.status_code == 400 and "binary" in inline.json()["error"]
    pointer = {"path": "w.parquet", "algo": "sha256", "oid": "0" * 64, "size": 3}
    missing = commit({"key": "lfsFile", "value": pointer})
    assert missing.status_code == 422 and "does not exist" in missing.json()["error"]
    assert hub.head("acme/data") == head


# --- the Hub's limits ---------------------------------------------------------------------------------------------


def test_the_default_limits_are_the_hubs() -> None:
    assert HubLimits() == HubLimits(
        commits_per_hour=128, api_calls_per_window=1000, resolves_per_window=5000, window_s=300, commit_window_s=3600
    )
    with FakeHub() as hub:
        assert hub.limits == HubLimits()


def test_the_129th_commit_in_an_hour_gets_the_hubs_429_until_the_hour_has_passed() -> None:
    clock = ManualClock()
    with FakeHub(clock=clock) as hub:
        hub.create_repo("acme/queue")
        for n in range(128):  # other writers' commits count as the Hub counts them
            hub.upload_files("acme/queue", {"n.txt": str(n).encode()})
            clock.advance(10)
        api = HfApi(endpoint=hub.url, token=hub.token)
        refused = CommitOperationAdd("n.txt", b"129")
        with pytest.raises(HfHubHTTPError) as limited:
            api.create_commit("acme/queue", [refused], commit_message="129", repo_type="dataset")
        response = limited.value.response
        assert response is not None and response.status_code == 429
        wait = 3600 - 1280  # the first commit of the hour leaves it 3600 s after it landed
        assert "RateLimit" not in response.headers and "Retry-After" not in response.headers  # its text says it
        message = response.json()["error"]
        assert message.startswith("You have exceeded the rate limit for repository commits (128 per hour).")
        assert f"retry this action in {-(-wait // 60)} minutes" in message
        assert hub.commit_count("acme/queue") == 128
        clock.advance(wait - 1)
        with pytest.raises(HfHubHTTPError):
            api.create_commit(
                "acme/queue", [CommitOperationAdd("n.txt", b"129")], commit_message="x", repo_type="dataset"
            )
        clock.advance(1)
        api.create_commit("acme/queue", [CommitOperationAdd("n.txt", b"129")], commit_message="ok", repo_type="dataset")
        counters = hub.counters()
        assert counters.commits("acme/queue") == 129 and counters.max_commits_per_window("acme/queue") == 128
        assert counters.limit_hits == {"commits": 2}


def test_api_calls_and_resolves_are_limited_per_token_and_window() -> None:
    clock = ManualClock(start=1100.0)  # 200 s into the window that started at 900 s, 100 s before the next
    limits = HubLimits(api_calls_per_window=5, resolves_per_window=3)  # the real 1,000 and 5,000, scaled down
    with FakeHub(limits=limits, clock=clock) as hub:
        hub.upload_files("acme/data", {"a.json": b"{}"})
        owner = {"Authorization": f"Bearer {hub.token}"}
        with httpx2.Client(base_url=hub.url) as client:
            assert [client.get("/api/datasets/acme/data", headers=owner).status_code for _ in range(6)] == [200] * 5 + [
                429
            ]
            limited = client.get("/api/datasets/acme/data", headers=owner)
            assert limited.headers["RateLimit"] == '"api";r=0;t=100' and limited.headers["Retry-After"] == "100"
            assert client.get("/api/datasets/acme/data").status_code == 200  # another token has its own budget
            resolve = "/datasets/acme/data/resolve/main/a.json"
            assert [client.get(resolve, headers=owner).status_code for _ in range(4)] == [200] * 3 + [429]
            with pytest.raises(HfHubHTTPError, match="rate limit"):
                HfApi(endpoint=hub.url, token=hub.token).dataset_info("acme/data")
            clock.advance(100)
            assert client.get("/api/datasets/acme/data", headers=owner).status_code == 200
        counters = hub.counters()
        assert counters.api_calls[(owner["Authorization"], 900.0)] == 5
        assert (
            counters.api_calls[("anonymous", 900.0)] == 1 and counters.api_calls[(owner["Authorization"], 1200.0)] == 1
        )
        assert counters.resolves == {(owner["Authorization"], 900.0): 3}
        assert counters.max_api_calls_per_window == 5 and counters.max_resolves_per_window == 3
        assert counters.limit_hits == {"api": 3, "resolves": 1}


def test_an_accelerated_clock_lives_through_a_window_in_a_fraction_of_a_second() -> None:
    clock = AcceleratedClock(factor=3000.0)  # a 5-minute window lasts 0.1 s
    with FakeHub(limits=HubLimits(api_calls_per_window=1), clock=clock) as hub:
        hub.upload_files("acme/data", {"a.json": b"{}"})
        with httpx2.Client(base_url=hub.url) as client:
            # However slow this machine is, a call answered 429 names a wait that the accelerated sleep covers.
            answers = [client.get("/api/datasets/acme/data") for _ in range(50)]
            for limited in (answer for answer in answers if answer.status_code == 429):
                wait = int(limited.headers["Retry-After"])
                assert 1 <= wait <= 300
        before = clock.now()
        clock.sleep(300)
        assert clock.now() - before >= 299.9  # a lower bound only: real sleeps may overrun, never undershoot
