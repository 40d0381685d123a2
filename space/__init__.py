"""The Gradio leaderboard Space: browse results, submit models, see the queue."""
