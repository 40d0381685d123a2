"""The benchmark runner: energy meters, the benchmark engine, task implementations and the queue worker."""
