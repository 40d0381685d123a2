"""The data layer shared by the runner and the Space: schemas, stores, queue, results and ratings."""
