"""Reports for the PACS team: the weekly picture (node uptime and latency, tickets, knowledge
gaps, training) as figures, one PNG chart, CSVs and a short text summary.

Reads the other features' records and changes nothing. No Slack here: ``bot/features/report.py``
posts the result, ``bot/cli/report.py`` writes it to files.
"""
