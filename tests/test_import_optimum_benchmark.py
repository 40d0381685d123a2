"""`energy-score import` of optimum-benchmark energy_star reports: the real 0.6.0 report in tests/fixtures,
its mapping (units, provenance, estimated or measured, no interval), its cohort, and every refusal writing nothing.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from leaderboard_data.configs import load_task_configs
from leaderboard_data.imports.optimum_benchmark import (
    MAX_REPORT_BYTES,
    ReportImportError,
    cohort_protocol,
    parse_report,
    report_to_result,
)
from leaderboard_data.results import RESULT_COLUMNS, load_results_frame, part_path, results_to_table
from leaderboard_data.stores.base import AddFile
from runner.cli import main
from tests.helpers_deployment import REPO_ROOT, energy_score, make_deployment
from tests.helpers_results import make_result

FIXTURE = REPO_ROOT / "tests" / "fixtures" / "optimum-benchmark" / "energy_star-text_classification-cpu.json"
CONFIGS = load_task_configs()
MODEL = "demo/bert-classifier-medium-0"
NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def _fixture() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text())


def _to_result(data: dict[str, Any], task: str = "text_classification"):
    report = parse_report(json.dumps(data).encode())
    return report_to_result(
        report,
        CONFIGS[task],
        model_id=MODEL,
        revision="unpinned",
        hardware_class="cpu-amd-epyc-2c",
        submitter="tester",
        num_parameters=None,
        size_class="unknown",
        now=NOW,
    )


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_real_report_maps_to_an_imported_estimated_single_run_result() -> None:
    data = _fixture()
    forward, preprocess = data["report"]["forward"]["energy"], data["report"]["preprocess_dataset"]["energy"]
    result = _to_result(data)

    assert result.source == "imported (optimum-benchmark 0.6)"
    assert result.scored_device == "cpu" and result.device == "cpu"
    # kWh over the pass of 1,000 samples -> Wh per 1,000 queries; the total is preprocess + forward, as native.
    assert result.scored_energy_wh_per_1k == pytest.approx((forward["cpu"] + preprocess["cpu"]) * 1e6 / 1000)
    cpu_forward = result.figure("forward", "cpu")
    assert cpu_forward is not None and cpu_forward.mean_wh_per_1k == pytest.approx(forward["cpu"] * 1e3)
    for figure in result.energy:
        assert figure.repetitions == 1 and figure.std_wh_per_1k == 0 and figure.method == "imported"
        assert figure.measured is False  # no RAPL recorded for the CPU; RAM is always a model
    assert result.figure("total", "gpu") is None
    assert [u.device for u in result.unavailable_meters] == ["gpu"]
    assert result.repetitions == 1 and result.samples == 1000
    provenance = result.provenance or {}
    assert provenance["model"] == MODEL
    assert provenance["backend"]["name"] == "pytorch" and provenance["backend"]["version"] == "2.13.0+cpu"
    assert provenance["scenario"]["num_samples"] == 1000 and provenance["scenario"]["warmup_runs"] == 10
    assert provenance["codecarbon_version"] == "not recorded in the report"
    assert provenance["tool_version"] == "0.6.0"
    assert provenance["protocol_differences"] == []
    assert provenance["cohort_protocol"] == "native"  # 1,000 samples at batch size 1: the native protocol
    assert result.latency_s_mean == pytest.approx(data["report"]["forward"]["latency"]["total"] / 1000)
    # the report holds no model outputs: no quality figure, and the result says why
    assert result.quality is not None and result.quality.value is None and result.quality.metric == "accuracy"
    assert result.quality.note is not None and "no model outputs" in result.quality.note


def test_a_different_workload_gets_its_own_cohort_with_the_differences_named() -> None:
    data = _fixture()
    data["config"]["scenario"]["num_samples"] = 500
    data["config"]["scenario"]["input_shapes"]["batch_size"] = 4
    result = _to_result(data)
    provenance = result.provenance or {}
    assert provenance["cohort_protocol"] == "imported:text_classification,samples=500,batch=4"
    assert provenance["protocol_differences"] == ["500 samples (native: 1000)", "batch size 4 (native: 1)"]
    row = results_to_table([result]).to_pylist()[0]
    assert row["cohort_protocol"] == provenance["cohort_protocol"] and row["source"].startswith("imported")
    # The same kWh over half the samples is twice the energy per query.
    assert result.scored_energy_wh_per_1k == pytest.approx(_to_result(_fixture()).scored_energy_wh_per_1k * 2)


def test_generation_reports_name_output_lengths() -> None:
    data = _fixture()
    data["config"]["backend"]["task"] = "text-generation"
    report = data["report"]
    report["prefill"] = copy.deepcopy(report["forward"])
    report["decode"] = report.pop("forward")
    data["config"]["scenario"]["generate_kwargs"] = {"max_new_tokens": 10, "min_new_tokens": 10}
    parsed = parse_report(json.dumps(data).encode())
    assert cohort_protocol(parsed, CONFIGS["text_generation"]) == "native"
    data["config"]["scenario"]["generate_kwargs"] = {"max_new_tokens": 20, "min_new_tokens": 1}
    result = _to_result(data, "text_generation")
    assert (result.provenance or {})["protocol_differences"] == ["1-20 new tokens (native: 10-10)"]
    assert result.decode_method == "subtracted_by_optimum_benchmark"


def test_a_zero_gpu_reading_on_a_cuda_run_is_refused() -> None:
    data = _fixture()
    data["config"]["backend"]["device"] = "cuda"
    with pytest.raises(ReportImportError, match="zero"):
        _to_result(data)


def test_older_result_files_without_the_new_columns_still_load(tmp_path: Path) -> None:
    from leaderboard_data.stores.local import LocalStore

    store = LocalStore(tmp_path / "results")
    result = make_result(task="text_classification")
    old = results_to_table([result]).drop_columns(["unstable", "source", "cohort_protocol"])
    path = tmp_path / "old.parquet"
    pq.write_table(old, path)
    store.commit(
        [AddFile(part_path(result.task, result.result_id), path.read_bytes())],
        parent_revision=store.revision(),
        message="old",
    )
    frame = load_results_frame(store)
    assert list(frame.columns) == RESULT_COLUMNS
    assert list(frame["source"]) == ["native"] and list(frame["cohort_protocol"]) == ["native"]
    assert list(frame["unstable"]) == [False]


def _write(path: Path, data: Any) -> Path:
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def _bad_inputs(tmp: Path) -> dict[str, tuple[list[str], str]]:
    other = _fixture()
    other["config"]["scenario"]["name"] = "inference"
    negative = _fixture()
    negative["report"]["forward"]["energy"]["cpu"] = -1e-5
    missing = _fixture()
    del missing["report"]["forward"]["energy"]["cpu"]
    no_energy = _fixture()
    no_energy["report"]["forward"]["energy"] = None
    huge = tmp / "huge.json"
    with huge.open("wb") as handle:  # 50 MB, refused from its size before a byte is parsed
        handle.truncate(50 * 2**20)
    good = str(FIXTURE)
    return {
        "malformed": ([str(_write(tmp / "bad.json", '{"config": {'))], "not valid JSON"),
        "other scenario": ([str(_write(tmp / "other.json", other))], "'inference' is not 'energy_star'"),
        "negative": ([str(_write(tmp / "neg.json", negative))], "negative"),
        "missing figure": ([str(_write(tmp / "missing.json", missing))], "report.forward.energy.cpu"),
        "no energy": ([str(_write(tmp / "noenergy.json", no_energy))], "tracked no energy"),
        "bad model id": ([good, "--model", "../../etc/passwd"], "model id"),
        "50 MB": ([str(huge)], f"limit is {MAX_REPORT_BYTES:,}"),
        "wrong task": ([good, "--task", "image_classification"], "not image_classification"),
        "unpinned revision": ([good, "--revision", "main"], "not pinned"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "malformed",
        "other scenario",
        "negative",
        "missing figure",
        "no energy",
        "bad model id",
        "50 MB",
        "wrong task",
        "unpinned revision",
    ],
)
def test_bad_input_gets_one_clear_line_and_writes_nothing(tmp_path: Path, capsys, case: str) -> None:
    deployment = make_deployment(tmp_path / "store")
    args, expected = _bad_inputs(tmp_path)[case]
    argv = ["import", args[0], "--model", MODEL, "--task", "text_classification", *args[1:]]
    before = _tree(deployment.root)
    assert main([*argv, "--store", deployment.spec]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    assert expected in lines[0]
    assert _tree(deployment.root) == before


def test_import_shows_in_results_json_and_twice_adds_nothing(tmp_path: Path) -> None:
    deployment = make_deployment(tmp_path / "store")
    argv = ["import", str(FIXTURE), "--model", MODEL, "--task", "text_classification", "--store", deployment.spec]
    first = energy_score(*argv)
    assert first.returncode == 0, first.stderr
    result_id = first.stdout.strip()
    shown = energy_score("results", "--format", "json", "--store", deployment.spec)
    rows = json.loads(shown.stdout)
    assert [(r["result_id"], r["model_id"], r["source"]) for r in rows] == [
        (result_id, MODEL, "imported (optimum-benchmark 0.6)")
    ]
    assert rows[0]["cohort_protocol"] == "native" and rows[0]["repetitions"] == 1
    assert rows[0]["protocol_differences"] == ""
    assert rows[0]["scored_energy_measured"] is False
    table = energy_score("results", "--store", deployment.spec)
    assert "one run, no interval" in table.stdout

    before = _tree(deployment.root)
    second = energy_score(*argv)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == result_id and "nothing added" in second.stderr
    assert _tree(deployment.root) == before


def test_a_differing_import_is_listed_apart_in_the_results_table(tmp_path: Path) -> None:
    deployment = make_deployment(tmp_path / "store")
    data = _fixture()
    data["config"]["scenario"]["num_samples"] = 200
    report = _write(tmp_path / "benchmark.json", data)
    assert (
        main(["import", str(report), "--model", MODEL, "--task", "text_classification", "--store", deployment.spec])
        == 0
    )
    assert energy_score("results", "--store", deployment.spec).stdout.count("imported (own cohort") == 1
    text = energy_score("results", "--store", deployment.spec).stdout
    assert "differs: 200 samples (native: 1000)" in text
    (row,) = json.loads(energy_score("results", "--format", "json", "--store", deployment.spec).stdout)
    assert row["protocol_differences"] == "200 samples (native: 1000)"
    assert row["cohort_protocol"] == "imported:text_classification,samples=200,batch=1"


def test_a_bare_report_reads_the_config_written_beside_it(tmp_path: Path) -> None:
    data = _fixture()
    alone = tmp_path / "alone"
    alone.mkdir()
    with pytest.raises(ReportImportError, match=r"benchmark_config\.json"):
        parse_report(json.dumps(data["report"]).encode())
    bare = parse_report(json.dumps(data["report"]).encode(), json.dumps(data["config"]).encode())
    assert bare.content_sha256 == parse_report(FIXTURE.read_bytes()).content_sha256


# ---- fuzzing: whatever the bytes, the parser answers with a Result or a ReportImportError, nothing else ----

_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
_JSON = st.recursive(
    _LEAF,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(data, dict):
        return [prefix] + [p for k, v in data.items() for p in _paths(v, (*prefix, k))]
    return [prefix]


_FIXTURE_PATHS = _paths(_fixture())


def _check(content: bytes) -> None:
    try:
        report = parse_report(content)
        result = report_to_result(
            report,
            CONFIGS["text_classification"],
            model_id=MODEL,
            revision="unpinned",
            hardware_class="cpu-x",
            submitter="fuzz",
            num_parameters=None,
            size_class="unknown",
            now=NOW,
        )
    except ReportImportError as exc:
        assert str(exc)
        return
    assert result.scored_energy_wh_per_1k > 0
    assert all(f.mean_wh_per_1k >= 0 for f in result.energy)
    json.loads(result.to_json())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_fuzz_arbitrary_bytes(content: bytes) -> None:
    _check(content)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example([(("config", "backend", "torch_dtype"), [])])  # found by this test: an unhashable dtype
@given(st.lists(st.tuples(st.sampled_from(_FIXTURE_PATHS), _JSON), min_size=1, max_size=4))
def test_fuzz_mutated_real_report(mutations: list[tuple[tuple[Any, ...], Any]]) -> None:
    data = _fixture()
    for path, value in mutations:
        if not path:
            data = value
            continue
        target = data
        for key in path[:-1]:
            if not isinstance(target, dict) or key not in target:
                break
            target = target[key]
        else:
            if isinstance(target, dict):
                target[path[-1]] = value
    _check(json.dumps(data).encode())


def test_on_a_fresh_hub_deployment_a_good_import_creates_the_repositories_a_bad_one_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys, tmp_path: Path
) -> None:
    from leaderboard_data.results import load_results_frame as load
    from leaderboard_data.stores import open_stores
    from tests.hub_server import FakeHub

    with FakeHub() as hub:
        for name, value in hub.env().items():
            monkeypatch.setenv(name, value)
        bad = _write(tmp_path / "bad.json", '{"config": {')
        assert (
            main(["import", str(bad), "--model", MODEL, "--task", "text_classification", "--store", "hub:fresh"]) == 2
        )
        assert not [path for _, path, _ in hub.request_log if path == "/api/repos/create"]
        argv = ["import", str(FIXTURE), "--model", MODEL, "--task", "text_classification", "--store", "hub:fresh"]
        assert main(argv) == 0
        result_id = capsys.readouterr().out.strip().splitlines()[-1]
        assert list(load(open_stores("hub:fresh").results)["result_id"]) == [result_id]
        head = hub.head("fresh/results")
        assert main(argv) == 0 and hub.head("fresh/results") == head  # the second import adds nothing
