"""The reference columns of a task's dataset, read after the measurement (the dataset is cached by then)."""

from __future__ import annotations

from typing import Any

from leaderboard_data.configs import DatasetSource


class NoReferences(Exception):
    """The dataset cannot be scored: the message says why (e.g. it has no label column)."""


def read_references(
    dataset_path: str, source: DatasetSource, columns: dict[str, str], rows: int
) -> list[dict[str, Any]]:
    """The first `rows` rows' reference values, keyed by role; class labels as their names.

    Raises NoReferences when the dataset lacks a reference column.
    """
    import datasets

    try:
        dataset = datasets.load_dataset(dataset_path, source.name, split=source.split)
    except Exception as exc:  # datasets raises many unrelated types for a missing or malformed dataset
        raise NoReferences(f"cannot read the dataset's references: {exc}") from exc
    missing = sorted(set(columns.values()) - set(dataset.column_names))
    if missing:
        raise NoReferences(
            f"the dataset has no reference column {', '.join(missing)} (it has {', '.join(dataset.column_names)})"
        )
    subset = dataset.select_columns(sorted(set(columns.values()))).select(range(min(rows, len(dataset))))
    names = {
        column: feature.names for column, feature in subset.features.items() if isinstance(feature, datasets.ClassLabel)
    }
    references = []
    for row in subset:
        references.append(
            {role: names[column][row[column]] if column in names else row[column] for role, column in columns.items()}
        )
    return references
