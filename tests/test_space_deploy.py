"""The Space repository built from the checkout runs on its own: the app imports the data layer and configs it
carries, not the installed ones."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from space.deploy import SPACE_REQUIREMENTS, build_space_folder

CHECKOUT = Path(__file__).resolve().parent.parent


def test_space_folder_holds_the_app_its_data_layer_and_configs(tmp_path: Path) -> None:
    folder = build_space_folder(CHECKOUT, tmp_path / "space-repo")
    front_matter = yaml.safe_load((folder / "README.md").read_text().split("---")[1])
    assert front_matter["sdk"] == "gradio" and front_matter["app_file"] == "space/app.py"
    assert front_matter["hf_oauth"] is True
    assert (folder / "configs" / "text_generation.yaml").is_file()
    assert (folder / "requirements.txt").read_text().split() == list(SPACE_REQUIREMENTS)
    assert not any("torch" in line for line in SPACE_REQUIREMENTS)

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
