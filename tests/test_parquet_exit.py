"""A short command that reads published results and exits at once must exit cleanly.

pyarrow 26's threaded parquet reader aborted such processes ("terminate called without an active exception") in
most runs; the data layer reads on the calling thread. Several runs, since the abort was a race at exit."""

from __future__ import annotations

import subprocess
import sys

from leaderboard_data.configs import load_task_configs
from tests.helpers_results import make_results
from tests.helpers_space import local_stores, publish

SCRIPT = """
import sys
from leaderboard_data.results import load_result_records
from leaderboard_data.stores import open_stores
stores = open_stores(sys.argv[1])
assert load_result_records(stores.results)
sys.exit(2)
"""


def test_reading_results_then_exiting_at_once_never_aborts(tmp_path):
    stores = local_stores(tmp_path)
    publish(stores, make_results(6, 2, ("text_classification",)), load_task_configs())
    codes = [
        subprocess.run([sys.executable, "-c", SCRIPT, f"local:{tmp_path}"], capture_output=True, timeout=120).returncode
        for _ in range(8)
    ]
    assert codes == [2] * 8
