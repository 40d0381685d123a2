"""The Space repository built from the checkout runs on its own: the app imports the data layer and configs it
carries, not the installed ones, and works in a venv built from its requirements.txt alone."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from gradio_client import Client

from space.deploy import SPACE_LOCK, build_space_folder
from tests.helpers_deployment import energy_score
from tests.helpers_lock import REQUIREMENTS, pins
from tests.test_model_checks import write_model, write_pipeline

CHECKOUT = Path(__file__).resolve().parent.parent


def test_space_folder_holds_the_app_its_data_layer_and_configs(tmp_path: Path) -> None:
    folder = build_space_folder(CHECKOUT, tmp_path / "space-repo")
    front_matter = yaml.safe_load((folder / "README.md").read_text().split("---")[1])
    assert front_matter["sdk"] == "gradio" and front_matter["app_file"] == "space/app.py"
    assert front_matter["hf_oauth"] is True
    assert (folder / "configs" / "text_generation.yaml").is_file()
    assert (folder / "requirements.txt").read_text() == (CHECKOUT / SPACE_LOCK).read_text()

    probe = (
        "import importlib.util as u;"
        "spec = u.spec_from_file_location('app', 'space/app.py'); app = u.module_from_spec(spec);"
        "spec.loader.exec_module(app);"
        "import leaderboard_data, leaderboard_data.configs as c;"
        "print(leaderboard_data.__file__); print(len(c.load_task_configs()))"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run(
        [sys.executable, "-I", "-c", probe], cwd=folder, capture_output=True, text=True, env=env, timeout=300
    )
    assert run.returncode == 0, run.stderr[-2000:]
    module_file, task_count = run.stdout.split()[-2:]
    assert module_file.startswith(str(folder))
    assert task_count == "11"


def test_the_space_runs_exact_versions_of_the_project_lock() -> None:
    """Each rebuild of the Space installs what the tests passed with: every requirement is pinned, to the version
    the project's lock holds, and no ML library is among them."""
    space_pins = pins(CHECKOUT / SPACE_LOCK)
    lock_pins = pins(REQUIREMENTS / "lock.txt")
    assert {"gradio", "huggingface-hub", "pandas", "pyarrow", "pydantic"} <= set(space_pins)
    assert {name: lock_pins.get(name) for name in space_pins} == space_pins
    assert not set(space_pins) & {"torch", "transformers", "diffusers", "optimum", "datasets"}


# --- the deployed Space, in the environment its requirements.txt alone builds -----------------------------------

ML_LIBRARIES = ("torch", "transformers", "diffusers", "optimum", "datasets")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(url: str, app: subprocess.Popen[str], timeout_s: float = 240) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if app.poll() is not None:
            raise AssertionError(
                f"the Space exited with {app.returncode}: {app.stdout.read()[-3000:] if app.stdout else ''}"
            )
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise AssertionError(f"the Space did not answer at {url} within {timeout_s:.0f} s")


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_the_deployed_space_accepts_submissions_in_its_own_environment(tmp_path: Path) -> None:
    """Found 1: the Space's venv holds requirements.txt alone (no dev extras, no editable install, no torch); a
    transformers model and an old diffusers pipeline are queued through the running app, a model shipping code
    is refused, and no answer names a server path."""
    space = tmp_path / "space-repo"
    built = energy_score("deploy-space", "acme/space", "--dry-run", str(space))
    assert built.returncode == 0, built.stderr

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "-r", str(space / "requirements.txt")],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    for library in ML_LIBRARIES:
        probe = subprocess.run([str(python), "-c", f"import {library}"], capture_output=True, text=True, timeout=120)
        assert probe.returncode != 0 and "ModuleNotFoundError" in probe.stderr, f"{library} is installed"

    store = tmp_path / "server" / "energy-score-data"
    models = store / "models" / "acme"
    write_model(models / "gpt")
    write_pipeline(models / "legacy-sd", {"safety_checker": ["stable_diffusion", "StableDiffusionSafetyChecker"]})
    write_model(models / "with-code", files={"modeling_custom.py": b"raise SystemExit('never run')\n"})

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SPACE_ID", "VIRTUAL_ENV")}
    env.update(
        ENERGY_SCORE_STORE=f"local:{store}",
        GRADIO_SERVER_PORT=str(port),
        GRADIO_ANALYTICS_ENABLED="False",
        HF_HUB_OFFLINE="1",
        HF_HUB_DISABLE_TELEMETRY="1",
    )
    app = subprocess.Popen(
        [str(python), "-I", "space/app.py"],
        cwd=space,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        _wait_for(url, app)
        client = Client(url, verbose=False)
        answers = {
            model_id: str(client.predict(model_id, task, "task default", api_name="/submit"))
            for model_id, task in (
                ("acme/gpt", "text_generation"),
                ("acme/legacy-sd", "image_generation"),
                ("acme/with-code", "text_generation"),
            )
        }
    finally:
        app.terminate()
        app.wait(timeout=60)
        shutil.rmtree(venv)  # about 700 MB; pip's cache keeps the wheels for the next run
    assert answers["acme/gpt"].startswith("**Queued**") and "40 parameters" in answers["acme/gpt"], answers
    assert answers["acme/legacy-sd"].startswith("**Queued**") and "110 parameters" in answers["acme/legacy-sd"]
    assert answers["acme/with-code"].startswith("**Not queued:**") and "remote code" in answers["acme/with-code"]
    assert not any(str(tmp_path) in answer for answer in answers.values())

    listed = energy_score("queue", "--store", f"local:{store}", "--format", "json")
    rows = json.loads(listed.stdout)
    assert sorted((r["model_id"], r["task"], r["status"]) for r in rows) == [
        ("acme/gpt", "text_generation", "PENDING"),
        ("acme/legacy-sd", "image_generation", "PENDING"),
    ]
