"""A deployment for reliability tests and the soak benchmark: a short benchmark protocol, many copies of one tiny
real model, hostile model folders, real worker processes, and an audit of the end state.

The protocol is shortened through config copies (ENERGY_SCORE_CONFIGS): no warm-up, one repetition, windows of
a fraction of a second. What is under test is the pipeline around the benchmark, which runs unchanged.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import struct
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import yaml

from leaderboard_data.configs import TaskConfig, load_task_configs
from leaderboard_data.model_source import HubModelSource, LocalModelSource
from leaderboard_data.queue import RequestQueue, SubmissionQuota
from leaderboard_data.records import ErrorKind, RequestStatus
from leaderboard_data.results import ResultsPublisher, load_results_frame
from leaderboard_data.stores import Stores, open_stores
from leaderboard_data.stores.hub import HubStore
from runner.zoo import build_model, write_dataset
from tests.hub_server import FakeHub

REPO_ROOT = Path(__file__).resolve().parent.parent
TINY_TASK = "text_classification"
"""The cheapest task to benchmark with a tiny real model on CPU."""
WORKER_ARGS = ("--samples", "1", "--repetitions", "1")
MARKER_ENV = "ENERGY_SCORE_TEST_MARKER"


def fast_configs(folder: Path, datasets_root: Path | None = None, timeouts: Mapping[str, float] | None = None) -> Path:
    """Copies of configs/*.yaml with a short CPU protocol; datasets read from `datasets_root/<task>` if given."""
    folder.mkdir(parents=True, exist_ok=True)
    for source in sorted((REPO_ROOT / "configs").glob("*.yaml")):
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
        data.update(warmup_runs=0, repetitions=1)
        data["min_window_s"]["cpu"] = 0.2
        data["idle_baseline_s"]["cpu"] = 0.1
        if datasets_root is not None:
            data["dataset"]["path"] = str(datasets_root / data["task"])
        if timeouts and data["task"] in timeouts:
            data["timeout_s"] = timeouts[data["task"]]
        (folder / source.name).write_text(yaml.safe_dump(data), encoding="utf-8")
    return folder


def child_env(extra: Mapping[str, str] | None = None, *, offline: bool = True) -> dict[str, str]:
    """The environment of a worker process: offline unless it talks to a local fake Hub."""
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1", **(extra or {})}
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    else:
        env.pop("HF_HUB_OFFLINE", None)
    return env


@dataclass
class Rig:
    """One deployment (local folder or fake Hub) with a short protocol, seen from the test process."""

    root: Path
    spec: str
    stores: Stores
    configs: dict[str, TaskConfig]
    env: dict[str, str]
    hub: FakeHub | None = None
    _tiny: dict[str, Path] = field(default_factory=dict)

    def queue(self, lease_s: float = 600.0) -> RequestQueue:
        return RequestQueue(
            self.stores.requests, self.configs, quota=SubmissionQuota(max_requests=100_000), lease_s=lease_s
        )

    def tiny_model(self, task: str = TINY_TASK) -> Path:
        """A tiny real model for `task`, built once per rig."""
        if task not in self._tiny:
            self._tiny[task] = build_model(self.configs[task].pipeline, self.root / "built" / task, size="tiny")
        return self._tiny[task]

    def add_model(self, model_id: str, folder: Path) -> str:
        """Publish a model folder as `model_id` (no checks) and return its revision."""
        if self.hub is not None:
            return self.hub.add_model_repo(model_id, folder=folder)
        assert isinstance(self.stores.models, LocalModelSource)
        return self.stores.models.add_model(model_id, folder)

    def submit(self, model_id: str, revision: str, task: str = TINY_TASK, submitter: str = "tester") -> str:
        """Queue a request directly (RequestQueue.submit checks no model), so the worker must do the refusing."""
        precision = self.configs[task].precision.cpu
        return (
            self.queue()
            .submit(model_id, task=task, revision=revision, precision=precision, submitter=submitter)
            .request_id
        )

    def submit_copies(self, count: int, prefix: str = "acme/tiny", task: str = TINY_TASK) -> list[str]:
        """`count` requests, each for its own copy of the tiny model."""
        folder = self.tiny_model(task)
        return [
            self.submit(f"{prefix}-{i:03d}", self.add_model(f"{prefix}-{i:03d}", folder), task) for i in range(count)
        ]

    def worker(self, *extra: str, worker_id: str | None = None) -> subprocess.Popen[str]:
        """A real worker process (`energy-score run`) on this deployment; its log goes to a file under root."""
        args = [sys.executable, "-m", "runner.cli", "run", "--store", self.spec, *WORKER_ARGS, *extra]
        if worker_id:
            args += ["--worker-id", worker_id]
        logs = self.root / "logs"
        logs.mkdir(exist_ok=True)
        log = (logs / f"{worker_id or 'worker'}-{len(list(logs.iterdir()))}.log").open("w")
        return subprocess.Popen(args, cwd=REPO_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, text=True)

    def publish(self) -> list[str]:
        return ResultsPublisher(self.stores.requests, self.stores.results, self.configs).publish_pending()


def _datasets(root: Path, configs: Mapping[str, TaskConfig], tasks: Iterable[str]) -> Path:
    folder = root / "datasets"
    for task in tasks:
        if not (folder / task).exists():
            write_dataset(configs[task].pipeline, folder / task, 4)
    return folder


def local_rig(root: Path, tasks: Sequence[str] = (TINY_TASK,), timeouts: Mapping[str, float] | None = None) -> Rig:
    """An embedded deployment in `root` (local:ROOT) with datasets for `tasks` and a short protocol."""
    configs = load_task_configs()
    config_dir = fast_configs(root / "configs", _datasets(root, configs, tasks), timeouts)
    env = child_env({"ENERGY_SCORE_CONFIGS": str(config_dir)})
    return Rig(root, f"local:{root}", open_stores(f"local:{root}"), load_task_configs(config_dir), env)


def hub_rig(root: Path, hub: FakeHub, org: str = "energy", tasks: Sequence[str] = (TINY_TASK,)) -> Rig:
    """A deployment on a running FakeHub (hub:ORG): requests, results and models all served by it."""
    configs = load_task_configs()
    config_dir = fast_configs(root / "configs", _datasets(root, configs, tasks))
    env = child_env(
        {
            "ENERGY_SCORE_CONFIGS": str(config_dir),
            **hub.env(),
            "HF_HOME": str(root / "hf-home"),
            "ENERGY_SCORE_SPOOL": str(root / "spool"),
        },
        offline=False,
    )
    stores = Stores(
        spec=f"hub:{org}",
        requests=HubStore(f"{org}/requests", endpoint=hub.url, token=hub.token, backoff_s=0.01),
        results=HubStore(f"{org}/results", endpoint=hub.url, token=hub.token, backoff_s=0.01),
        models=HubModelSource(endpoint=hub.url, token=hub.token, cache_dir=root / "hf-cache"),
        is_hub=True,
    )
    return Rig(root, f"hub:{org}", stores, load_task_configs(config_dir), env, hub=hub)


# --- hostile model folders ---------------------------------------------------------------------------------------


class _Trap:
    """Unpickling this touches the marker file: proof that a pickle was loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def trap_pickle(marker: Path) -> bytes:
    return pickle.dumps({"weight": _Trap(marker)})


def trap_module(marker: Path) -> str:
    """Python source that leaves the marker (or $ENERGY_SCORE_TEST_MARKER) when imported."""
    return f"import os\nopen(os.environ.get({MARKER_ENV!r}, {str(marker)!r}), 'w').close()\n"


def _edit_config(folder: Path, **changes: object) -> None:
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **changes}))


def _lying_safetensors(folder: Path) -> None:
    """Rewrite every tensor of model.safetensors to claim a shape a thousand times larger than its bytes."""
    path = folder / "model.safetensors"
    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + size])
    for name, entry in header.items():
        if name != "__metadata__":
            entry["shape"] = [*entry["shape"], 1000]
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + raw[8 + size :])


HOSTILE_KINDS: dict[str, ErrorKind] = {
    "remote_code_config": ErrorKind.REMOTE_CODE,
    "remote_code_tokenizer": ErrorKind.REMOTE_CODE,
    "python_file": ErrorKind.REMOTE_CODE,
    "pickle_only": ErrorKind.UNSAFE_WEIGHTS,
    "lying_header": ErrorKind.UNSAFE_WEIGHTS,
    "malformed_config": ErrorKind.UNSUPPORTED_ARCHITECTURE,
    "enormous_config": ErrorKind.UNSUPPORTED_ARCHITECTURE,
    "implausible_config": ErrorKind.UNSUPPORTED_ARCHITECTURE,
}
"""Each hostile variant of a good model folder and the reason the worker must give when refusing it."""


def hostile_model(good: Path, dest: Path, variant: str, marker: Path) -> Path:
    """A copy of the good model folder made hostile in one way (see HOSTILE_KINDS); `marker` appears if any of
    its code or pickles ever runs."""
    shutil.copytree(good, dest)
    if variant == "remote_code_config":
        _edit_config(dest, auto_map={"AutoModelForSequenceClassification": "modeling_trap.TrapModel"})
    elif variant == "remote_code_tokenizer":
        tokenizer = json.loads((dest / "tokenizer_config.json").read_text())
        tokenizer["auto_map"] = {"AutoTokenizer": ["tokenization_trap.TrapTokenizer", None]}
        (dest / "tokenizer_config.json").write_text(json.dumps(tokenizer))
    elif variant == "python_file":
        (dest / "modeling_trap.py").write_text(trap_module(marker))
    elif variant == "pickle_only":
        (dest / "model.safetensors").unlink()
        (dest / "pytorch_model.bin").write_bytes(trap_pickle(marker))
    elif variant == "lying_header":
        _lying_safetensors(dest)
    elif variant == "malformed_config":
        (dest / "config.json").write_text('{"architectures": ["BertForSequenceClassification"], ')
    elif variant == "enormous_config":
        _edit_config(dest, padding=["x" * 1000] * 1100)
    elif variant == "implausible_config":
        _edit_config(dest, hidden_size=10**7, num_hidden_layers=10**4)
    else:
        raise ValueError(f"unknown hostile variant {variant!r}")
    return dest


# --- processes --------------------------------------------------------------------------------------------------


def benchmark_children(pid: int) -> list[psutil.Process]:
    """The benchmark child processes a worker started (they run in their own sessions)."""
    try:
        return [p for p in psutil.Process(pid).children(recursive=True) if "runner.isolation" in " ".join(p.cmdline())]
    except psutil.Error:
        return []


def kill_hard(process: subprocess.Popen[str]) -> None:
    """SIGKILL a worker and the benchmark children it started, as a machine failure would end them."""
    children = psutil.Process(process.pid).children(recursive=True) if process.poll() is None else []
    process.send_signal(signal.SIGKILL)
    process.wait()
    for child in children:
        try:
            child.kill()
        except psutil.Error:
            continue


def stop_all(processes: Iterable[subprocess.Popen[str]], timeout_s: float = 60) -> None:
    """SIGTERM (a clean stop), then SIGKILL whatever is still running."""
    running = [p for p in processes if p.poll() is None]
    for process in running:
        process.send_signal(signal.SIGTERM)
    for process in running:
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            kill_hard(process)


# --- the audit --------------------------------------------------------------------------------------------------


@dataclass
class Audit:
    """The end state of a deployment against what was submitted.

    lost: submitted requests missing from the queue, or FINISHED without their published result.
    duplicated: requests with more than one published result.
    orphans: published results whose request is not FINISHED with that result.
    """

    statuses: Counter[str]
    failed_by_kind: Counter[str]
    lost: list[str]
    duplicated: list[str]
    orphans: list[str]
    unsettled: list[str]
    results: int

    @property
    def clean(self) -> bool:
        return not (self.lost or self.duplicated or self.orphans or self.unsettled)


def audit(rig: Rig, submitted: Iterable[str]) -> Audit:
    """Publish what waits in the outbox, then compare queue and results store with what was submitted."""
    rig.publish()
    requests = {r.request_id: r for r in rig.queue().list_requests()}
    frame = load_results_frame(rig.stores.results)
    per_request = Counter(frame["request_id"])
    published = dict(zip(frame["result_id"], frame["request_id"], strict=True))
    finished = {rid: r for rid, r in requests.items() if r.status == RequestStatus.FINISHED}
    lost = [rid for rid in submitted if rid not in requests]
    lost += [rid for rid, r in finished.items() if published.get(r.result_id) != rid]
    orphans = [
        result_id for result_id, rid in published.items() if rid not in finished or finished[rid].result_id != result_id
    ]
    return Audit(
        statuses=Counter(r.status.value for r in requests.values()),
        failed_by_kind=Counter(
            r.error_kind.value for r in requests.values() if r.status == RequestStatus.FAILED and r.error_kind
        ),
        lost=sorted(lost),
        duplicated=sorted(rid for rid, count in per_request.items() if count > 1),
        orphans=sorted(orphans),
        unsettled=sorted(
            rid for rid, r in requests.items() if r.status in (RequestStatus.PENDING, RequestStatus.RUNNING)
        ),
        results=len(frame),
    )
