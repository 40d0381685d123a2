"""Quality scoring: the outputs of the benchmark's own queries against the dataset's references, after measuring.

`metrics` holds the metrics (each split into per-sample statistics and an aggregate, so the bootstrap interval
resamples samples cheaply), `squad` the SQuAD answer comparison, `labels` the mapping of a model's label names to
the dataset's, `references` reads the reference columns and `scoring` ties them into a `QualityScore`.
"""
