"""Safe, read-only DICOM diagnostics: node registry, C-ECHO, C-FIND locate and compare.

Knows nothing of Slack; ``bot`` adapts it to Slack and to the command line.
"""
