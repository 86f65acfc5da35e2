"""Training: markdown modules with quizzes, assignments, attempts, completion records.

Knows nothing of Slack; ``bot`` adapts it to Slack and to the command line.
"""
