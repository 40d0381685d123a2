"""The launched Space, driven through gradio_client on 127.0.0.1: leaderboard, model view, submit, queue."""

from __future__ import annotations

import httpx
import pytest
from gradio_client import Client

from leaderboard_data.configs import load_task_configs
from leaderboard_data.queue import RequestQueue
from space import columns as C
from space.app import build_app
from tests.helpers_results import make_result, make_results
from tests.helpers_space import add_tiny_bert, free_port, local_stores, publish

TASKS = ("text_generation", "image_classification", "text_classification")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("space-app")
    stores = local_stores(root)
    configs = load_task_configs()
    publish(stores, make_results(40, 7, TASKS), configs)
    add_tiny_bert(root, "acme/tiny-bert")
    demo = build_app(stores, configs, refresh_s=0)
    port = free_port()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=port, ssr_mode=False)
    try:
        yield stores, configs, Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=False)
    finally:
        demo.close()


def _leaderboard(client: Client, task: str, query: str = "") -> dict:
    table, _figure, _summary = client.predict(task, query, [], [], C.ENERGY.label, False, api_name="/leaderboard")
    return table


def test_leaderboard_endpoint_returns_the_task(served):
    _stores, _, client = served
    table = _leaderboard(client, "text_generation")
    assert table["headers"] == C.labels(C.LEADERBOARD_COLUMNS)
    energy = table["headers"].index(C.ENERGY.label)
    values = [row[energy] for row in table["data"]]
    assert len(values) == 14 and values == sorted(values)
    empty = _leaderboard(client, "image_generation")
    assert not any("huggingface.co" in str(cell) for row in empty["data"] for cell in row)


def test_model_and_result_endpoints(served):
    _, _, client = served
    table = _leaderboard(client, "image_classification")
    model_cell = table["data"][0][table["headers"].index(C.MODEL.label)]
    model_id = model_cell[1 : model_cell.index("](")].replace("\\", "")
    figures, result_choice, _heading = client.predict(model_id, api_name="/model")
    assert figures["data"][0][0] == "Image classification"
    result_id = result_choice["value"]
    _phases, _position, _image, label_path, caption = client.predict(result_id, api_name="/result")
    assert label_path["orig_name"] == f"energy-label-{result_id}.png"
    png = httpx.get(label_path["url"], timeout=30).content
    assert png.startswith(b"\x89PNG")
    assert "Wh per 1,000 queries" in caption
    text = client.predict(result_id, "country:FRA", api_name="/carbon")
    assert "g CO2e per 1,000 queries" in text and "France" in text


def test_submit_then_duplicate_then_queue(served):
    stores, configs, client = served
    accepted = client.predict("acme/tiny-bert", "text_classification", "task default", api_name="/submit")
    assert accepted.startswith("**Queued**") and "#1 in the queue" in accepted
    request = RequestQueue(stores.requests, configs).list_requests()[0]
    assert request.request_id in accepted and request.model_id == "acme/tiny-bert"
    duplicate = client.predict("acme/tiny-bert", "text_classification", "task default", api_name="/submit")
    assert "already requested" in duplicate and request.request_id in duplicate
    queue = client.predict(api_name="/queue")
    row = next(r for r in queue["data"] if r[queue["headers"].index(C.Q_REQUEST_ID.label)] == request.request_id)
    assert row[queue["headers"].index(C.Q_STATUS.label)] == "PENDING"
    assert row[queue["headers"].index(C.Q_DETAIL.label)] == "#1 in the queue"


def test_hostile_model_id_is_refused_and_escaped(served):
    _, _, client = served
    answer = client.predict("<script>alert(1)</script>", "text_classification", "float32", api_name="/submit")
    assert answer.startswith("**Not queued:**") and "<script>" not in answer and "&lt;script&gt;" in answer


def test_new_results_show_after_refresh(served):
    stores, configs, client = served
    publish(stores, [make_result(model_id="late/arrival", task="text_classification")], configs)
    client.predict("text_classification", "", [], [], C.ENERGY.label, False, api_name="/refresh")
    table = _leaderboard(client, "text_classification", query="late/")
    assert len(table["data"]) == 1 and "late/arrival" in table["data"][0][1]
