"""Benchmarks: ``python3 dev.py bench [NAME ...]`` runs benchmarks/<NAME>.py (all by default)."""
