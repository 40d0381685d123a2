"""Unit tests of the Space's pieces: columns, escaping, data views, carbon, label, texts."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from leaderboard_data.configs import load_task_configs
from space import about, carbon, data, plots
from space import columns as C
from space.escape import escape_markdown, hub_url, model_link
from space.label import HEIGHT, WIDTH, LabelInfo, label_info, label_png
from tests.helpers_results import make_result, make_results
from tests.helpers_space import local_stores, publish, run_as_a_space

TASKS = ("text_generation", "image_classification", "text_classification")


@pytest.fixture(scope="module")
def configs():
    return load_task_configs()


@pytest.fixture(scope="module")
def source(tmp_path_factory, configs):
    root = tmp_path_factory.mktemp("space-units")
    stores = local_stores(root)
    results = make_results(60, 3, TASKS)
    results.append(make_result(model_id="evil/x-script", task="text_classification", scored_energy_wh_per_1k=0.5))
    publish(stores, results, configs)
    return data.LeaderboardData(stores, configs)


def test_columns_have_unique_labels_and_sortable_keys():
    labels = C.labels(C.LEADERBOARD_COLUMNS)
    assert len(labels) == len(set(labels))
    assert C.by_label(C.ENERGY.label) is C.ENERGY
    assert all(c.sort_key for c in C.SORTABLE_COLUMNS)
    assert C.datatypes(C.LEADERBOARD_COLUMNS)[labels.index(C.MODEL.label)] == "markdown"


@pytest.mark.parametrize(
    "text",
    ["<script>alert(1)</script>", "[x](javascript:alert(1))", "$$\\frac{1}{2}$$", "a'b\"c&d", "**bold** _i_"],
)
def test_escape_markdown_leaves_no_markup(text):
    escaped = escape_markdown(text)
    assert "<" not in escaped and ">" not in escaped and '"' not in escaped
    for special in "[]()*_$":
        assert escaped.count(special) == escaped.count("\\" + special)


def test_model_link_escapes_text_and_encodes_url():
    link = model_link("org/<b>x</b>")
    assert link.startswith("[org/&lt;b&gt;x&lt;/b&gt;](")
    assert hub_url("org/a b") == "https://huggingface.co/org/a%20b"
    assert hub_url("org/x)y") == "https://huggingface.co/org/x%29y"


def test_stars_text_and_formatting():
    assert data.stars_text(3, "") == "★★★☆☆"
    assert data.stars_text(pd.NA, "cohort too small (2 of 5)") == "cohort too small (2 of 5)"
    assert data.stars_text(None, "") == "not rated"
    assert data.sig(0.000123456) == 0.0001235
    assert data.sig(12345.6) == 12350
    assert data.interval_text(1.0, None) == "n/a"
    assert data.interval_text(0.1234567, 0.2) == "0.1235 – 0.2"


def test_snapshot_is_cached_by_revision(source):
    first = source.refresh()
    assert source.refresh() is first
    assert first.thresholds_published
    assert set(first.tasks) == set(TASKS)


def test_task_view_filters_and_sorts(source):
    snap = source.snapshot()
    frame = snap.task_frame("text_generation")
    default = data.filter_task_frame(frame, data.ViewFilter())
    energies = default["scored_energy_wh_per_1k"].tolist()
    assert energies == sorted(energies)
    by_params = data.filter_task_frame(frame, data.ViewFilter(sort_by=C.PARAMETERS.label, descending=True))
    params = by_params["num_parameters"].tolist()
    assert params == sorted(params, reverse=True)
    only_b = data.filter_task_frame(frame, data.ViewFilter(size_classes=("B",)))
    assert len(only_b) and set(only_b["size_class"]) == {"B"}
    cpu = data.filter_task_frame(frame, data.ViewFilter(hardware=("cpu-x86_64-16",)))
    assert set(cpu["hardware_class"]) == {"cpu-x86_64-16"}
    assert set(cpu[C.SCORED_ON.label]) == {"CPU, estimated"}
    some = frame["model_id"].iloc[0]
    searched = data.filter_task_frame(frame, data.ViewFilter(query=some.upper()))
    assert some in set(searched["model_id"])
    table = data.task_table(default)
    assert list(table.columns) == C.labels(C.LEADERBOARD_COLUMNS)


def test_every_row_says_measured_or_estimated_and_rating(source):
    table = data.task_table(
        data.filter_task_frame(source.snapshot().task_frame("image_classification"), data.ViewFilter())
    )
    assert table[C.METERS.label].str.contains("measured|estimated").all()
    assert table[C.RATING.label].str.match(r"^(★+☆*|cohort too small \(\d+ of 5\)|.+)$").all()
    assert (table[C.CONFIG.label] == load_task_configs()["image_classification"].config_version).all()


def test_empty_task_frame_renders(source, configs):
    snap = source.snapshot()
    rows = data.filter_task_frame(snap.task_frame("image_generation"), data.ViewFilter(query="x"))
    assert rows.empty
    assert "No results" in data.task_summary(snap, "image_generation", 0, configs["image_generation"])
    figure = plots.energy_vs_parameters(rows, "empty")
    assert figure.layout.annotations[0].text == "No results for this task yet"


def test_model_view_and_phases(source, configs):
    snap = source.snapshot()
    rows = data.model_rows(snap, "evil/x-script")
    assert len(rows) == 1
    table = data.model_table(rows, configs)
    assert table[C.TASK.label].tolist() == ["Text classification"]
    row = data.find_result(snap, rows["result_id"].iloc[0])
    assert row is not None
    phases = data.phases_frame(row["phases_json"])
    assert list(phases["phase"]) == ["prefill", "decode"]
    assert list(phases["method"]) == ["window", "window"]  # records from before figures named their method
    figure = plots.phases_bar(phases, "phases")
    assert {t.name for t in figure.data} == {"GPU"}
    assert list(figure.data[0].text) == ["own window", "own window"]
    split = plots.phases_bar(phases.assign(method=["time_attributed", "subtracted"]), "phases")
    assert list(split.data[0].text) == ["split by time", "difference of windows"]
    assert "split by time" in split.data[0].customdata[0]


def test_energy_plot_is_log_log_and_hover_escaped():
    frame = pd.DataFrame(
        {
            "model_id": ["<img src=x>", "b/c"],
            "scored_energy_wh_per_1k": [0.5, 2.0],
            "scored_device": ["gpu", "gpu"],
            "num_parameters": [1e6, 1e9],
            "hardware_class": ["h", "h"],
            "config_version": ["1.0", "1.0"],
            "stars": pd.array([5, None], dtype="Int64"),
        }
    )
    figure = plots.energy_vs_parameters(frame, "t")
    assert figure.layout.xaxis.type == "log" and figure.layout.yaxis.type == "log"
    assert {t.name for t in figure.data} == {"★★★★★", "not rated"}
    assert "&lt;img src=x&gt;" in figure.data[0].text[0]


def test_queue_table_positions_and_reasons(configs):
    from datetime import UTC, datetime, timedelta

    from leaderboard_data.records import ErrorKind, Lease, Request, RequestStatus

    base = datetime(2025, 1, 1, tzinfo=UTC)

    def request(i: int, status: RequestStatus, **extra) -> Request:
        return Request(
            request_id=f"req{i:08d}",
            model_id=f"org/m{i}",
            revision="a" * 40,
            task="text_classification",
            precision="float32",
            submitter=f"user{i % 2}",
            submitted_at=base + timedelta(minutes=i),
            updated_at=base + timedelta(minutes=i),
            status=status,
            **extra,
        )

    lease = Lease(worker_id="worker-7", claimed_at=base, expires_at=base + timedelta(hours=1))
    requests = [
        request(1, RequestStatus.PENDING),
        request(2, RequestStatus.PENDING),
        request(3, RequestStatus.RUNNING, lease=lease),
        request(4, RequestStatus.FAILED, error_kind=ErrorKind.OUT_OF_MEMORY, error_message="<b>CUDA OOM</b>"),
        request(5, RequestStatus.FINISHED, result_id="abcdef0123"),
    ]
    table = data.queue_table(requests, configs, base + timedelta(minutes=30))
    assert table[C.Q_STATUS.label].tolist() == ["RUNNING", "PENDING", "PENDING", "FAILED", "FINISHED"]
    details = table[C.Q_DETAIL.label].tolist()
    assert details[0].startswith("running on worker-7 since 2025-01-01 00:00")
    # user1 has a running request, so user0's later submission (req2) goes first.
    assert table[C.Q_REQUEST_ID.label].tolist()[1:3] == ["req00000002", "req00000001"]
    assert details[1:3] == ["#1 in the queue", "#2 in the queue"]
    assert details[3] == "out_of_memory: <b>CUDA OOM</b>"  # a 'str' cell: gr.Dataframe shows it as text
    assert details[4] == "result abcdef0123"


def test_grid_regions_come_from_codecarbon():
    regions = carbon.grid_regions()
    assert regions[carbon.WORLD].g_co2e_per_kwh == 475
    assert regions["country:FRA"].g_co2e_per_kwh == pytest.approx(56.039)
    assert regions["us:california"].g_co2e_per_kwh == pytest.approx(394.769 * 0.45359237)
    assert any(key.startswith("cloud:") for key in regions)
    assert any(key.startswith("ca:") for key in regions)
    assert all(r.g_co2e_per_kwh >= 0 and r.source for r in regions.values())
    assert carbon.region_choices()[0][1] == carbon.WORLD


def test_co2_and_equivalents():
    france = carbon.grid_regions()["country:FRA"]
    grams = carbon.co2e_grams(1000.0, france)
    assert grams == pytest.approx(56.039)
    counts = dict((e.name, n) for e, n in carbon.equivalents(120.0, 249.0))
    assert counts["smartphone charges"] == pytest.approx(10.0)
    assert counts["km driven by a petrol car"] == pytest.approx(1.0)


def test_carbon_markdown_states_factor_and_sources(source):
    snap = source.snapshot()
    row = data.find_result(snap, snap.task_frame("text_classification")["result_id"].iloc[0])
    text = carbon.carbon_markdown(row, carbon.grid_regions()["country:FRA"])
    assert "g CO2e per 1,000 queries" in text and "56 g CO2e/kWh" in text
    plain = text.replace("\\", "")
    assert "Power Hungry Processing" in plain and "global_energy_mix.json" in plain


def _info(**overrides) -> LabelInfo:
    fields = dict(
        model_id="org/some-rather-long-model-name-that-wraps-v2",
        task_title="Text generation",
        hardware="nvidia-h100-80gb",
        energy_wh_per_1k=1.234,
        ci_low=1.2,
        ci_high=1.27,
        scored_on="scored on GPU, measured",
        stars=4,
        rating_note="",
        date="2025-01-31",
        config_version="1.0",
        precision="float16",
    )
    fields.update(overrides)
    return LabelInfo(**fields)


@pytest.mark.parametrize("scale", [1, 2])
def test_label_png_size(scale):
    image = Image.open(io.BytesIO(label_png(_info(), scale=scale)))
    assert image.format == "PNG" and image.size == (WIDTH * scale, HEIGHT * scale)


def test_label_differs_by_stars_and_draws_unrated():
    rated = label_png(_info(stars=5))
    unrated = label_png(_info(stars=None, rating_note="cohort too small (2 of 5)"))
    assert rated != unrated
    top = Image.open(io.BytesIO(unrated)).convert("RGB").getpixel((WIDTH, 10))
    assert top == (0x6B, 0x72, 0x80)  # the grey band of an unrated label


def test_label_info_from_row(source, tmp_path: Path):
    snap = source.snapshot()
    row = data.find_result(snap, snap.task_frame("text_generation")["result_id"].iloc[0])
    info = label_info(row, "Text generation")
    assert info.model_id == row["model_id"] and info.energy_wh_per_1k == row["scored_energy_wh_per_1k"]
    assert info.stars is None or 1 <= info.stars <= 5
    (tmp_path / "label.png").write_bytes(label_png(info))


def test_about_texts(source, configs):
    snap = source.snapshot()
    stars = about.stars_markdown(snap.thresholds, snap.thresholds_published)
    assert "text\\_classification/" in stars and "ratings/thresholds.json" in stars
    table = about.configs_markdown(configs)
    assert all(f"`{task}`" in table for task in configs)
    snippet = about.dataset_snippet("/tmp/x/results", "text_generation")
    assert "load_dataset('/tmp/x/results', 'text_generation', split=\"train\")" in snippet


def test_submission_needs_login_on_a_space(monkeypatch, tmp_path, configs):
    from space import submit

    stores = local_stores(tmp_path)
    monkeypatch.delenv("SPACE_ID", raising=False)
    assert not submit.login_required(stores)
    assert submit.submitter_name(None, require_login=False)  # the local user
    monkeypatch.setenv("SPACE_ID", "org/space")
    assert submit.login_required(stores)
    assert submit.submitter_name(None, require_login=True) is None
    assert submit.submitter_name("alice", require_login=True) == "alice"
    answer = submit.handle_submission(stores, configs, "acme/x", "text_classification", "float32", None)
    assert "log in" in answer and "Not queued" in answer


def test_space_app_has_login_button_on_a_space(monkeypatch, tmp_path, configs):
    import gradio as gr

    from space.app import build_app

    run_as_a_space(monkeypatch)
    demo = build_app(local_stores(tmp_path), configs, refresh_s=0)
    assert any(isinstance(block, gr.LoginButton) for block in demo.blocks.values())
    monkeypatch.delenv("SPACE_ID")
    monkeypatch.delenv("SYSTEM")
    demo = build_app(local_stores(tmp_path), configs, refresh_s=0)
    assert not any(isinstance(block, gr.LoginButton) for block in demo.blocks.values())


def test_rate_limit_answer_says_how_long_to_wait(monkeypatch, tmp_path, configs):
    from leaderboard_data.errors import RateLimitedError
    from space import submit

    def refuse(*args, **kwargs):
        raise RateLimitedError("<b>alice</b> used 10 of 10 submissions in 24 hours", retry_after_s=3700)

    monkeypatch.setattr(submit, "submit_model", refuse)
    answer = submit.handle_submission(local_stores(tmp_path), configs, "acme/x", "text_classification", "", "alice")
    assert "Try again in 1 hour 1 minute" in answer
    assert "&lt;b&gt;alice&lt;/b&gt;" in answer and "<b>" not in answer


def test_the_submit_tab_says_how_long_a_gathered_submission_waits():
    from space.about import submit_window_note

    assert submit_window_note(0) == ""
    note = submit_window_note(600)
    assert "10 minutes" in note and "commit limit" in note
