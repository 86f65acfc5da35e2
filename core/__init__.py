"""Slack-free building blocks shared by every package: errors, clock, database types, config base.

The dependency order is ``bot`` -> features (``commands``, ``knowledge``, ``tickets``,
``training``) -> ``core`` -> libraries. ``core`` imports nothing from the project.
"""
