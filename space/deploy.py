"""Turn this checkout into a Hugging Face Space repository, and push it.

A Space runs `app_file` from its repository root and installs its `requirements.txt`. The app needs the data
layer and the task configs beside it, so the Space holds `space/`, `leaderboard_data/` and `configs/` unchanged,
a root README carrying `space/README.md`'s front matter with `app_file: space/app.py`, and the requirements of
the Space alone (no torch: the Space never benchmarks), pinned to the versions of the project's lock, so a rebuild
of the Space on any day runs what the tests passed with.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

SPACE_LOCK = Path("requirements") / "space.txt"
"""The Space's requirements, relative to the checkout: what it imports (requirements/space.in: no torch,
transformers, diffusers or datasets) resolved by `./scripts/lock` to the exact versions of the project's lock.
tests/test_space_deploy.py installs exactly this file into a fresh venv and submits through the running app."""
PACKAGES = ("space", "leaderboard_data", "configs")


def build_space_folder(checkout: Path, target: Path) -> Path:
    """Write the Space repository's files from `checkout` into the empty folder `target`."""
    if target.exists() and any(target.iterdir()):
        raise FileExistsError(f"{target} is not empty")
    for name in PACKAGES:
        shutil.copytree(checkout / name, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    card = (checkout / "space" / "README.md").read_text(encoding="utf-8")
    card, count = re.subn(r"(?m)^app_file: .*$", "app_file: space/app.py", card, count=1)
    if count != 1:
        raise ValueError("space/README.md has no app_file line in its front matter")
    (target / "README.md").write_text(card, encoding="utf-8")
    shutil.copyfile(checkout / SPACE_LOCK, target / "requirements.txt")
    return target


def push_space(folder: Path, repo_id: str, *, token: str | None = None, endpoint: str | None = None) -> str:
    """Create the Space if needed and upload `folder` as one commit; returns the commit's URL."""
    from huggingface_hub import HfApi

    api = HfApi(endpoint=endpoint, token=token)
    api.create_repo(repo_id, repo_type="space", space_sdk="gradio", exist_ok=True)
    commit = api.upload_folder(folder_path=folder, repo_id=repo_id, repo_type="space", commit_message="Deploy")
    return str(commit.commit_url)
