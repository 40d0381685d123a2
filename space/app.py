"""The leaderboard Space: layout and event wiring only; data, plots, texts and submission live beside it.

Run it with `python space/app.py` (or `energy-score serve`); it reads the stores named by `ENERGY_SCORE_STORE`
(default `local:./energy-score-data`) and refreshes from them on a timer without restarting.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

if __package__ in (None, ""):  # run as a script (a Space runs `python app.py`): make the checkout importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gradio as gr

from leaderboard_data.configs import TaskConfig, load_task_configs
from leaderboard_data.stores import Stores, open_stores
from leaderboard_data.submission import submission_window_s
from space import about, carbon, compare, data, overview
from space import columns as C
from space.badges import BadgeSource, add_badge_route
from space.redact import redact_paths
from space.submit import (
    PRECISION_CHOICES,
    SUGGEST_TASK_LABEL,
    handle_submission,
    login_required,
    submitter_name,
)
from space.views import Views

CSS = """
.gradio-container { max-width: 1400px !important; }
#leaderboard-table table { font-size: 0.9rem; }
#leaderboard-table th { min-width: 5.5rem; }  /* an empty column (no GPU figures) keeps a readable header */
.numbers-note { color: #4b5563; font-size: 0.85rem; }
"""
THEME = gr.themes.Soft(primary_hue="green")


def build_app(
    stores: Stores | None = None,
    task_configs: dict[str, TaskConfig] | None = None,
    refresh_s: float = 60,
    source: data.LeaderboardData | None = None,
) -> gr.Blocks:
    """The whole Space as a Blocks app; stores default to `ENERGY_SCORE_STORE`, configs to `configs/`.

    Pass `source` to share the loaded data with the badge route (`launch_app` does).
    """
    stores = stores or (source.stores if source else open_stores(None))
    configs = task_configs or (source.task_configs if source else load_task_configs())
    views = Views(source or data.LeaderboardData(stores, configs))
    snap = views.source.refresh()
    tasks = sorted(configs, key=lambda t: configs[t].title)
    first = data.default_task(snap, tasks)
    hardware_classes = overview.hardware_classes(snap)
    require_login = login_required(stores)

    with gr.Blocks(title="AI Energy Score leaderboard") as demo:
        gr.Markdown(about.TITLE)
        gr.Markdown(about.INTRO)
        with gr.Tabs() as tabs:
            with gr.Tab("Leaderboard", id="leaderboard"):
                task = gr.Radio(data.task_choices(snap, configs, tasks), value=first, label="Task (results)")
                description = gr.Markdown()
                with gr.Row():
                    query = gr.Textbox(label="Search models", placeholder="name or org", scale=2)
                    sizes = gr.CheckboxGroup(label="Size class", choices=[])
                    hardware = gr.Dropdown(label="Hardware", choices=[], multiselect=True)
                    sort_by = gr.Dropdown([c.label for c in C.SORTABLE_COLUMNS], value=C.ENERGY.label, label="Sort by")
                    descending = gr.Checkbox(label="Descending", value=False)
                table = gr.Dataframe(
                    headers=C.labels(C.LEADERBOARD_COLUMNS),
                    datatype=C.datatypes(C.LEADERBOARD_COLUMNS),
                    interactive=False,
                    wrap=True,
                    pinned_columns=2,
                    max_height=600,
                    elem_id="leaderboard-table",
                    label="Click a row to open the model",
                )
                summary = gr.Markdown(elem_classes="numbers-note")
                energy_plot = gr.Plot(label="Energy against model size")
                frontier_plot = gr.Plot(label="Energy against quality", elem_id="frontier-plot")
                shown_models = gr.State([])
            with gr.Tab("Overview", id="overview"):
                gr.Markdown(about.OVERVIEW)
                overview_hardware = gr.Dropdown(
                    hardware_classes, value=hardware_classes[0] if hardware_classes else None, label="Hardware class"
                )
                with gr.Row():
                    with gr.Column(scale=3):
                        overview_plot = gr.Plot(label="Every task on one axis", elem_id="overview-plot")
                    with gr.Column(scale=2):
                        overview_text = gr.Markdown(elem_id="overview-equivalents")
            with gr.Tab("Model", id="model"):
                model = gr.Dropdown(snap.model_ids, value=data.top_model(snap, first), label="Model", filterable=True)
                model_heading = gr.Markdown()
                model_table = gr.Dataframe(
                    headers=C.labels(C.MODEL_COLUMNS),
                    datatype=C.datatypes(C.MODEL_COLUMNS),
                    interactive=False,
                    elem_id="model-table",
                )
                result = gr.Dropdown(label="Result", choices=[])
                result_caption = gr.Markdown(elem_id="result-caption")
                with gr.Row():
                    phases_plot = gr.Plot(label="Energy per phase", elem_id="phases-plot")
                    position_plot = gr.Plot(label="Position in the task")
                with gr.Row():
                    with gr.Column(scale=1):
                        label_image = gr.Image(
                            label="Energy label",
                            show_label=False,
                            type="pil",
                            format="png",
                            height=380,
                            elem_id="energy-label",
                        )
                        label_file = gr.DownloadButton("Download label (PNG)", value=None)
                    with gr.Column(scale=2):
                        gr.Markdown("### Carbon footprint\nThe same energy emits more or less CO2e by grid.")
                        region = gr.Dropdown(carbon.region_choices(), value=carbon.WORLD, label="Grid region")
                        carbon_text = gr.Markdown()
                gr.Markdown("### Badge for the model card")
                badge_preview = gr.Markdown(elem_id="badge-preview")
                badge_snippet = gr.Textbox(
                    label="Markdown to paste into the model card", buttons=["copy"], elem_id="badge-snippet"
                )
            with gr.Tab("Compare", id="compare"):
                gr.Markdown(about.COMPARE)
                with gr.Row():
                    compare_task = gr.Dropdown([(configs[t].title, t) for t in tasks], value=first, label="Task")
                    compare_picks = gr.Dropdown(
                        compare.choices(snap, first),
                        value=[v for _, v in compare.choices(snap, first)[: compare.MIN_PICK]],
                        multiselect=True,
                        max_choices=compare.MAX_PICK,
                        allow_custom_value=True,  # the API may compare any result ids; unknown ones are skipped
                        label=f"Results ({compare.MIN_PICK} to {compare.MAX_PICK})",
                        scale=3,
                    )
                compare_verdict = gr.Markdown(elem_id="compare-verdict")
                compare_table = gr.Dataframe(
                    headers=C.labels(compare.COMPARE_COLUMNS),
                    datatype=C.datatypes(compare.COMPARE_COLUMNS),
                    interactive=False,
                    wrap=True,
                    elem_id="compare-table",
                )
                with gr.Row():
                    compare_phases = gr.Plot(label="Phases")
                    compare_intervals = gr.Plot(label="Intervals")
            with gr.Tab("Queue", id="queue"):
                queue_table = gr.Dataframe(
                    headers=C.labels(C.QUEUE_COLUMNS), datatype=C.datatypes(C.QUEUE_COLUMNS), interactive=False
                )
                queue_refresh = gr.Button("Refresh queue", size="sm")
            with gr.Tab("Submit", id="submit"):
                gr.Markdown(about.SUBMIT_HELP)
                gr.Markdown(about.submit_window_note(submission_window_s(stores)))
                if require_login:
                    gr.LoginButton()
                with gr.Row():
                    submit_model = gr.Textbox(label="Model id", placeholder="org/name")
                    submit_task = gr.Dropdown(
                        [(SUGGEST_TASK_LABEL, "")] + [(configs[t].title, t) for t in tasks],
                        value="",
                        label="Task",
                    )
                    submit_precision = gr.Dropdown(
                        list(PRECISION_CHOICES), value=PRECISION_CHOICES[0], label="Precision"
                    )
                submit_button = gr.Button("Submit", variant="primary")
                submit_answer = gr.Markdown()
            with gr.Tab("About", id="about"):
                gr.Markdown(about.METHOD)
                gr.Markdown(about.BADGES)
                stars_text = gr.Markdown()
                gr.Markdown(about.configs_markdown(configs))
                gr.Markdown(about.dataset_snippet(stores.results.location, first))

        board_inputs = [task, query, sizes, hardware, sort_by, descending]
        board_outputs = [table, energy_plot, summary, shown_models]

        def refresh_all(*args: Any) -> tuple[Any, ...]:
            snapshot = views.source.refresh()
            board = views.leaderboard(*args)
            choices = gr.update(choices=snapshot.model_ids)
            task_labels = gr.update(choices=data.task_choices(snapshot, configs, tasks))
            return (*board, views.queue(), choices, views.about(), task_labels)

        refresh_outputs = [*board_outputs, queue_table, model, stars_text, task]
        demo.load(refresh_all, board_inputs, refresh_outputs, api_name="refresh")
        demo.load(views.filters, task, [sizes, hardware, description], api_visibility="private")
        demo.load(views.frontier, task, frontier_plot, api_visibility="private")
        task.change(views.frontier, task, frontier_plot, api_name="frontier", show_progress="hidden")
        if refresh_s > 0:
            gr.Timer(refresh_s).tick(
                refresh_all, board_inputs, refresh_outputs, api_visibility="private", show_progress="hidden"
            )

        # Named endpoints first: a private listener of the same function would otherwise take the name.
        sort_by.change(views.leaderboard, board_inputs, board_outputs, api_name="leaderboard", show_progress="hidden")
        task.input(views.filters, task, [sizes, hardware, description], api_visibility="private").then(
            views.leaderboard, board_inputs, board_outputs, api_visibility="private"
        )
        for control in (query, sizes, hardware, descending):
            control.change(
                views.leaderboard, board_inputs, board_outputs, api_visibility="private", show_progress="hidden"
            )

        def open_row(ids: list[str], event: gr.SelectData) -> tuple[Any, Any]:
            row = event.index[0] if isinstance(event.index, (list, tuple)) else event.index
            if not isinstance(row, int) or row >= len(ids):
                return gr.update(), gr.update()
            return gr.update(value=ids[row]), gr.Tabs(selected="model")

        model_outputs = [model_table, result, model_heading]
        result_outputs = [phases_plot, position_plot, label_image, label_file, result_caption]
        badge_outputs = [badge_preview, badge_snippet]

        def show_model(event: Any) -> None:
            """After `event` set the model: its table, then its first result's figures, footprint and badge."""
            event.then(views.result, result, result_outputs, api_visibility="private").then(
                views.carbon, [result, region], carbon_text, api_visibility="private"
            ).then(views.badge, result, badge_outputs, api_visibility="private")

        region.input(views.carbon, [result, region], carbon_text, api_name="carbon")
        result.input(views.result, result, result_outputs, api_name="result").then(
            views.carbon, [result, region], carbon_text, api_visibility="private"
        ).then(views.badge, result, badge_outputs, api_visibility="private")
        show_model(model.input(views.model, model, model_outputs, api_name="model"))
        # The initial selection is rendered on page load, without a click.
        show_model(demo.load(views.model, model, model_outputs, api_visibility="private"))
        # A programmatic change of `model` (a click in the table) fires no input event, so the chain is repeated.
        show_model(
            table.select(open_row, shown_models, [model, tabs], api_visibility="private").then(
                views.model, model, model_outputs, api_visibility="private"
            )
        )
        queue_refresh.click(views.queue, None, queue_table, api_name="queue")

        overview_outputs = [overview_plot, overview_text]
        overview_hardware.input(views.overview, overview_hardware, overview_outputs, api_name="overview")
        demo.load(views.overview, overview_hardware, overview_outputs, api_visibility="private")

        compare_outputs = [compare_verdict, compare_table, compare_phases, compare_intervals]
        compare_picks.change(views.compare, compare_picks, compare_outputs, api_name="compare")
        demo.load(views.compare, compare_picks, compare_outputs, api_visibility="private")
        compare_task.input(views.compare_choices, compare_task, compare_picks, api_visibility="private")

        submit_inputs = [submit_model, submit_task, submit_precision]
        if require_login:

            def submit(model_id: str, task_name: str, precision: str, profile: gr.OAuthProfile | None) -> str:
                who = submitter_name(profile.username if profile else None, require_login=True)
                return redact_paths(handle_submission(stores, configs, model_id, task_name, precision, who))

        else:

            def submit(model_id: str, task_name: str, precision: str) -> str:  # type: ignore[misc]
                who = submitter_name(None, require_login=False)
                return redact_paths(handle_submission(stores, configs, model_id, task_name, precision, who))

        submit_button.click(submit, submit_inputs, submit_answer, api_name="submit").then(
            views.queue, None, queue_table, api_visibility="private"
        )
    return demo


def launch_app(
    stores: Stores | None = None,
    host: str = "127.0.0.1",
    port: int = 7860,
    block: bool = True,
    task_configs: dict[str, TaskConfig] | None = None,
    refresh_s: float = 60,
) -> gr.Blocks:
    """Build and launch the app with its badge route; with `block=False` it serves from a thread and returns."""
    source = data.LeaderboardData(stores or open_stores(None), task_configs or load_task_configs())
    demo = build_app(refresh_s=refresh_s, source=source)
    demo.launch(
        server_name=host,
        server_port=port,
        prevent_thread_lock=True,
        theme=THEME,
        css=CSS,
        ssr_mode=False,
    )
    add_badge_route(demo.app, BadgeSource(source))
    if block:
        demo.block_thread()
    return demo


def main() -> None:
    """Entry point of the Space and of `python space/app.py`: host and port from GRADIO_SERVER_NAME/PORT."""
    host = os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1")
    port = int(os.environ.get("GRADIO_SERVER_PORT", "7860"))
    launch_app(open_stores(None), host=host, port=port, block=True)


if __name__ == "__main__":
    main()
