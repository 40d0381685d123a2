"""Model sources: the local folder of models (content hashes, revisions, downloads) and the Hub (against the
local fake Hub, through the real huggingface_hub client)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from leaderboard_data import model_source
from leaderboard_data.configs import TaskConfig, load_task_configs
from leaderboard_data.errors import ModelCheckError, TransientStoreError
from leaderboard_data.model_checks import check_model, inspect_model_folder
from leaderboard_data.model_files import ModelInfo, list_model_files
from leaderboard_data.model_source import HubModelSource, LocalModelSource, is_allowed_file
from leaderboard_data.records import ErrorKind
from tests.hub_server import FakeHub, FaultPlan
from tests.test_model_checks import GPT2_CONFIG, write_model, write_pipeline

CARD = b"---\nlicense: mit\npipeline_tag: text-generation\n---\n# tiny\n"
EXTRAS = {
    "README.md": CARD,
    "tokenizer.json": b"{}",
    "vocab.txt": b"a\nb\n",
    "pytorch_model.bin": b"pickle",
    "handler.py": b"raise SystemExit('never run')\n",
    ".gitattributes": b"*.bin lfs\n",
}


@pytest.fixture(scope="module")
def configs() -> dict[str, TaskConfig]:
    return load_task_configs()


@pytest.fixture
def source(tmp_path: Path) -> LocalModelSource:
    return LocalModelSource(tmp_path / "models")


def built(tmp_path: Path, name: str = "build", **kwargs) -> Path:
    return write_model(tmp_path / name, **kwargs)


def expect(kind: ErrorKind, call, *args) -> ModelCheckError:
    with pytest.raises(ModelCheckError) as caught:
        call(*args)
    assert caught.value.kind == kind, str(caught.value)
    return caught.value


# --- local source -------------------------------------------------------------------------------------------


def test_content_hash_is_stable_and_independent_of_where_the_model_lives(tmp_path: Path) -> None:
    folder = built(tmp_path, files={"README.md": CARD})
    first = LocalModelSource(tmp_path / "one").add_model("acme/tiny", folder)
    again = LocalModelSource(tmp_path / "one").add_model("acme/tiny", folder)
    elsewhere = LocalModelSource(tmp_path / "two").add_model("other", folder)
    assert re.fullmatch(r"[0-9a-f]{64}", first)
    assert first == again == elsewhere
    assert LocalModelSource(tmp_path / "one").info("acme/tiny").sha == first


@pytest.mark.parametrize("change", ["edit", "rename", "add"])
def test_any_content_change_gives_another_hash(change: str, tmp_path: Path, source: LocalModelSource) -> None:
    folder = built(tmp_path, files={"README.md": CARD})
    before = source.add_model("acme/tiny", folder)
    if change == "edit":
        (folder / "README.md").write_bytes(CARD + b"x")
    elif change == "rename":
        (folder / "README.md").rename(folder / "MODEL_CARD.md")
    else:
        (folder / "extra.txt").write_bytes(b"")
    assert source.add_model("acme/tiny", folder) != before


def test_dot_files_do_not_count(tmp_path: Path, source: LocalModelSource) -> None:
    folder = built(tmp_path)
    before = source.add_model("acme/tiny", folder)
    (folder / ".gitattributes").write_text("*.safetensors lfs")
    (folder / ".cache").mkdir()
    (folder / ".cache" / "x").write_text("y")
    assert source.add_model("acme/tiny", folder) == before
    assert not (source.model_dir("acme/tiny") / ".gitattributes").exists()


def test_info_describes_the_local_model(tmp_path: Path, source: LocalModelSource) -> None:
    sha = source.add_model("acme/tiny", built(tmp_path, files={"README.md": CARD}))
    info = source.info("acme/tiny", sha)
    assert info == ModelInfo(
        model_id="acme/tiny",
        sha=sha,
        private=False,
        gated=False,
        pipeline_tag="text-generation",
        library_name="transformers",
        files=("README.md", "config.json", "model.safetensors"),
        config=GPT2_CONFIG,
        num_parameters=40,
    )


def test_models_without_an_org_and_pipelines_are_found(tmp_path: Path, source: LocalModelSource) -> None:
    source.add_model("tiny-sd", write_pipeline(tmp_path / "sd"))
    info = source.info("tiny-sd")
    assert info.library_name == "diffusers"
    assert info.config is not None and info.config["_class_name"] == "StableDiffusionPipeline"
    assert info.num_parameters == 110
    assert (tmp_path / "models" / "tiny-sd" / "model_index.json").is_file()


def test_a_revision_other_than_the_current_hash_is_not_found(tmp_path: Path, source: LocalModelSource) -> None:
    source.add_model("acme/tiny", built(tmp_path))
    error = expect(ErrorKind.NOT_FOUND, source.info, "acme/tiny", "0" * 64)
    assert "revision" in str(error) and "not found" in str(error) and "acme/tiny" in str(error)


@pytest.mark.parametrize("model_id", ["acme/missing", "../escape", "a/b/c", "acme/..", ""])
def test_missing_or_invalid_ids_are_not_found(model_id: str, tmp_path: Path, source: LocalModelSource) -> None:
    source.add_model("acme/tiny", built(tmp_path))
    expect(ErrorKind.NOT_FOUND, source.info, model_id)
    assert not source.has_model("acme/missing")


def test_add_model_replaces_the_earlier_model_whole(tmp_path: Path, source: LocalModelSource) -> None:
    first = source.add_model("acme/tiny", built(tmp_path, "a", files={"old.txt": b"old"}))
    second = source.add_model("acme/tiny", built(tmp_path, "b", config={**GPT2_CONFIG, "n_layer": 2}))
    assert first != second and source.has_model("acme/tiny")
    assert "old.txt" not in source.info("acme/tiny").files
    assert list((tmp_path / "models" / ".incoming").iterdir()) == []


def test_download_without_dest_is_the_folder_itself_once_the_hash_matches(
    tmp_path: Path, source: LocalModelSource
) -> None:
    sha = source.add_model("acme/tiny", built(tmp_path))
    assert source.download("acme/tiny", sha) == tmp_path / "models" / "acme" / "tiny"
    (tmp_path / "models" / "acme" / "tiny" / "config.json").write_text("{}")
    expect(ErrorKind.NOT_FOUND, source.download, "acme/tiny", sha)


def test_download_to_dest_copies_only_allowed_files(tmp_path: Path, source: LocalModelSource) -> None:
    sha = source.add_model("acme/tiny", built(tmp_path, files=EXTRAS))
    dest = source.download("acme/tiny", sha, tmp_path / "dl")
    assert dest == tmp_path / "dl"
    assert list_model_files(dest) == ("README.md", "config.json", "model.safetensors", "tokenizer.json", "vocab.txt")
    with pytest.raises(ValueError):
        source.download("acme/tiny", sha, dest)


def test_download_to_dest_of_a_changed_model_leaves_nothing(tmp_path: Path, source: LocalModelSource) -> None:
    sha = source.add_model("acme/tiny", built(tmp_path))
    (tmp_path / "models" / "acme" / "tiny" / "vocab.txt").write_text("new")
    expect(ErrorKind.NOT_FOUND, source.download, "acme/tiny", sha, tmp_path / "dl")
    assert not (tmp_path / "dl").exists()


def test_local_models_pass_the_same_checks_as_hub_models(tmp_path: Path, source: LocalModelSource, configs) -> None:
    sha = source.add_model("acme/tiny", built(tmp_path))
    checked = check_model(source.info("acme/tiny"), configs["text_generation"])
    assert (checked.sha, checked.num_parameters, checked.size_class) == (sha, 40, "A")


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("model.safetensors", True),
        ("unet/diffusion_pytorch_model.safetensors", True),
        ("tokenizer_config.json", True),
        ("merges.txt", True),
        ("spiece.model", True),
        ("README.md", True),
        ("pytorch_model.bin", False),
        ("model.ckpt", False),
        ("weights.pt", False),
        ("weights.pth", False),
        ("data.pkl", False),
        ("tokenizer.py", False),
        ("flax_model.msgpack", False),
    ],
)
def test_allowed_files(path: str, allowed: bool) -> None:
    assert is_allowed_file(path) is allowed


def test_forbidden_files_stay_out_even_if_an_allowed_pattern_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_source, "ALLOWED_PATTERNS", ("*",))
    assert is_allowed_file("config.json")
    assert not is_allowed_file("sub/pytorch_model.bin") and not is_allowed_file("modeling.py")


# --- Hub source, against the local fake Hub ------------------------------------------------------------------


@pytest.fixture
def hub():
    with FakeHub() as server:
        yield server


def hub_source(hub: FakeHub, tmp_path: Path, token: str | None = "use-hub-token") -> HubModelSource:
    chosen = hub.token if token == "use-hub-token" else token
    return HubModelSource(endpoint=hub.url, token=chosen, cache_dir=tmp_path / "hf-cache")


def test_hub_info_pins_the_revision_and_reads_the_config(hub: FakeHub, tmp_path: Path, configs) -> None:
    sha = hub.add_model_repo(
        "acme/tiny", folder=built(tmp_path), pipeline_tag="text-generation", library_name="transformers"
    )
    hub.upload_files("acme/tiny", {"README.md": CARD}, repo_type="model")
    source = hub_source(hub, tmp_path)
    info = source.info("acme/tiny", sha)
    assert (info.sha, info.private, info.gated) == (sha, False, False)
    assert (info.pipeline_tag, info.library_name) == ("text-generation", "transformers")
    assert info.config == GPT2_CONFIG and info.num_parameters == 40
    assert info.files == ("config.json", "model.safetensors")
    latest = source.info("acme/tiny")
    assert latest.sha == hub.head("acme/tiny", "model") != sha and "README.md" in latest.files
    assert check_model(info, configs["text_generation"]).sha == sha


def test_hub_pipelines_count_their_components(hub: FakeHub, tmp_path: Path, configs) -> None:
    hub.add_model_repo("acme/sd", folder=write_pipeline(tmp_path / "sd"), library_name="diffusers")
    info = hub_source(hub, tmp_path).info("acme/sd")
    assert info.config is not None and info.config["_class_name"] == "StableDiffusionPipeline"
    assert info.num_parameters == 10 * 10 + 5 * 2  # unet once (not its fp16 variant) plus the text encoder
    assert check_model(info, configs["image_generation"]).architecture == "StableDiffusionPipeline"


def test_hub_private_models_are_refused(hub: FakeHub, tmp_path: Path, configs) -> None:
    hub.add_model_repo("acme/secret", folder=built(tmp_path), private=True)
    anonymous = hub_source(hub, tmp_path, token=None)
    error = expect(ErrorKind.NOT_FOUND, anonymous.info, "acme/secret")
    assert "does not exist or is private" in str(error)
    owner_view = hub_source(hub, tmp_path).info("acme/secret")
    assert owner_view.private and owner_view.config is None
    expect(ErrorKind.NOT_FOUND, check_model, owner_view, configs["text_generation"])


def test_hub_gated_models_are_refused(hub: FakeHub, tmp_path: Path, configs) -> None:
    sha = hub.add_model_repo("acme/gated", folder=built(tmp_path), gated=True)
    info = hub_source(hub, tmp_path).info("acme/gated")
    assert info.gated
    expect(ErrorKind.GATED, check_model, info, configs["text_generation"])
    expect(ErrorKind.GATED, hub_source(hub, tmp_path, token=None).download, "acme/gated", sha, tmp_path / "dl")


def test_hub_missing_models_and_revisions_are_not_found(hub: FakeHub, tmp_path: Path) -> None:
    hub.add_model_repo("acme/tiny", folder=built(tmp_path))
    source = hub_source(hub, tmp_path)
    expect(ErrorKind.NOT_FOUND, source.info, "acme/missing")
    error = expect(ErrorKind.NOT_FOUND, source.info, "acme/tiny", "0" * 40)
    assert "revision" in str(error)


def test_hub_network_failures_are_transient(hub: FakeHub, tmp_path: Path) -> None:
    hub.add_model_repo("acme/tiny", folder=built(tmp_path))
    source = hub_source(hub, tmp_path)
    hub.faults = FaultPlan(server_error_rate=1.0, endpoints=frozenset({"info"}))
    with pytest.raises(TransientStoreError):
        source.info("acme/tiny")
    hub.faults = FaultPlan(drop_rate=1.0, endpoints=frozenset({"info"}))
    with pytest.raises(TransientStoreError):
        source.info("acme/tiny")


def test_hub_download_fetches_only_allowed_files_into_a_folder_that_loads(
    hub: FakeHub, tmp_path: Path, configs
) -> None:
    import torch
    from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    model = GPT2LMHeadModel(
        GPT2Config(n_layer=1, n_embd=8, n_head=2, vocab_size=32, n_positions=16, bos_token_id=0, eos_token_id=0)
    )
    model.save_pretrained(tmp_path / "gpt2")
    files = {"pytorch_model.bin": b"pickle", "modeling_gpt2.py": b"raise SystemExit\n", "README.md": CARD}
    sha = hub.add_model_repo("acme/gpt2", files=files, folder=tmp_path / "gpt2")
    source = hub_source(hub, tmp_path)

    dest = source.download("acme/gpt2", sha, tmp_path / "dl")
    assert list_model_files(dest) == ("README.md", "config.json", "generation_config.json", "model.safetensors")
    cached = source.download("acme/gpt2", sha)
    assert list_model_files(cached) == list_model_files(dest)
    assert tmp_path / "hf-cache" in cached.parents

    checked = inspect_model_folder(dest, "acme/gpt2", sha, configs["text_generation"])
    assert checked.num_parameters == sum(p.numel() for p in model.parameters())  # tied lm_head stored once
    loaded = AutoModelForCausalLM.from_pretrained(dest, use_safetensors=True)
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    assert json.loads((dest / "config.json").read_text())["n_layer"] == 1
