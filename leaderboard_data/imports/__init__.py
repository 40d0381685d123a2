"""Results measured by other tools, read into this leaderboard's records (see `optimum_benchmark`)."""
