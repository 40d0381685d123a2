"""`energy-score verify` end to end on a local store: a worker publishes a result of a tiny model, another worker
re-measures it with `verify` and with `run --verify-share`, the verification records load with
`datasets.load_dataset(folder, "verifications")`, and the Space's model view shows the count in chromium."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"

import datasets

from leaderboard_data.results import load_results_frame
from leaderboard_data.verifications import load_verifications_frame
from tests.helpers_deployment import REPO_ROOT, Deployment, energy_score, make_deployment, worker_command
from tests.helpers_space import free_port

pytestmark = pytest.mark.slow

TASK = "text_classification"
MODEL = "acme/classifier"
CLASS = "cpu-verify-test"
CHROMIUM = Path("/usr/bin/chromium")


def _worker(deployment: Deployment, worker_id: str, *extra: str) -> subprocess.CompletedProcess[str]:
    command = worker_command(
        deployment.spec,
        "--exit-when-empty",
        "--samples",
        "3",
        "--repetitions",
        "2",
        "--poll",
        "0.2",
        "--hardware-class",
        CLASS,
        "--worker-id",
        worker_id,
        *extra,
    )
    run = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=REPO_ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    return run


@pytest.fixture(scope="module")
def verified(tmp_path_factory: pytest.TempPathFactory) -> dict:
    deployment = make_deployment(tmp_path_factory.mktemp("verify") / "store")
    deployment.add_dataset(TASK)
    deployment.add_model(MODEL, TASK)
    deployment.submit(MODEL, TASK)
    _worker(deployment, "worker-a")
    (result_id,) = load_results_frame(deployment.stores.results)["result_id"]

    matching = energy_score(
        "verify", result_id, "--hardware-class", CLASS, "--worker-id", "verifier-b", "--store", deployment.spec
    )
    assert matching.returncode == 0, matching.stderr[-3000:]
    other = energy_score(
        "verify",
        result_id,
        "--hardware-class",
        "another-class",
        "--worker-id",
        "verifier-c",
        "--store",
        deployment.spec,
    )
    assert other.returncode == 0, other.stderr[-3000:]
    after_cli = len(load_verifications_frame(deployment.stores.results))
    own = _worker(deployment, "worker-a", "--verify-share", "0.5")  # its own result is the only one: nothing
    after_own = len(load_verifications_frame(deployment.stores.results))
    share = _worker(deployment, "worker-d", "--verify-share", "0.5")
    return {
        "deployment": deployment,
        "result_id": result_id,
        "matching": matching.stdout,
        "other": other.stdout,
        "after_cli": after_cli,
        "after_own": after_own,
        "own_log": own.stderr,
        "share_log": share.stderr,
    }


def _lines(stdout: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in stdout.strip().splitlines())


def test_verify_prints_one_figure_per_line_and_publishes_on_matching_hardware(verified: dict) -> None:
    lines = _lines(verified["matching"])
    assert list(lines)[:6] == [
        "published",
        "remeasured",
        "ratio",
        "within_published_interval",
        "intervals_overlap",
        "hardware_match",
    ]
    assert "Wh per 1,000 queries" in lines["published"] and "worker worker-a" in lines["published"]
    assert "worker verifier-b" in lines["remeasured"] and "estimated" in lines["remeasured"]
    assert float(lines["ratio"]) > 0
    assert lines["within_published_interval"] in ("yes", "no") and lines["intervals_overlap"] in ("yes", "no")
    assert lines["hardware_match"].startswith("yes")
    assert lines["verification"].endswith("published")
    # the re-run's outputs are scored again: the same queries on the same samples give the same quality
    assert lines["quality"].startswith("published accuracy") and lines["quality"].endswith(": agrees")

    other = _lines(verified["other"])
    assert other["hardware_match"].startswith("no (another-class vs cpu-verify-test)")
    assert other["verification"].startswith("not published")
    assert verified["after_cli"] == 1  # the other hardware class published nothing


def test_workers_verify_others_results_within_their_share_never_their_own(verified: dict) -> None:
    assert verified["after_own"] == 1, verified["own_log"][-2000:]
    frame = load_verifications_frame(verified["deployment"].stores.results)
    assert sorted(frame["verifier_worker_id"]) == ["verifier-b", "worker-d"], verified["share_log"][-2000:]
    assert set(frame["result_id"]) == {verified["result_id"]}
    assert set(frame["published_worker_id"]) == {"worker-a"}


def test_verification_records_load_with_datasets(verified: dict, tmp_path: Path) -> None:
    folder = str(verified["deployment"].stores.results.location)
    split = datasets.load_dataset(folder, "verifications", split="train", cache_dir=str(tmp_path / "cache"))
    assert split.num_rows == 2
    row = split[0]
    assert row["result_id"] == verified["result_id"] and row["hardware_class"] == CLASS
    assert row["verdict"] in ("agrees", "disagrees")
    assert row["ratio"] == pytest.approx(row["remeasured_wh_per_1k"] / row["published_wh_per_1k"])
    results = datasets.load_dataset(folder, TASK, split="train", cache_dir=str(tmp_path / "cache"))
    assert results.num_rows == 1  # the published result is never replaced


def test_verify_refuses_when_the_config_moved_on(verified: dict, tmp_path: Path) -> None:
    configs = tmp_path / "configs"
    shutil.copytree(REPO_ROOT / "configs", configs)
    path = configs / f"{TASK}.yaml"
    path.write_text(re.sub(r'^config_version: ".*"$', 'config_version: "99.0"', path.read_text(), flags=re.M))
    deployment = verified["deployment"]
    run = energy_score(
        "verify", verified["result_id"], "--store", deployment.spec, env={"ENERGY_SCORE_CONFIGS": str(configs)}
    )
    assert run.returncode == 2
    assert "moved on to 99.0" in run.stderr and run.stdout == ""
    missing = energy_score("verify", "0123456789abcdef", "--store", deployment.spec)
    assert missing.returncode == 2 and "no published result" in missing.stderr


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")
def test_the_space_model_view_shows_the_verification_count(verified: dict) -> None:
    from playwright.sync_api import sync_playwright

    from leaderboard_data.configs import load_task_configs
    from space.app import CSS, THEME, build_app
    from tests.test_space_browser import ARGS, ARTIFACTS

    demo = build_app(verified["deployment"].stores, load_task_configs(), refresh_s=0)
    port = free_port()
    demo.launch(
        prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, ssr_mode=False, theme=THEME, css=CSS
    )
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/", wait_until="load", timeout=60_000)
            page.get_by_role("tab", name="Model").click()  # the only model is the Model tab's initial choice
            heading = page.locator("text=acme/classifier").locator("visible=true").first
            heading.wait_for(state="visible", timeout=30_000)
            badge = page.locator("text=verified 2×").locator("visible=true").first
            badge.wait_for(state="visible", timeout=30_000)
            assert "agreement" in badge.inner_text()
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "space-model-verified.png"), full_page=True)
            browser.close()
    finally:
        demo.close()
