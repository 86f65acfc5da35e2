"""Answers from the manuals: markdown manuals -> sections -> search index -> answers.

Knows nothing of Slack; ``bot`` adapts it to Slack and to the command line.
"""
