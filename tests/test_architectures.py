"""The architecture table: it agrees with the installed optimum, transformers and diffusers and with the classes
the runner's tasks load, and the submission path reads it without importing any ML library."""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from leaderboard_data.architectures import TABLE_PATH, architecture_table
from leaderboard_data.configs import Pipeline
from runner.build_architectures import TASK_SOURCES, build_table, installed_versions, loader_mapping, render
from runner.tasks import load_task_registry
from tests.helpers_lock import REQUIREMENTS, pins
from tests.test_model_checks import write_model, write_pipeline

REPO_ROOT = Path(__file__).resolve().parent.parent
ML_LIBRARIES = ("torch", "transformers", "diffusers", "optimum")


def _names(mapping: dict[str, str | tuple[str, ...]]) -> set[str]:
    return {n for value in mapping.values() for n in ((value,) if isinstance(value, str) else value)}


def _require_table_built_with_installed_versions() -> None:
    """A table built from other library versions than the installed ones is out of date, whatever it lists: say
    which versions differ and the command that rebuilds it, rather than a difference of architecture names."""
    built_with = json.loads(TABLE_PATH.read_text(encoding="utf-8"))["built_with"]
    installed = installed_versions()
    if built_with != installed:
        differ = ", ".join(
            f"{name} {built_with.get(name)} (table) vs {installed[name]} (installed)"
            for name in installed
            if built_with.get(name) != installed[name]
        )
        pytest.fail(
            f"{TABLE_PATH.name} was built with other library versions: {differ}. Install the committed lock "
            "(./scripts/test does), or after changing the lock run ./scripts/lock, which rebuilds the table "
            "(python -m runner.build_architectures)."
        )


def test_the_table_is_what_the_installed_libraries_give() -> None:
    _require_table_built_with_installed_versions()
    assert TABLE_PATH.read_text(encoding="utf-8") == render(build_table())
    assert json.loads(TABLE_PATH.read_text(encoding="utf-8"))["built_with"]["optimum"].startswith("2.3.")


def test_the_lock_pins_the_versions_the_table_was_built_with() -> None:
    """Under the committed lock the table's versions and the installed ones never differ."""
    locked = pins(REQUIREMENTS / "lock.txt")
    built_with = json.loads(TABLE_PATH.read_text(encoding="utf-8"))["built_with"]
    assert {name: locked.get(name) for name in built_with} == built_with


def test_text_tasks_accept_exactly_their_runner_head_classes() -> None:
    _require_table_built_with_installed_versions()
    registry = load_task_registry()
    table = architecture_table()
    with_heads = [p for p, cls in registry.items() if hasattr(cls, "head_classes")]
    assert set(with_heads) >= {Pipeline.TEXT_GENERATION, Pipeline.SUMMARIZATION, Pipeline.TEXT_CLASSIFICATION}
    for pipeline in with_heads:
        assert table.tasks[pipeline].architectures == _names(registry[pipeline].head_classes), pipeline


@pytest.mark.parametrize("pipeline", [p for p in Pipeline if p != Pipeline.IMAGE_GENERATION])
def test_each_task_is_built_from_the_class_its_runner_loads_with(pipeline: Pipeline) -> None:
    source = TASK_SOURCES[pipeline]
    task_class = load_task_registry()[pipeline]
    auto_class = getattr(task_class, "auto_class", None)
    if auto_class is not None:
        assert auto_class.__name__ == source.loader
    else:  # media tasks import their auto class inside load(); sentence similarity in its encoder
        module = inspect.getmodule(task_class)
        assert module is not None and re.search(rf"\b{source.loader}\b", inspect.getsource(module)), source.loader
    accepted = architecture_table().tasks[pipeline].architectures
    assert accepted and accepted <= _names(loader_mapping(source.loader))


def test_image_generation_accepts_diffusers_text_to_image_pipelines() -> None:
    from diffusers.pipelines.auto_pipeline import AUTO_TEXT2IMAGE_PIPELINES_MAPPING

    accepted = architecture_table().tasks[Pipeline.IMAGE_GENERATION].architectures
    assert accepted == {cls.__name__ for cls in AUTO_TEXT2IMAGE_PIPELINES_MAPPING.values()}
    assert "stable_diffusion" in architecture_table().diffusers_pipeline_modules


SUBMIT_WITHOUT_ML = f"""
import sys
blocked = sys.argv[1] == "blocked"
if blocked:  # as in a venv where they are not installed: import fails, importlib.util.find_spec says None
    for name in {ML_LIBRARIES!r}:
        sys.modules[name] = None
from leaderboard_data.configs import load_task_configs
from leaderboard_data.errors import ModelCheckError
from leaderboard_data.stores import open_stores
from leaderboard_data.submission import submit_model

stores, configs = open_stores("local:" + sys.argv[2]), load_task_configs()
for model_id, task in (("acme/gpt", "text_generation"), ("acme/legacy-sd", "image_generation")):
    receipt = submit_model(stores, configs, model_id, task=task, revision=None, precision=None, submitter="t")
    print("queued", model_id, receipt.checked.num_parameters)
try:
    submit_model(stores, configs, "acme/gpt", task="image_classification", revision=None, precision=None,
                 submitter="t")
except ModelCheckError as error:
    print("refused", error.kind.value)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {ML_LIBRARIES!r} and sys.modules[m] is not None)
print("ml-modules", loaded)
"""


@pytest.mark.parametrize("mode", ["installed", "blocked"])
def test_submission_imports_no_ml_library_and_works_without_them(mode: str, tmp_path: Path) -> None:
    """Found 1: the Space has no transformers or diffusers; a transformers model and an old pipeline whose
    safety_checker names diffusers' own 'stable_diffusion' module are accepted there as a worker accepts them."""
    models = tmp_path / "data" / "models"
    write_model(models / "acme" / "gpt")
    legacy = {"safety_checker": ["stable_diffusion", "StableDiffusionSafetyChecker"]}
    write_pipeline(models / "acme" / "legacy-sd", legacy)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1"}
    run = subprocess.run(
        [sys.executable, "-c", SUBMIT_WITHOUT_ML, mode, str(tmp_path / "data")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.splitlines()
    assert lines[:2] == ["queued acme/gpt 40", "queued acme/legacy-sd 110"]
    assert lines[2] == "refused wrong_task"
    assert lines[3] == "ml-modules []"
