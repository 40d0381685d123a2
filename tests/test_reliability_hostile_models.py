"""Hostile models through the real worker, and hostile data: every hostile model is refused with its reason
before anything of it is loaded (no code or pickle of it ever runs), a good request in the same queue finishes;
a damaged results file is reported by path and does not stop publishing; any config file either loads or is a
ConfigError naming the file."""

from __future__ import annotations

import copy
import io
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leaderboard_data.configs import load_task_config
from leaderboard_data.errors import ConfigError, RecordValidationError
from leaderboard_data.queue import outbox_path
from leaderboard_data.records import ErrorKind, RequestStatus
from leaderboard_data.results import (
    ResultsPublisher,
    load_results_frame,
    part_path,
    results_to_table,
    table_to_parquet,
)
from leaderboard_data.stores import LocalStore
from leaderboard_data.stores.base import AddFile
from tests.helpers_reliability import (
    HOSTILE_KINDS,
    MARKER_ENV,
    audit,
    hostile_model,
    local_rig,
    trap_module,
    trap_pickle,
)
from tests.helpers_results import make_result, make_results

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_worker_refuses_every_hostile_model_before_loading_it(tmp_path: Path) -> None:
    rig = local_rig(tmp_path / "store")
    marker = tmp_path / "MARKER"
    good = rig.tiny_model()
    expected: dict[str, ErrorKind] = {}
    for variant, kind in HOSTILE_KINDS.items():
        model_id = f"evil/{variant.replace('_', '-')}"
        folder = hostile_model(good, tmp_path / "hostile" / variant, variant, marker)
        expected[rig.submit(model_id, rig.add_model(model_id, folder))] = kind
    # Safetensors beside a booby-trapped pickle pass the checks; the loader must read only the safetensors.
    decoy = tmp_path / "hostile" / "decoy"
    shutil.copytree(good, decoy)
    (decoy / "pytorch_model.bin").write_bytes(trap_pickle(marker))
    finishing = [rig.submit("evil/decoy", rig.add_model("evil/decoy", decoy)), *rig.submit_copies(1, "acme/good")]

    worker = rig.worker("--exit-when-empty", worker_id="w")
    assert worker.wait(600) == 0

    requests = {r.request_id: r for r in rig.queue().list_requests()}
    for request_id, kind in expected.items():
        request = requests[request_id]
        assert request.status == RequestStatus.FAILED, request
        assert request.error_kind == kind, (request.model_id, request.error_message)
        assert request.model_id in (request.error_message or "")
    assert all(requests[r].status == RequestStatus.FINISHED for r in finishing)
    assert not marker.exists()
    end = audit(rig, [*expected, *finishing])
    assert end.clean and end.results == 2


def test_the_traps_are_live(tmp_path: Path) -> None:
    """The hostile models' code and pickles do leave the marker when run: their absence above means something."""
    marker = tmp_path / "unpickled"
    pickle.loads(trap_pickle(marker))
    assert marker.exists()
    imported = tmp_path / "imported"
    (tmp_path / "modeling_trap.py").write_text(trap_module(tmp_path / "never"))
    env = {**os.environ, MARKER_ENV: str(imported)}
    subprocess.run([sys.executable, "-c", "import modeling_trap"], cwd=tmp_path, env=env, check=True)
    assert imported.exists() and not (tmp_path / "never").exists()


# --- damaged results files ----------------------------------------------------------------------------------------


def _publish_one(requests: LocalStore, results: LocalStore, configs: dict[str, Any]) -> tuple[str, ResultsPublisher]:
    result = make_result(task="text_classification")
    path = outbox_path(result.task, result.result_id)
    requests.commit([AddFile(path, result.to_json().encode())], parent_revision=requests.revision(), message="o")
    publisher = ResultsPublisher(requests, results, configs, compact_after=1)
    return result.result_id, publisher


def test_a_damaged_results_file_is_reported_and_publishing_goes_on(tmp_path: Path) -> None:
    rig = local_rig(tmp_path / "store")
    requests, results = rig.stores.requests, rig.stores.results
    assert isinstance(requests, LocalStore) and isinstance(results, LocalStore)
    first, publisher = _publish_one(requests, results, rig.configs)
    assert publisher.publish_pending() == [first]
    good = table_to_parquet(results_to_table([make_result(task="text_classification")]))
    damaged = part_path("text_classification", "0123456789abcdef")
    results.commit([AddFile(damaged, good[: len(good) // 2])], parent_revision=results.revision(), message="bad")

    with pytest.raises(RecordValidationError, match=damaged):
        load_results_frame(results)

    second, publisher = _publish_one(requests, results, rig.configs)
    assert publisher.publish_pending() == [second]  # compact_after=1: compaction ran too, around the damaged file
    assert publisher.damaged == [damaged]
    assert damaged in results.list_files("data/")  # left in place for a person to look at
    results.commit([AddFile(damaged, good)], parent_revision=results.revision(), message="repair")
    assert {first, second} <= set(load_results_frame(results)["result_id"])


GOOD_PARQUET = table_to_parquet(results_to_table(make_results(3, seed=1, tasks=("text_classification",))))


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_any_damage_to_a_results_file_is_a_record_validation_error_naming_it(data: st.DataObject) -> None:
    raw = bytearray(GOOD_PARQUET)
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    else:
        for _ in range(data.draw(st.integers(1, 16))):
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    path = part_path("text_classification", "feedfacecafe0000")
    with tempfile.TemporaryDirectory() as folder:
        store = LocalStore(Path(folder))
        store.commit([AddFile(path, bytes(raw))], parent_revision=store.revision(), message="fuzz")
        try:
            frame = load_results_frame(store)
        except RecordValidationError as error:
            assert path in str(error)
        else:  # parquet has no checksums: damage to values or to a row count in the footer can go unnoticed
            assert len(frame) <= 3


def test_a_file_with_a_foreign_schema_is_named(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "results")
    buffer = io.BytesIO()
    pq.write_table(pa.table({"\u00e9": [1]}), buffer)
    path = part_path("text_classification", "0badc0de0badc0de")
    store.commit([AddFile(path, buffer.getvalue())], parent_revision=store.revision(), message="foreign")
    with pytest.raises(RecordValidationError, match=path):
        load_results_frame(store)


# --- config files -----------------------------------------------------------------------------------------------

BASE_CONFIG = yaml.safe_load((REPO_ROOT / "configs" / "text_generation.yaml").read_text(encoding="utf-8"))
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=12), st.dates()
)
KEYS = st.one_of(st.text(max_size=10), st.integers(), st.booleans(), st.none())
VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3), max_leaves=8
)


def _mutate(config: dict[Any, Any], data: st.DataObject) -> dict[Any, Any]:
    for _ in range(data.draw(st.integers(1, 4))):
        target = config
        nested = [k for k, v in config.items() if isinstance(v, dict) and v]
        descend: bool = data.draw(st.booleans())
        if nested and descend:
            target = config[data.draw(st.sampled_from(sorted(nested, key=str)))]
        action = data.draw(st.sampled_from(["delete", "replace", "add"]))
        if action == "delete" and target:
            del target[data.draw(st.sampled_from(sorted(target, key=str)))]
        elif action == "replace" and target:
            target[data.draw(st.sampled_from(sorted(target, key=str)))] = data.draw(VALUES)
        else:
            target[data.draw(KEYS)] = data.draw(VALUES)
    return config


def _load_or_config_error(text: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "text_generation.yaml"
        path.write_bytes(text)
        try:
            load_task_config(path)
        except ConfigError as error:
            assert str(error).startswith(f"{path}: "), error


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_any_config_mapping_loads_or_is_a_config_error_naming_file_and_field(data: st.DataObject) -> None:
    config = _mutate(copy.deepcopy(BASE_CONFIG), data)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "text_generation.yaml"
        path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        try:
            load_task_config(path)
        except ConfigError as error:
            message = str(error)
            assert message.startswith(f"{path}: field '"), message


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_any_bytes_as_a_config_file_load_or_are_a_config_error(raw: bytes) -> None:
    _load_or_config_error(raw)


@pytest.mark.parametrize(
    "text",
    [
        b"task: \xff\xfe\n",  # not UTF-8
        b"x: " + b"[" * 5000 + b"]" * 5000,  # nested past the recursion limit
        b"? [a, b]\n: c\n",  # unhashable key
        b"!!python/object/apply:os.system ['touch /tmp/x']\n",  # a tag that would run code
        b"a: &a [1, 2]\nb: &b [*a, *a]\nc: &c [*b, *b]\nd: [*c, *c, *c]\n",  # aliases
    ],
)
def test_hostile_config_files_are_config_errors(tmp_path: Path, text: bytes) -> None:
    path = tmp_path / "text_generation.yaml"
    path.write_bytes(text)
    with pytest.raises(ConfigError) as error:
        load_task_config(path)
    assert str(error.value).startswith(f"{path}: ")
