"""The launched Space, driven through gradio_client and HTTP on 127.0.0.1: leaderboard, model view, overview,
compare, badges, submit, queue."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import httpx
import pytest
from gradio_client import Client

from leaderboard_data.configs import load_task_configs
from leaderboard_data.queue import RequestQueue
from leaderboard_data.results import load_results_frame
from space import columns as C
from space.app import launch_app
from space.compare import COMPARE_COLUMNS
from tests.helpers_results import make_result, make_results
from tests.helpers_space import add_tiny_bert, free_port, local_stores, publish

TASKS = ("text_generation", "image_classification", "text_classification")
HOSTILE = "evil/<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("space-app")
    stores = local_stores(root)
    configs = load_task_configs()
    results = make_results(40, 7, TASKS)
    results.append(make_result(model_id=HOSTILE, task="image_classification", scored_energy_wh_per_1k=0.01))
    publish(stores, results, configs)
    add_tiny_bert(root, "acme/tiny-bert")
    add_tiny_bert(root, "acme/tiny-bert-suggested")
    port = free_port()
    demo = launch_app(stores, port=port, block=False, task_configs=configs, refresh_s=0)
    url = f"http://127.0.0.1:{port}"
    try:
        yield stores, configs, Client(f"{url}/", verbose=False, download_files=False), url
    finally:
        demo.close()


def _leaderboard(client: Client, task: str, query: str = "") -> dict:
    table, _figure, _summary = client.predict(task, query, [], [], C.ENERGY.label, False, api_name="/leaderboard")
    return table


def test_leaderboard_endpoint_returns_the_task(served):
    _stores, _, client, _url = served
    table = _leaderboard(client, "text_generation")
    assert table["headers"] == C.labels(C.LEADERBOARD_COLUMNS)
    energy = table["headers"].index(C.ENERGY.label)
    values = [row[energy] for row in table["data"]]
    assert len(values) == 14 and values == sorted(values)
    empty = _leaderboard(client, "image_generation")
    assert not any("huggingface.co" in str(cell) for row in empty["data"] for cell in row)


def test_model_and_result_endpoints(served):
    _, _, client, _url = served
    table = _leaderboard(client, "image_classification")
    model_cell = table["data"][1][table["headers"].index(C.MODEL.label)]  # row 0 is the hostile id
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
    stores, configs, client, _url = served
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


def test_submit_without_a_task_takes_the_suggested_one(served):
    stores, configs, client, _url = served
    answer = client.predict("acme/tiny-bert-suggested", "", "task default", api_name="/submit")
    assert answer.startswith("**Queued**")
    request = next(
        r for r in RequestQueue(stores.requests, configs).list_requests() if r.model_id == "acme/tiny-bert-suggested"
    )
    assert request.task == "text_classification"


def test_hostile_model_id_is_refused_and_escaped(served):
    _, _, client, _url = served
    answer = client.predict("<script>alert(1)</script>", "text_classification", "float32", api_name="/submit")
    assert answer.startswith("**Not queued:**") and "<script>" not in answer and "&lt;script&gt;" in answer


def test_new_results_show_after_refresh(served):
    stores, configs, client, _url = served
    publish(stores, [make_result(model_id="late/arrival", task="text_classification")], configs)
    client.predict("text_classification", "", [], [], C.ENERGY.label, False, api_name="/refresh")
    table = _leaderboard(client, "text_classification", query="late/")
    assert len(table["data"]) == 1 and "late/arrival" in table["data"][0][1]


def test_submission_errors_name_no_server_path(served):
    stores, _, client, _url = served
    answer = client.predict("acme/not-there", "text_classification", "float32", api_name="/submit")
    assert answer.startswith("**Not queued:**")
    root = str(stores.models.models_root)
    assert root not in answer and "/models" not in answer and "/tmp" not in answer


def test_overview_endpoint_names_every_task(served):
    _, configs, client, _url = served
    figure, text = client.predict("nvidia-h100-80gb", api_name="/overview")
    assert "smartphone charges" in text and "Power Hungry Processing" in text
    assert "No results on this hardware yet:** Automatic speech recognition" in text
    assert all(config.title.split(" (")[0] in str(figure) for config in configs.values())


def test_compare_endpoint(served):
    stores, _, client, _url = served
    ids = load_results_frame(stores.results, "text_generation")["result_id"].tolist()[:3]
    verdict, table, _phases, _intervals = client.predict(ids, api_name="/compare")
    assert len(table["data"]) == 3 and table["headers"] == C.labels(COMPARE_COLUMNS)
    pairs = [line for line in verdict.splitlines() if line.startswith("| org")]
    assert len(pairs) == 3 and all("distinguishable at 95 %" in line for line in pairs)


def _badge_texts(svg: str) -> list[str]:
    root = ET.fromstring(svg)
    return [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text")]


def test_badge_url_serves_the_leaderboards_figures(served):
    _, _, client, url = served
    table = _leaderboard(client, "image_classification")
    headers = table["headers"]
    rated = [r for r in table["data"][1:] if "★" in r[headers.index(C.RATING.label)]]
    unrated = [r for r in table["data"][1:] if "★" not in r[headers.index(C.RATING.label)]]
    assert rated and unrated
    for row in (rated[0], unrated[0]):
        _check_badge(url, headers, row)
    missing = httpx.get(f"{url}/badge/nobody/none/image_classification.svg", timeout=30)
    assert missing.status_code == 404 and missing.headers["content-type"] == "image/svg+xml"
    assert "no result" in missing.text


def _check_badge(url: str, headers: list[str], row: list) -> None:
    model_cell = row[headers.index(C.MODEL.label)]
    model_id = model_cell[1 : model_cell.index("](")].replace("\\", "")
    response = httpx.get(f"{url}/badge/{model_id}/image_classification.svg", timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    assert "script-src" not in response.headers["content-security-policy"]  # default-src 'none' forbids scripts
    value = _badge_texts(response.text)[-1]
    stars = row[headers.index(C.RATING.label)]
    energy = float(row[headers.index(C.ENERGY.label)])
    rating = f"{stars.count('★')}/5" if "★" in stars else "not rated (too few peers)"
    assert value.startswith(f"{rating} · {energy:.3g} Wh/1k")
    assert value.endswith(f"image classification · {row[headers.index(C.HARDWARE.label)].split(' (')[0]}")


def test_hostile_model_id_stays_text_in_its_badge(served):
    _, _, _client, url = served
    quoted = "evil/%3Cimg%20src=x%20onerror=alert(1)%3E"
    response = httpx.get(f"{url}/badge/{quoted}/image_classification.svg", timeout=30)
    assert response.status_code == 200
    root = ET.fromstring(response.text)
    assert HOSTILE in root.find("{http://www.w3.org/2000/svg}title").text
    assert "<img" not in response.text and not list(root.iter("{http://www.w3.org/2000/svg}img"))
