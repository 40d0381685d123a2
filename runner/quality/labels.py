"""Mapping a classifier's label names to the dataset's labels, by name; no mapping, no quality figure."""

from __future__ import annotations

from collections.abc import Iterable

from runner.quality.metrics import normalize_label


def unmapped_labels(model_labels: Iterable[str], dataset_labels: Iterable[str]) -> str | None:
    """Why the model's labels cannot be compared with the dataset's, or None when every dataset label is one of
    the model's (by name: case and separators aside). A model with generic names (LABEL_0...) cannot be mapped."""
    model = {normalize_label(name) for name in model_labels}
    wanted = {normalize_label(name) for name in dataset_labels}
    missing = sorted(wanted - model)
    if not missing:
        return None
    shown = ", ".join(sorted(model)[:6]) + (", ..." if len(model) > 6 else "")
    return (
        f"the model's labels ({shown}) do not name the dataset's label(s) {', '.join(missing[:6])}: "
        "no quality figure without a mapping by name"
    )
